//! Adaptive pooling: windows chosen so that the output has a requested size,
//! as PyTorch's `AdaptiveMaxPool2d` / `AdaptiveAvgPool2d`.

use ndarray::{Array, Array4, ArrayRef, Dimension, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::argmax::Argmax;
use crate::element::{Largest, MeanElement, PoolElement, Smallest};
use crate::geometry::{MeanDivisor, Plan, Size2d};
use crate::layout::{as_nchw, from_nchw, shape4};
use crate::max::{extreme_plan_into, extreme_values_plan_into, scatter_backward};
use crate::max_pool2d_backward_argmax;
use crate::mean::{mean_backward_plan_into, mean_plan_into};
use crate::pool::PoolMode;

fn plan(input: [usize; 4], output: Size2d) -> Result<Plan, PoolError> {
    Plan::adaptive((input[2], input[3]), (output.height, output.width))
}

/// Adaptive max pooling: output cell `(i, j)` of an `output` plane is the
/// largest of input rows `floor(i * H / OH)..ceil((i + 1) * H / OH)` and the
/// columns likewise (PyTorch's windows), with PyTorch's flat `h * W + w`
/// indices. Ties and NaN as [`max_pool2d`](crate::max_pool2d).
///
/// # Errors
///
/// [`PoolError::ZeroParameter`] for a zero output size,
/// [`PoolError::EmptyWindow`] for an empty input plane.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{adaptive_max_pool2d, PoolError};
///
/// let x = array![[[[1f32, 5., 2.], [4., 0., 3.]]]];
/// // 3 columns into 2: windows 0..2 and 1..3
/// let (y, indices) = adaptive_max_pool2d(&x, (1, 2))?;
/// assert_eq!(y, array![[[[5., 5.]]]]);
/// assert_eq!(indices, array![[[[1, 1]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn adaptive_max_pool2d<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    output: impl Into<Size2d>,
) -> Result<(Array4<T>, Array4<i64>), PoolError> {
    let (y, argmax) = adaptive_max_pool2d_argmax(x, output)?;
    Ok((y, argmax.to_indices()))
}

/// [`adaptive_max_pool2d`] with the argmax in compact form, for
/// [`max_pool2d_backward_argmax`](crate::max_pool2d_backward_argmax).
///
/// # Errors
///
/// As [`adaptive_max_pool2d`].
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{adaptive_max_pool2d_argmax, max_pool2d_backward_argmax, PoolError};
///
/// let x = Array4::from_shape_fn((1, 2, 7, 5), |(_, c, h, w)| (c + h * w) as f64);
/// let (y, argmax) = adaptive_max_pool2d_argmax(&x, 3)?;
/// let dx = max_pool2d_backward_argmax(&Array4::<f64>::ones(y.raw_dim()), &argmax)?;
/// assert_eq!(dx.sum(), 18.);
/// # Ok::<(), PoolError>(())
/// ```
pub fn adaptive_max_pool2d_argmax<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    output: impl Into<Size2d>,
) -> Result<(Array4<T>, Argmax), PoolError> {
    let input = shape4(x);
    let plan = plan(input, output.into())?;
    let mut y = Array4::zeros((input[0], input[1], plan.out_height(), plan.out_width()));
    let mut argmax = Argmax::default();
    extreme_plan_into::<T, Largest>(x, &plan, None, &mut y, &mut argmax)?;
    Ok((y, argmax))
}

/// Adaptive max pooling backward from PyTorch's indices: each delta to its
/// window's maximum; overlapping windows accumulate.
///
/// # Errors
///
/// [`PoolError::ShapeMismatch`] if `delta` or `indices` is not shaped
/// `(N, C, output)`, [`PoolError::IndexOutOfBounds`] for a bad index, and
/// the errors of [`adaptive_max_pool2d`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{adaptive_max_pool2d, adaptive_max_pool2d_backward, PoolError};
///
/// let x = array![[[[1f32, 5., 2.], [4., 0., 3.]]]];
/// let (_, indices) = adaptive_max_pool2d(&x, (1, 2))?;
/// let dx = adaptive_max_pool2d_backward(&array![[[[1f32, 2.]]]], &indices, [1, 1, 2, 3])?;
/// assert_eq!(dx, array![[[[0., 3., 0.], [0., 0., 0.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn adaptive_max_pool2d_backward<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
    input_shape: [usize; 4],
) -> Result<Array4<T>, PoolError> {
    let output = Size2d::new(delta.shape()[2], delta.shape()[3]);
    scatter_backward(delta, indices, input_shape, &plan(input_shape, output)?)
}

