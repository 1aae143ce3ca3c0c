//! The element types pooling accepts, and which way a window's winner is
//! chosen.

use ndarray::{Array4, ArrayRef, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::layout::new_array;

/// An element type that max and min pooling accept: floats, and integers for
/// images (`u8`, `i8`, `i32`, …); with the `half` feature also `f16` and
/// `bf16`.
///
/// Only comparisons are needed; NaN, where the type has it, wins every
/// window it is in.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_pool2d_without_indices, min_pool2d_without_indices, PoolError, Window2d};
///
/// let image = array![[[[12u8, 200], [7, 90]]]];
/// assert_eq!(max_pool2d_without_indices(&image, &Window2d::new(2, 2))?, array![[[[200u8]]]]);
/// assert_eq!(min_pool2d_without_indices(&image, &Window2d::new(2, 2))?, array![[[[7u8]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub trait PoolElement: Copy + PartialOrd + num_traits::Zero + Send + Sync + 'static {
    /// Whether the value is NaN (never, for integers).
    fn is_nan(self) -> bool;

    /// `probe` with `value` seen: NaN if either is NaN, and perhaps
    /// otherwise (never for integers). Kernels that track NaN lane by lane
    /// start a probe at a lane's first value, fold in the rest, and redo
    /// the lane exactly when its probe is NaN.
    #[doc(hidden)]
    #[inline(always)]
    fn probe_nan(probe: Self, value: Self) -> Self {
        if value.is_nan() { value } else { probe }
    }
}

macro_rules! float_element {
    ($($t:ty),*) => {$(
        impl PoolElement for $t {
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }

            /// The sum, one vector add: NaN when a value is, or when
            /// infinities of both signs meet.
            #[inline(always)]
            fn probe_nan(probe: Self, value: Self) -> Self {
                probe + value
            }
        }
    )*};
}

#[cfg(feature = "half")]
macro_rules! half_element {
    ($($t:ty),*) => {$(
        impl PoolElement for $t {
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    )*};
}

macro_rules! integer_element {
    ($($t:ty),*) => {$(
        impl PoolElement for $t {
            #[inline(always)]
            fn is_nan(self) -> bool {
                false
            }

            #[inline(always)]
            fn probe_nan(probe: Self, _: Self) -> Self {
                probe
            }
        }
    )*};
}

float_element!(f32, f64);
integer_element!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

#[cfg(feature = "half")]
half_element!(half::f16, half::bf16);

/// Which cell of a window wins: the largest (max pooling) or the smallest
/// (min pooling). NaN always wins, and of several NaN the last.
pub(crate) trait Extremum: Send + Sync + 'static {
    /// Whether `candidate`, coming after `best` in window order, replaces it.
    fn wins<T: PoolElement>(candidate: T, best: T) -> bool;

    /// [`wins`](Self::wins) for windows without NaN: a plain comparison,
    /// which compiles to one vector max or min.
    fn beats<T: PoolElement>(candidate: T, best: T) -> bool;
}

pub(crate) struct Largest;

pub(crate) struct Smallest;

impl Extremum for Largest {
    #[inline(always)]
    fn wins<T: PoolElement>(candidate: T, best: T) -> bool {
        candidate > best || candidate.is_nan()
    }

    #[inline(always)]
    fn beats<T: PoolElement>(candidate: T, best: T) -> bool {
        candidate > best
    }
}

impl Extremum for Smallest {
    #[inline(always)]
    fn wins<T: PoolElement>(candidate: T, best: T) -> bool {
        candidate < best || candidate.is_nan()
    }

    #[inline(always)]
    fn beats<T: PoolElement>(candidate: T, best: T) -> bool {
        candidate < best
    }
}

