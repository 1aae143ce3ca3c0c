//! The stateful layer: [`Pool2d`] remembers what backward needs and delegates
//! to the stateless functions.

use std::num::NonZeroUsize;

use ndarray::{Array, Array4, ArrayRef, Dimension, Ix4};

use crate::element::{MeanElement, PoolElement};
use crate::geometry::{MeanDivisor, Padding, Size2d, Window2d};
use crate::layout::{as_nchw, from_nchw, shape4};
use std::any::Any;
use std::sync::Arc;

use crate::element::{Largest, Smallest};
use crate::lp::{check_power, lp_backward_plan_into, lp_plan_into};
use crate::max::extreme_into;
use crate::{
    Argmax, PoolError, lp_pool2d, max_pool2d_backward_argmax_into, max_pool2d_without_indices,
    mean_pool2d, mean_pool2d_backward_into, mean_pool2d_into, min_pool2d_without_indices,
};

/// What a pooling window computes.
///
/// # Examples
///
/// ```
/// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
///
/// let pool = Pool2d::new(PoolMode::Mean, 2, 2)?;
/// assert_eq!(pool.mode(), PoolMode::Mean);
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum PoolMode {
    /// The largest value of the window; forward records its argmax.
    Max,
    /// The mean of the window (see [`MeanDivisor`] for what it divides by).
    Mean,
    /// The smallest value of the window; forward records its argmin, and
    /// backward sends each delta there. Min pooling of `x` is
    /// `-max_pool(-x)`.
    Min,
    /// Power-average pooling, `(Σ |x|ᵖ)^(1/p)`, with `p` finite and positive
    /// (see [`lp_pool2d`](crate::lp_pool2d)). Forward keeps a copy of its
    /// input for backward.
    Lp(f64),
}

/// What the last forward left for backward.
#[derive(Clone)]
struct Tape {
    input_shape: [usize; 4],
    output_shape: [usize; 4],
    /// The window used, resolved against the input for global pooling.
    window: Window2d,
    /// The argmax, for a max or min forward.
    argmax: Option<Argmax>,
    /// The input, for an LP forward: an `Array4<T>` of the forward's `T`.
    input: Option<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tape")
            .field("input_shape", &self.input_shape)
            .field("output_shape", &self.output_shape)
            .field("window", &self.window)
            .field("argmax", &self.argmax)
            .field("keeps_input", &self.input.is_some())
            .finish()
    }
}

/// A 2-D pooling layer over NCHW arrays.
///
/// `forward` pools and remembers what `backward` needs: the input shape, and
/// for max pooling the argmax of every window. The layer has no parameters;
/// backward only passes deltas on. All arithmetic is done by the stateless
/// functions ([`max_pool2d`](crate::max_pool2d), [`mean_pool2d`](crate::mean_pool2d) and their backward
/// counterparts), which a framework that keeps its own tape can call
/// directly.
///
/// # Examples
///
/// ```
/// use ndarray::{array, Array4};
/// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
///
/// let mut pool = Pool2d::new(PoolMode::Max, 2, 2)?;
/// let x: Array4<f64> = array![[[[1., 3.], [4., 2.]]]];
/// assert_eq!(pool.forward(&x)?, array![[[[4.]]]]);
/// assert_eq!(pool.backward(&array![[[[5.]]]])?, array![[[[0., 0.], [5., 0.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pool2d {
    mode: PoolMode,
    window: Window2d,
    divisor: MeanDivisor,
    /// Whether the window is the whole input plane, resolved at forward.
    global: bool,
    tape: Option<Tape>,
}

