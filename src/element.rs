//! The element types pooling accepts, and which way a window's winner is
//! chosen.

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
}

macro_rules! float_element {
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
        }
    )*};
}

float_element!(f32, f64);
integer_element!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

#[cfg(feature = "half")]
float_element!(half::f16, half::bf16);

/// Which cell of a window wins: the largest (max pooling) or the smallest
/// (min pooling). NaN always wins, and of several NaN the last.
pub(crate) trait Extremum: Send + Sync + 'static {
    /// Whether `candidate`, coming after `best` in window order, replaces it.
    fn wins<T: PoolElement>(candidate: T, best: T) -> bool;
}

pub(crate) struct Largest;

pub(crate) struct Smallest;

impl Extremum for Largest {
    #[inline(always)]
    fn wins<T: PoolElement>(candidate: T, best: T) -> bool {
        candidate > best || candidate.is_nan()
    }
}

impl Extremum for Smallest {
    #[inline(always)]
    fn wins<T: PoolElement>(candidate: T, best: T) -> bool {
        candidate < best || candidate.is_nan()
    }
}