/// Adaptive mean pooling (PyTorch's `adaptive_avg_pool2d`): the mean of
/// each adaptive window, which holds only real cells.
///
/// # Errors
///
/// As [`adaptive_max_pool2d`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{adaptive_mean_pool2d, PoolError};
///
/// let x = array![[[[1f64, 5., 3.], [4., 0., 3.]]]];
/// assert_eq!(adaptive_mean_pool2d(&x, (1, 2))?, array![[[[2.5, 2.75]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn adaptive_mean_pool2d<T: MeanElement>(
    x: &ArrayRef<T, Ix4>,
    output: impl Into<Size2d>,
) -> Result<Array4<T>, PoolError> {
    let input = shape4(x);
    let plan = plan(input, output.into())?;
    let mut y = Array4::zeros((input[0], input[1], plan.out_height(), plan.out_width()));
    T::in_accumulator(&[x], &mut y, |x, y| {
        mean_plan_into(x[0], &plan, MeanDivisor::RealCells, y)
    })?;
    Ok(y)
}

/// Adaptive mean pooling backward: each window's delta, divided by its
/// cell count, to each of its cells; overlapping windows accumulate.
///
/// # Errors
///
/// [`PoolError::ShapeMismatch`] for a `delta` not shaped `(N, C, output)`
/// of `input_shape`'s `N` and `C`, and the errors of [`adaptive_max_pool2d`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{adaptive_mean_pool2d_backward, PoolError};
///
/// let dx = adaptive_mean_pool2d_backward(&array![[[[4f64]]]], [1, 1, 2, 2])?;
/// assert_eq!(dx, array![[[[1., 1.], [1., 1.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn adaptive_mean_pool2d_backward<T: MeanElement>(
    delta: &ArrayRef<T, Ix4>,
    input_shape: [usize; 4],
) -> Result<Array4<T>, PoolError> {
    let output = Size2d::new(delta.shape()[2], delta.shape()[3]);
    let plan = plan(input_shape, output)?;
    let mut grad = Array4::zeros(input_shape);
    T::in_accumulator(&[delta], &mut grad, |delta, grad| {
        mean_backward_plan_into(delta[0], &plan, MeanDivisor::RealCells, grad)
    })?;
    Ok(grad)
}

/// What the last forward left for backward.
#[derive(Clone, Debug)]
struct Tape {
    input_shape: [usize; 4],
    output_shape: [usize; 4],
    argmax: Option<Argmax>,
}

/// An adaptive pooling layer: the output has the requested `(height,
/// width)` whatever the input size, with PyTorch's windows
/// (`AdaptiveMaxPool2d`, `AdaptiveAvgPool2d`). The same methods as
/// [`Pool2d`](crate::Pool2d); modes [`PoolMode::Max`], [`PoolMode::Min`] and
/// [`PoolMode::Mean`].
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{AdaptivePool2d, PoolError, PoolMode};
///
/// let mut pool = AdaptivePool2d::new(PoolMode::Max, (2, 3))?;
/// for (h, w) in [(7, 7), (5, 9), (2, 3)] {
///     let y = pool.forward(&Array4::<f32>::ones((4, 8, h, w)))?;
///     assert_eq!(y.shape(), &[4, 8, 2, 3]);
///     assert_eq!(pool.backward(&y)?.shape(), &[4, 8, h, w]);
/// }
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AdaptivePool2d {
    mode: PoolMode,
    output: Size2d,
    tape: Option<Tape>,
}

impl AdaptivePool2d {
    /// A layer that pools to `output`, a `usize` (square) or `(height,
    /// width)`.
    ///
    /// # Errors
    ///
    /// [`PoolError::ZeroParameter`] for a zero output size;
    /// [`PoolError::UnsupportedMode`] for a mode adaptive pooling lacks (LP).
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{AdaptivePool2d, PoolMode};
    ///
    /// assert!(AdaptivePool2d::new(PoolMode::Mean, 7).is_ok());
    /// assert!(AdaptivePool2d::new(PoolMode::Mean, (0, 7)).is_err());
    /// assert!(AdaptivePool2d::new(PoolMode::Lp(2.), 7).is_err());
    /// ```
    pub fn new(mode: PoolMode, output: impl Into<Size2d>) -> Result<Self, PoolError> {
        let output = output.into();
        Plan::adaptive((1, 1), (output.height, output.width))?;
        if let PoolMode::Lp(_) = mode {
            return Err(PoolError::UnsupportedMode {
                mode: "LP",
                operation: "adaptive pooling",
            });
        }
        Ok(AdaptivePool2d {
            mode,
            output,
            tape: None,
        })
    }

    /// The requested output size.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{AdaptivePool2d, PoolMode, Size2d};
    ///
    /// let pool = AdaptivePool2d::new(PoolMode::Max, (1, 2))?;
    /// assert_eq!(pool.output_size(), Size2d::new(1, 2));
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn output_size(&self) -> Size2d {
        self.output
    }