impl Pool2d {
    /// A layer with window `size` moving by `stride`, no padding, no
    /// dilation, floor mode; a `usize` means a square, `(height, width)`
    /// a rectangle.
    ///
    /// # Errors
    ///
    /// [`PoolError::ZeroParameter`] if `size` or `stride` has a zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
    ///
    /// let pool = Pool2d::new(PoolMode::Max, (3, 2), 1)?;
    /// assert_eq!(pool.output_shape([1, 1, 5, 5])?, [1, 1, 3, 4]);
    /// assert!(Pool2d::new(PoolMode::Max, 2, 0).is_err());
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn new(
        mode: PoolMode,
        size: impl Into<Size2d>,
        stride: impl Into<Size2d>,
    ) -> Result<Self, PoolError> {
        Pool2d::builder(mode).size(size).stride(stride).build()
    }

    /// Global pooling: one window over each whole `(n, c)` plane, resolved
    /// at forward time, so the output is `(N, C, 1, 1)` for any input size.
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidPower`] for an LP mode with an unusable power.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::Array4;
    /// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
    ///
    /// let mut gap = Pool2d::global(PoolMode::Mean)?;
    /// let x = Array4::from_shape_fn((2, 3, 7, 5), |(_, c, _, _)| c as f32);
    /// let y = gap.forward(&x)?;
    /// assert_eq!(y.shape(), &[2, 3, 1, 1]);
    /// assert_eq!(y[[1, 2, 0, 0]], 2.);
    /// let dx = gap.backward(&Array4::from_elem((2, 3, 1, 1), 35f32))?;
    /// assert_eq!(dx, Array4::ones((2, 3, 7, 5)));
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn global(mode: PoolMode) -> Result<Self, PoolError> {
        let mut pool = Pool2d::builder(mode).size(1).build()?;
        pool.global = true;
        Ok(pool)
    }

    /// Whether the layer pools whole planes (see [`global`](Self::global)).
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// assert!(Pool2d::global(PoolMode::Max)?.is_global());
    /// assert!(!Pool2d::new(PoolMode::Max, 2, 2)?.is_global());
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn is_global(&self) -> bool {
        self.global
    }

    /// The window for an input of shape `input`: the layer's own, or the
    /// whole plane for global pooling.
    fn window_for(&self, input: [usize; 4]) -> Window2d {
        if self.global {
            Window2d::new((input[2], input[3]), (input[2].max(1), input[3].max(1)))
        } else {
            self.window
        }
    }

    /// A builder for every option; see [`Pool2dBuilder`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// let pool = Pool2d::builder(PoolMode::Max).size(3).stride(2).padding(1).build()?;
    /// assert_eq!(pool.output_shape([1, 64, 112, 112])?, [1, 64, 56, 56]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn builder(mode: PoolMode) -> Pool2dBuilder {
        Pool2dBuilder {
            mode,
            size: Size2d::square(2),
            stride: None,
            padding: Padding::zero(),
            dilation: Size2d::square(1),
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    /// The layer's mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// assert_eq!(Pool2d::new(PoolMode::Max, 2, 2)?.mode(), PoolMode::Max);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn mode(&self) -> PoolMode {
        self.mode
    }

    /// The layer's window geometry.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolMode, Size2d};
    ///
    /// let pool = Pool2d::new(PoolMode::Max, 3, 2)?;
    /// assert_eq!(pool.window().stride, Size2d::square(2));
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn window(&self) -> &Window2d {
        &self.window
    }

    /// What a mean window divides by (unused by max pooling).
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{MeanDivisor, Pool2d, PoolMode};
    ///
    /// let pool = Pool2d::builder(PoolMode::Mean).count_include_pad(false).build()?;
    /// assert_eq!(pool.divisor(), MeanDivisor::RealCells);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn divisor(&self) -> MeanDivisor {
        self.divisor
    }

    /// The output shape for an NCHW input of shape `input`.
    ///
    /// # Errors
    ///
    /// The geometry errors of [`Window2d::output_shape`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
    ///
    /// let pool = Pool2d::new(PoolMode::Max, 2, 2)?;
    /// assert_eq!(pool.output_shape([32, 64, 112, 112])?, [32, 64, 56, 56]);
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn output_shape(&self, input: [usize; 4]) -> Result<[usize; 4], PoolError> {
        self.window_for(input).output_shape(input)
    }

    /// Pools `x`, any NCHW array of `f32` or `f64` (owned, a view, or
    /// non-contiguous), or a batchless CHW array as PyTorch accepts, and
    /// remembers what [`backward`](Self::backward) needs. The output has the
    /// input's rank. A failed forward leaves the layer as it was.
    ///
    /// # Errors
    ///
    /// The geometry errors of [`Window2d::output_shape`] for `x`'s shape.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::{array, s, Array4};
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// let mut pool = Pool2d::new(PoolMode::Mean, 2, 2)?;
    /// let x: Array4<f32> = array![[[[1., 2., 9.], [3., 4., 9.]]]];
    /// // a non-contiguous view: the first two columns
    /// assert_eq!(pool.forward(&x.slice(s![.., .., .., ..2]))?, array![[[[2.5]]]]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn forward<T: MeanElement + PoolElement, D: Dimension>(
        &mut self,
        x: &ArrayRef<T, D>,
    ) -> Result<Array<T, D>, PoolError> {
        let x4 = as_nchw(x)?;
        let mut output = Array4::zeros(self.output_shape(shape4(&x4))?);
        self.forward_into(&x4, &mut output)?;
        Ok(from_nchw(output, x.ndim()))
    }

    /// [`forward`](Self::forward) into `out`, which must have the output
    /// shape; the argmax storage of the previous forward is reused, so a
    /// training loop allocates nothing per step.
    ///
    /// # Errors
    ///
    /// The geometry errors of [`Window2d::output_shape`], and
    /// [`PoolError::ShapeMismatch`] if `out` has another shape.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::Array4;
    /// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
    ///
    /// let mut pool = Pool2d::new(PoolMode::Max, 2, 2)?;
    /// let x = Array4::<f32>::ones((8, 16, 32, 32));
    /// let mut y = Array4::zeros(pool.output_shape([8, 16, 32, 32])?);
    /// let mut dx = Array4::zeros(x.raw_dim());
    /// for _ in 0..3 {
    ///     pool.forward_into(&x, &mut y)?;
    ///     pool.backward_into(&y, &mut dx)?;
    /// }
    /// assert_eq!(dx.sum(), y.sum());
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn forward_into<T: MeanElement + PoolElement>(
        &mut self,
        x: &ArrayRef<T, Ix4>,
        out: &mut ArrayRef<T, Ix4>,
    ) -> Result<(), PoolError> {
        let input_shape = shape4(x);
        let output_shape = shape4(out);
        let window = self.window_for(input_shape);
        let (argmax, input) = match self.mode {
            PoolMode::Max | PoolMode::Min => {
                // reuse the last argmax's allocation; give it back on error
                let tape = self.tape.as_mut();
                let mut argmax = tape.and_then(|tape| tape.argmax.take()).unwrap_or_default();
                let result = if self.mode == PoolMode::Max {
                    extreme_into::<T, Largest>(x, &window, out, &mut argmax)
                } else {
                    extreme_into::<T, Smallest>(x, &window, out, &mut argmax)
                };
                if let Err(error) = result {
                    if let Some(tape) = self.tape.as_mut() {
                        tape.argmax = Some(argmax);
                    }
                    return Err(error);
                }
                (Some(argmax), None)
            }
            PoolMode::Mean => {
                mean_pool2d_into(x, &window, self.divisor, out)?;
                (None, None)
            }
            PoolMode::Lp(p) => {
                check_power(p)?;
                let plan = window.plan(input_shape[2], input_shape[3])?;
                crate::layout::check_shape("output", out, window.output_shape(input_shape)?)?;
                T::in_accumulator(&[x], out, |x, out| {
                    lp_plan_into(x[0], &plan, p, out);
                    Ok(())
                })?;
                let kept: Arc<dyn Any + Send + Sync> = Arc::new(x.to_owned());
                (None, Some(kept))
            }
        };
        self.tape = Some(Tape {
            input_shape,
            output_shape,
            window,
            argmax,
            input,
        });
        Ok(())
    }

    /// Pools `x` for inference: the same output as [`forward`](Self::forward)
    /// but nothing is recorded, and max pooling skips the argmax, which
    /// makes it faster.
    ///
    /// # Errors
    ///
    /// The geometry errors of [`Window2d::output_shape`] for `x`'s shape.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
    ///
    /// let pool = Pool2d::new(PoolMode::Max, 2, 2)?;
    /// assert_eq!(pool.infer(&array![[[[1f32, 3.], [4., 2.]]]])?, array![[[[4.]]]]);
    /// assert!(pool.indices().is_none());
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn infer<T: MeanElement + PoolElement, D: Dimension>(
        &self,
        x: &ArrayRef<T, D>,
    ) -> Result<Array<T, D>, PoolError> {
        let x4 = as_nchw(x)?;
        let window = self.window_for(shape4(&x4));
        let output = match self.mode {
            PoolMode::Max => max_pool2d_without_indices(&x4, &window),
            PoolMode::Min => min_pool2d_without_indices(&x4, &window),
            PoolMode::Mean => mean_pool2d(&x4, &window, self.divisor),
            PoolMode::Lp(p) => lp_pool2d(&x4, &window, p),
        }?;
        Ok(from_nchw(output, x.ndim()))
    }

    /// The gradient with respect to the last forward's input, given `delta`,
    /// the gradient with respect to its output.
    ///
    /// Max pooling sends each delta to its window's argmax; mean pooling
    /// spreads it evenly over the window's real cells. Overlapping windows
    /// accumulate.
    ///
    /// # Errors
    ///
    /// - [`PoolError::BackwardBeforeForward`] if no forward has run;
    /// - [`PoolError::ShapeMismatch`] if `delta` is not shaped like the last
    ///   forward's output.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
    ///
    /// let mut pool = Pool2d::new(PoolMode::Mean, 2, 2)?;
    /// assert_eq!(pool.backward(&array![[[[4f32]]]]), Err(PoolError::BackwardBeforeForward));
    /// pool.forward(&array![[[[1f32, 2.], [3., 4.]]]])?;
    /// assert_eq!(pool.backward(&array![[[[4f32]]]])?, array![[[[1., 1.], [1., 1.]]]]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn backward<T: MeanElement + PoolElement, D: Dimension>(
        &self,
        delta: &ArrayRef<T, D>,
    ) -> Result<Array<T, D>, PoolError> {
        let tape = self.tape.as_ref().ok_or(PoolError::BackwardBeforeForward)?;
        let delta4 = as_nchw(delta)?;
        let mut grad = Array4::zeros(tape.input_shape);
        self.backward_into(&delta4, &mut grad)?;
        Ok(from_nchw(grad, delta.ndim()))
    }

    /// [`backward`](Self::backward) into `grad`, which must have the last
    /// forward's input shape; every cell is overwritten.
    ///
    /// # Errors
    ///
    /// As [`backward`](Self::backward), and [`PoolError::ShapeMismatch`] if
    /// `grad` is shaped otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::{array, Array4};
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// let mut pool = Pool2d::new(PoolMode::Max, 2, 2)?;
    /// pool.forward(&array![[[[1f64, 2.], [3., 4.]]]])?;
    /// let mut grad = Array4::from_elem((1, 1, 2, 2), 9.);
    /// pool.backward_into(&array![[[[1f64]]]], &mut grad)?;
    /// assert_eq!(grad, array![[[[0., 0.], [0., 1.]]]]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn backward_into<T: MeanElement + PoolElement>(
        &self,
        delta: &ArrayRef<T, Ix4>,
        grad: &mut ArrayRef<T, Ix4>,
    ) -> Result<(), PoolError> {
        let tape = self.tape.as_ref().ok_or(PoolError::BackwardBeforeForward)?;
        crate::layout::check_shape("delta", delta, tape.output_shape)?;
        crate::layout::check_shape("gradient", grad, tape.input_shape)?;
        match (self.mode, &tape.argmax, &tape.input) {
            (_, Some(argmax), _) => max_pool2d_backward_argmax_into(delta, argmax, grad),
            (PoolMode::Lp(p), _, Some(input)) => {
                let input = input
                    .downcast_ref::<Array4<T>>()
                    .ok_or(PoolError::ElementTypeMismatch)?;
                let plan = tape.window.plan(tape.input_shape[2], tape.input_shape[3])?;
                T::in_accumulator(&[delta, input], grad, |inputs, grad| {
                    lp_backward_plan_into(inputs[0], inputs[1], &plan, p, grad)
                })
            }
            _ => mean_pool2d_backward_into(delta, &tape.window, self.divisor, grad),
        }
    }

    /// The argmax of the last max forward, as PyTorch's
    /// `max_pool2d(..., return_indices=True)` returns it: within each
    /// `(n, c)` plane, the flat index `h * W + w` of the winning input cell.
    /// `None` before a max forward, and for mean pooling.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
    ///
    /// let mut pool = Pool2d::new(PoolMode::Max, 2, 1)?;
    /// assert!(pool.indices().is_none());
    /// pool.forward(&array![[[[1f32, 3., 2.], [4., 2., 0.]]]])?;
    /// assert_eq!(pool.indices(), Some(array![[[[3, 1]]]]));
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn indices(&self) -> Option<Array4<i64>> {
        Some(self.argmax()?.to_indices())
    }

    /// The argmax of the last max forward in compact form, for
    /// [`max_pool2d_backward_argmax`](crate::max_pool2d_backward_argmax).
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// let mut pool = Pool2d::new(PoolMode::Max, 2, 2)?;
    /// pool.forward(&array![[[[1f32, 2.], [3., 4.]]]])?;
    /// assert_eq!(pool.argmax().map(|a| a.offset_bytes()), Some(1));
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn argmax(&self) -> Option<&Argmax> {
        self.tape.as_ref()?.argmax.as_ref()
    }

    /// The shape of the last forward's input, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::Array4;
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// let mut pool = Pool2d::new(PoolMode::Max, 2, 2)?;
    /// assert_eq!(pool.input_shape(), None);
    /// pool.forward(&Array4::<f32>::zeros((2, 3, 4, 4)))?;
    /// assert_eq!(pool.input_shape(), Some([2, 3, 4, 4]));
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn input_shape(&self) -> Option<[usize; 4]> {
        self.tape.as_ref().map(|tape| tape.input_shape)
    }
}

/// Builds a [`Pool2d`] with every option; made by [`Pool2d::builder`].
///
/// Defaults are PyTorch's: size 2x2 (the usual choice), stride equal to the
/// size, no padding, dilation 1, floor mode, `count_include_pad = true`, no
/// divisor override.
///
/// # Examples
///
/// ```
/// use ndarray_pooling::{MeanDivisor, Padding, Pool2d, PoolError, PoolMode};
///
/// let pool = Pool2d::builder(PoolMode::Mean)
///     .size(3)
///     .stride(2)
///     .padding(Padding::new(1, 1, 0, 0))
///     .count_include_pad(false)
///     .build()?;
/// assert_eq!(pool.divisor(), MeanDivisor::RealCells);
/// assert_eq!(pool.output_shape([1, 1, 7, 7])?, [1, 1, 4, 3]);
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Pool2dBuilder {
    mode: PoolMode,
    size: Size2d,
    stride: Option<Size2d>,
    padding: Padding,
    dilation: Size2d,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<usize>,
}

impl Pool2dBuilder {
    /// Window size: a `usize` (square) or `(height, width)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolMode, Size2d};
    ///
    /// let pool = Pool2d::builder(PoolMode::Max).size((3, 2)).build()?;
    /// assert_eq!(pool.window().size, Size2d::new(3, 2));
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn size(mut self, size: impl Into<Size2d>) -> Self {
        self.size = size.into();
        self
    }