/// A float type that mean and LP pooling accept. Sums are accumulated in
/// [`Acc`](Self::Acc): the type itself for `f32` and `f64`, `f32` for the
/// `half` feature's `f16` and `bf16`.
///
/// # Examples
///
/// ```
/// use ndarray_pooling::MeanElement;
///
/// fn accumulator<T: MeanElement>() -> &'static str {
///     std::any::type_name::<T::Acc>()
/// }
/// assert_eq!(accumulator::<f32>(), "f32");
/// ```
pub trait MeanElement: Float + Send + Sync + 'static {
    /// The type sums are accumulated in.
    type Acc: Float + Send + Sync + 'static;

    /// Runs `f` on `inputs` and `out` in the accumulator type: directly when
    /// it is `Self`, else on widened copies, rounding the result into `out`.
    #[doc(hidden)]
    fn in_accumulator<R>(
        inputs: &[&ArrayRef<Self, Ix4>],
        out: &mut ArrayRef<Self, Ix4>,
        f: impl FnOnce(
            &[&ArrayRef<Self::Acc, Ix4>],
            &mut ArrayRef<Self::Acc, Ix4>,
        ) -> Result<R, PoolError>,
    ) -> Result<R, PoolError>;

    /// A new array of `shape` whose cells `f` pushes onto a vector, in the
    /// accumulator type: directly when it is `Self`, else from widened
    /// copies of `inputs`, rounding the result.
    #[doc(hidden)]
    fn new_in_accumulator(
        inputs: &[&ArrayRef<Self, Ix4>],
        shape: [usize; 4],
        f: impl FnOnce(&[&ArrayRef<Self::Acc, Ix4>], &mut Vec<Self::Acc>),
    ) -> Array4<Self>;
}

macro_rules! native_mean {
    ($($t:ty),*) => {$(
        impl MeanElement for $t {
            type Acc = $t;

            fn in_accumulator<R>(
                inputs: &[&ArrayRef<$t, Ix4>],
                out: &mut ArrayRef<$t, Ix4>,
                f: impl FnOnce(&[&ArrayRef<$t, Ix4>], &mut ArrayRef<$t, Ix4>) -> Result<R, PoolError>,
            ) -> Result<R, PoolError> {
                f(inputs, out)
            }

            fn new_in_accumulator(
                inputs: &[&ArrayRef<$t, Ix4>],
                shape: [usize; 4],
                f: impl FnOnce(&[&ArrayRef<$t, Ix4>], &mut Vec<$t>),
            ) -> Array4<$t> {
                new_array(shape, |cells| f(inputs, cells))
            }
        }
    )*};
}
native_mean!(f32, f64);

#[cfg(feature = "half")]
macro_rules! half_mean {
    ($($t:ty),*) => {$(
        impl MeanElement for $t {
            type Acc = f32;

            fn in_accumulator<R>(
                inputs: &[&ArrayRef<$t, Ix4>],
                out: &mut ArrayRef<$t, Ix4>,
                f: impl FnOnce(&[&ArrayRef<f32, Ix4>], &mut ArrayRef<f32, Ix4>) -> Result<R, PoolError>,
            ) -> Result<R, PoolError> {
                let wide: Vec<Array4<f32>> = inputs.iter().map(|x| x.mapv(<$t>::to_f32)).collect();
                let wide_refs: Vec<&ArrayRef<f32, Ix4>> = wide.iter().map(|x| &**x).collect();
                let mut wide_out = Array4::zeros(out.raw_dim());
                let result = f(&wide_refs, &mut wide_out)?;
                out.zip_mut_with(&wide_out, |o, &w| *o = <$t>::from_f32(w));
                Ok(result)
            }

            fn new_in_accumulator(
                inputs: &[&ArrayRef<$t, Ix4>],
                shape: [usize; 4],
                f: impl FnOnce(&[&ArrayRef<f32, Ix4>], &mut Vec<f32>),
            ) -> Array4<$t> {
                let wide: Vec<Array4<f32>> = inputs.iter().map(|x| x.mapv(<$t>::to_f32)).collect();
                let wide_refs: Vec<&ArrayRef<f32, Ix4>> = wide.iter().map(|x| &**x).collect();
                new_array(shape, |cells| f(&wide_refs, cells)).mapv(<$t>::from_f32)
            }
        }
    )*};
}
#[cfg(feature = "half")]
half_mean!(half::f16, half::bf16);