    /// The output shape for an input of shape `input`.
    ///
    /// # Errors
    ///
    /// [`PoolError::EmptyWindow`] for an empty input plane.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{AdaptivePool2d, PoolMode};
    ///
    /// let pool = AdaptivePool2d::new(PoolMode::Mean, 1)?;
    /// assert_eq!(pool.output_shape([8, 512, 7, 7])?, [8, 512, 1, 1]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn output_shape(&self, input: [usize; 4]) -> Result<[usize; 4], PoolError> {
        let plan = plan(input, self.output)?;
        crate::geometry::output_shape(input, plan.out_height(), plan.out_width())
    }

    /// Pools `x` (NCHW, or batchless CHW) and remembers what backward needs.
    ///
    /// # Errors
    ///
    /// As [`output_shape`](Self::output_shape), and
    /// [`PoolError::UnsupportedRank`] for other ranks.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_pooling::{AdaptivePool2d, PoolMode};
    ///
    /// let mut pool = AdaptivePool2d::new(PoolMode::Mean, 1)?;
    /// assert_eq!(pool.forward(&array![[[1f32, 2.], [3., 6.]]])?, array![[[3.]]]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn forward<T: MeanElement + PoolElement, D: Dimension>(
        &mut self,
        x: &ArrayRef<T, D>,
    ) -> Result<Array<T, D>, PoolError> {
        let x4 = as_nchw(x)?;
        let input_shape = shape4(&x4);
        let (y, argmax) = match self.mode {
            PoolMode::Max => {
                let (y, argmax) = adaptive_max_pool2d_argmax(&x4, self.output)?;
                (y, Some(argmax))
            }
            PoolMode::Min => {
                let plan = plan(input_shape, self.output)?;
                let mut y = Array4::zeros(self.output_shape(input_shape)?);
                let mut argmin = Argmax::default();
                extreme_plan_into::<T, Smallest>(&x4, &plan, None, &mut y, &mut argmin)?;
                (y, Some(argmin))
            }
            _ => (adaptive_mean_pool2d(&x4, self.output)?, None),
        };
        let output_shape = shape4(&y);
        self.tape = Some(Tape {
            input_shape,
            output_shape,
            argmax,
        });
        Ok(from_nchw(y, x.ndim()))
    }

    /// Pools `x` for inference, recording nothing (max and min skip the
    /// argmax).
    ///
    /// # Errors
    ///
    /// As [`forward`](Self::forward).
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_pooling::{AdaptivePool2d, PoolMode};
    ///
    /// let pool = AdaptivePool2d::new(PoolMode::Min, 1)?;
    /// assert_eq!(pool.infer(&array![[[[1f32, 2.], [3., -6.]]]])?, array![[[[-6.]]]]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn infer<T: MeanElement + PoolElement, D: Dimension>(
        &self,
        x: &ArrayRef<T, D>,
    ) -> Result<Array<T, D>, PoolError> {
        let x4 = as_nchw(x)?;
        let y = match self.mode {
            PoolMode::Max | PoolMode::Min => {
                let input_shape = shape4(&x4);
                let plan = plan(input_shape, self.output)?;
                let mut y = Array4::zeros(self.output_shape(input_shape)?);
                if self.mode == PoolMode::Max {
                    extreme_values_plan_into::<T, Largest>(&x4, &plan, &mut y)?;
                } else {
                    extreme_values_plan_into::<T, Smallest>(&x4, &plan, &mut y)?;
                }
                y
            }
            _ => adaptive_mean_pool2d(&x4, self.output)?,
        };
        Ok(from_nchw(y, x.ndim()))
    }

    /// The gradient with respect to the last forward's input.
    ///
    /// # Errors
    ///
    /// [`PoolError::BackwardBeforeForward`], and
    /// [`PoolError::ShapeMismatch`] for a delta not shaped like the last
    /// output.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_pooling::{AdaptivePool2d, PoolMode};
    ///
    /// let mut pool = AdaptivePool2d::new(PoolMode::Max, 1)?;
    /// pool.forward(&array![[[[1f32, 2.], [3., -6.]]]])?;
    /// assert_eq!(pool.backward(&array![[[[5f32]]]])?, array![[[[0., 0.], [5., 0.]]]]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn backward<T: MeanElement + PoolElement, D: Dimension>(
        &self,
        delta: &ArrayRef<T, D>,
    ) -> Result<Array<T, D>, PoolError> {
        let tape = self.tape.as_ref().ok_or(PoolError::BackwardBeforeForward)?;
        let delta4 = as_nchw(delta)?;
        crate::layout::check_shape("delta", &delta4, tape.output_shape)?;
        let grad = match &tape.argmax {
            Some(argmax) => max_pool2d_backward_argmax(&delta4, argmax)?,
            None => adaptive_mean_pool2d_backward(&delta4, tape.input_shape)?,
        };
        Ok(from_nchw(grad, delta.ndim()))
    }

    /// PyTorch's indices of the last max or min forward.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_pooling::{AdaptivePool2d, PoolMode};
    ///
    /// let mut pool = AdaptivePool2d::new(PoolMode::Max, 1)?;
    /// pool.forward(&array![[[[1f32, 2.], [3., -6.]]]])?;
    /// assert_eq!(pool.indices(), Some(array![[[[2]]]]));
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn indices(&self) -> Option<Array4<i64>> {
        Some(self.tape.as_ref()?.argmax.as_ref()?.to_indices())
    }
}