    /// Step between windows: a `usize` or `(height, width)`; defaults to the
    /// size.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolMode, Size2d};
    ///
    /// let pool = Pool2d::builder(PoolMode::Max).size(3).stride(1).build()?;
    /// assert_eq!(pool.window().stride, Size2d::square(1));
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn stride(mut self, stride: impl Into<Size2d>) -> Self {
        self.stride = Some(stride.into());
        self
    }

    /// Implicit padding: a `usize`, `(height, width)`, or
    /// [`Padding::new(top, bottom, left, right)`](Padding::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Padding, Pool2d, PoolMode};
    ///
    /// let pool = Pool2d::builder(PoolMode::Max).size(3).padding((1, 0)).build()?;
    /// assert_eq!(pool.window().padding, Padding::new(1, 1, 0, 0));
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn padding(mut self, padding: impl Into<Padding>) -> Self {
        self.padding = padding.into();
        self
    }

    /// Spacing between the window's cells: a `usize` or `(height, width)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// let pool = Pool2d::builder(PoolMode::Max).size(2).stride(1).dilation(2).build()?;
    /// assert_eq!(pool.output_shape([1, 1, 5, 5])?, [1, 1, 3, 3]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn dilation(mut self, dilation: impl Into<Size2d>) -> Self {
        self.dilation = dilation.into();
        self
    }

    /// Round the output size up instead of down.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// let pool = Pool2d::builder(PoolMode::Max).size(2).ceil_mode(true).build()?;
    /// assert_eq!(pool.output_shape([1, 1, 5, 5])?, [1, 1, 3, 3]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }

    /// Whether a mean's divisor counts padding cells (default `true`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::Array4;
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// let x = Array4::<f32>::ones((1, 1, 2, 2));
    /// let mut with_pad = Pool2d::builder(PoolMode::Mean).size(2).padding(1).build()?;
    /// let mut without = Pool2d::builder(PoolMode::Mean).size(2).padding(1).count_include_pad(false).build()?;
    /// assert_eq!(with_pad.forward(&x)?[[0, 0, 0, 0]], 0.25);
    /// assert_eq!(without.forward(&x)?[[0, 0, 0, 0]], 1.);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }

    /// Divide every mean window by `divisor` instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::Array4;
    /// use ndarray_pooling::{Pool2d, PoolMode};
    ///
    /// let mut sum = Pool2d::builder(PoolMode::Mean).size(2).divisor_override(1).build()?;
    /// assert_eq!(sum.forward(&Array4::<f32>::ones((1, 1, 2, 2)))?[[0, 0, 0, 0]], 4.);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn divisor_override(mut self, divisor: usize) -> Self {
        self.divisor_override = Some(divisor);
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// [`PoolError::ZeroParameter`] for a zero size, stride or dilation;
    /// [`PoolError::ZeroDivisor`] for a zero divisor override.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
    ///
    /// assert!(Pool2d::builder(PoolMode::Max).build().is_ok());
    /// assert_eq!(
    ///     Pool2d::builder(PoolMode::Mean).divisor_override(0).build().unwrap_err(),
    ///     PoolError::ZeroDivisor
    /// );
    /// ```
    pub fn build(self) -> Result<Pool2d, PoolError> {
        let window = Window2d {
            size: self.size,
            stride: self.stride.unwrap_or(self.size),
            padding: self.padding,
            dilation: self.dilation,
            ceil_mode: self.ceil_mode,
        };
        window.validate()?;
        let divisor = match (self.divisor_override, self.count_include_pad) {
            (Some(divisor), _) => {
                MeanDivisor::Fixed(NonZeroUsize::new(divisor).ok_or(PoolError::ZeroDivisor)?)
            }
            (None, true) => MeanDivisor::PaddedWindow,
            (None, false) => MeanDivisor::RealCells,
        };
        if let PoolMode::Lp(p) = self.mode {
            check_power(p)?;
        }
        Ok(Pool2d {
            mode: self.mode,
            window,
            divisor,
            global: false,
            tape: None,
        })
    }
}
