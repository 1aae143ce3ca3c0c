//! Max pooling: forward with or without argmax, and backward by the argmax.
//!
//! 2x2 windows at stride 2 take a kernel of their own, a row at a time
//! ([`pairs`]); other windows the separable kernels of
//! [`crate::separable`]. When a row holds NaN, its output rows are taken
//! again a row at a time by the exact loops: each input row of a window row
//! is reduced into the output row, which stays in L1 cache, full windows in
//! the middle of a row by the stride-phase loop and windows clipped by
//! padding by the general loop.

use std::ops::Range;

use ndarray::{Array4, ArrayRef, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::argmax::{Argmax, CellTable, Offset, Offsets};
use crate::element::{Extremum, Largest, PoolElement, Smallest};
use crate::geometry::{AxisPlan, AxisWindow, Plan, Window2d, output_shape};
use crate::isa;
use crate::layout::{
    check_shape, new_array, plane_len, planes, shape4, standard_slice_mut, with_standard_layout,
};
use crate::parallel::{AHEAD, Out, Part, for_each_plane, for_each_plane_band, prefetch};
use crate::phases::Phases;
use crate::separable::Separable;

/// Max pooling forward: the largest value of every window and its argmax.
///
/// `x` is any NCHW array: owned, a view, or non-contiguous, of floats or
/// integers (see [`PoolElement`]). The argmax is PyTorch's: within each
/// `(n, c)` plane, the flat index `h * W + w` of the winning input cell.
///
/// - Padding never wins: it acts as −∞.
/// - Of equal maxima, the first in row-major window order wins.
/// - NaN propagates: a window holding a NaN outputs NaN, and its index points
///   at the last NaN in row-major window order (as PyTorch does).
///
/// [`max_pool2d_argmax`] returns the argmax in a form an eighth the size;
/// [`max_pool2d_without_indices`] skips it.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_pool2d, PoolError, Window2d};
///
/// let x = array![[[[1., 3., 2., 1.], [4., 2., 0., 1.], [1., 0., 3., 2.], [2., 1., 4., 3.]]]];
/// let (y, argmax) = max_pool2d(&x, &Window2d::new(2, 2))?;
/// assert_eq!(y, array![[[[4., 2.], [2., 4.]]]]);
/// assert_eq!(argmax, array![[[[4, 2], [12, 14]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<(Array4<T>, Array4<i64>), PoolError> {
    let (output, argmax) = max_pool2d_argmax(x, window)?;
    Ok((output, argmax.to_indices()))
}

/// Max pooling forward with the argmax in compact form (see [`Argmax`]).
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{max_pool2d_argmax, max_pool2d_backward_argmax, PoolError, Window2d};
///
/// let x = Array4::from_shape_fn((2, 3, 8, 8), |(n, c, h, w)| (n + c + h * w) as f32);
/// let (y, argmax) = max_pool2d_argmax(&x, &Window2d::new(3, 2).with_padding(1))?;
/// let dx = max_pool2d_backward_argmax(&Array4::<f32>::ones(y.raw_dim()), &argmax)?;
/// assert_eq!(dx.sum(), y.len() as f32);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_argmax<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<(Array4<T>, Argmax), PoolError> {
    extreme_argmax::<T, Largest>(x, window)
}

/// [`max_pool2d_argmax`] into caller-provided storage: `out` must have the
/// output shape; `argmax` is resized, reusing its allocation. A training loop
/// that keeps both allocates nothing per step.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`], and
/// [`PoolError::ShapeMismatch`] if `out` has another shape.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{max_pool2d_into, Argmax, PoolError, Window2d};
///
/// let window = Window2d::new(2, 2);
/// let mut out = Array4::<f32>::zeros((4, 8, 16, 16));
/// let mut argmax = Argmax::default();
/// for step in 0..3 {
///     let x = Array4::from_elem((4, 8, 32, 32), step as f32);
///     max_pool2d_into(&x, &window, &mut out, &mut argmax)?;
/// }
/// assert_eq!(out[[0, 0, 0, 0]], 2.);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_into<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
    argmax: &mut Argmax,
) -> Result<(), PoolError> {
    extreme_into::<T, Largest>(x, window, out, argmax)
}

/// Max pooling forward without the argmax, for inference: the same values
/// as [`max_pool2d`], faster.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_pool2d_without_indices, PoolError, Window2d};
///
/// let x = array![[[[1f32, 3.], [4., f32::NAN]]]];
/// let y = max_pool2d_without_indices(&x, &Window2d::new(2, 2))?;
/// assert!(y[[0, 0, 0, 0]].is_nan());
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_without_indices<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<Array4<T>, PoolError> {
    extreme_values::<T, Largest>(x, window)
}

/// [`max_pool2d_without_indices`] into `out`, which must have the output
/// shape.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`], and
/// [`PoolError::ShapeMismatch`] if `out` has another shape.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{max_pool2d_without_indices_into, PoolError, Window2d};
///
/// let mut out = Array4::<f64>::zeros((1, 2, 3, 3));
/// max_pool2d_without_indices_into(&Array4::ones((1, 2, 7, 7)), &Window2d::new(3, 2), &mut out)?;
/// assert_eq!(out, Array4::ones((1, 2, 3, 3)));
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_without_indices_into<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    extreme_values_into::<T, Largest>(x, window, out)
}

/// Min pooling forward: the smallest value of every window and its argmin,
/// as PyTorch's flat `h * W + w` per plane. Min pooling of `x` is
/// `-max_pool2d(-x)`: padding never wins (it acts as +∞), of equal minima
/// the first in row-major window order wins, and NaN propagates as in
/// [`max_pool2d`].
///
/// Its backward is max pooling's: [`max_pool2d_backward`] with these
/// indices, or [`max_pool2d_backward_argmax`] with the compact form of
/// [`min_pool2d_argmax`], sends each delta to its window's minimum.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{min_pool2d, PoolError, Window2d};
///
/// let x = array![[[[1., 3., 2., 1.], [4., 2., 0., 1.], [1., 0., 3., 2.], [2., 1., 4., 3.]]]];
/// let (y, argmin) = min_pool2d(&x, &Window2d::new(2, 2))?;
/// assert_eq!(y, array![[[[1., 0.], [0., 2.]]]]);
/// assert_eq!(argmin, array![[[[0, 6], [9, 11]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn min_pool2d<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<(Array4<T>, Array4<i64>), PoolError> {
    let (output, argmin) = min_pool2d_argmax(x, window)?;
    Ok((output, argmin.to_indices()))
}

/// Min pooling forward with the argmin in compact form (see [`Argmax`],
/// which holds either).
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{min_pool2d_argmax, max_pool2d_backward_argmax, PoolError, Window2d};
///
/// let x = array![[[[5f32, 3.], [4., 8.]]]];
/// let (y, argmin) = min_pool2d_argmax(&x, &Window2d::new(2, 2))?;
/// assert_eq!(y, array![[[[3.]]]]);
/// let dx = max_pool2d_backward_argmax(&array![[[[1f32]]]], &argmin)?;
/// assert_eq!(dx, array![[[[0., 1.], [0., 0.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn min_pool2d_argmax<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<(Array4<T>, Argmax), PoolError> {
    extreme_argmax::<T, Smallest>(x, window)
}

/// [`min_pool2d_argmax`] into caller-provided storage, as
/// [`max_pool2d_into`].
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`], and
/// [`PoolError::ShapeMismatch`] if `out` has another shape.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{min_pool2d_into, Argmax, PoolError, Window2d};
///
/// let mut out = Array4::<i32>::zeros((1, 1, 2, 2));
/// let mut argmin = Argmax::default();
/// let x = Array4::from_shape_fn((1, 1, 4, 4), |(_, _, h, w)| (h * 4 + w) as i32);
/// min_pool2d_into(&x, &Window2d::new(2, 2), &mut out, &mut argmin)?;
/// assert_eq!(out.into_raw_vec_and_offset().0, vec![0, 2, 8, 10]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn min_pool2d_into<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
    argmin: &mut Argmax,
) -> Result<(), PoolError> {
    extreme_into::<T, Smallest>(x, window, out, argmin)
}

/// Min pooling forward without the argmin, for inference.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{min_pool2d_without_indices, PoolError, Window2d};
///
/// // dark strokes (small values) survive min pooling of a light background
/// let page = array![[[[255u8, 255, 255, 255], [255, 0, 255, 255]]]];
/// assert_eq!(min_pool2d_without_indices(&page, &Window2d::new(2, 2))?, array![[[[0u8, 255]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn min_pool2d_without_indices<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<Array4<T>, PoolError> {
    extreme_values::<T, Smallest>(x, window)
}

/// [`min_pool2d_without_indices`] into `out`, which must have the output
/// shape.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`], and
/// [`PoolError::ShapeMismatch`] if `out` has another shape.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{min_pool2d_without_indices_into, PoolError, Window2d};
///
/// let mut out = Array4::<f32>::zeros((1, 1, 1, 1));
/// min_pool2d_without_indices_into(&Array4::from_elem((1, 1, 2, 2), 3f32), &Window2d::new(2, 2), &mut out)?;
/// assert_eq!(out[[0, 0, 0, 0]], 3.);
/// # Ok::<(), PoolError>(())
/// ```
pub fn min_pool2d_without_indices_into<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    extreme_values_into::<T, Smallest>(x, window, out)
}

fn extreme_argmax<T: PoolElement, E: Extremum>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<(Array4<T>, Argmax), PoolError> {
    let input_shape = shape4(x);
    let shape = window.output_shape(input_shape)?;
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let mut argmax = Argmax::default();
    argmax.prepare(Some(*window), &plan, input_shape, shape)?;
    let output = new_array(shape, |cells| {
        let out = Out::new(cells, shape);
        forward_offsets::<T, E>(x, &plan, out, &mut argmax.offsets);
    });
    Ok((output, argmax))
}

pub(crate) fn extreme_into<T: PoolElement, E: Extremum>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
    argmax: &mut Argmax,
) -> Result<(), PoolError> {
    let input_shape = shape4(x);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    extreme_plan_into::<T, E>(x, &plan, Some(*window), out, argmax)
}

/// Forward over a resolved plan, which may come from a [`Window2d`] or from
/// adaptive pooling.
pub(crate) fn extreme_plan_into<T: PoolElement, E: Extremum>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    window: Option<Window2d>,
    out: &mut ArrayRef<T, Ix4>,
    argmax: &mut Argmax,
) -> Result<(), PoolError> {
    let input_shape = shape4(x);
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    check_shape("output", out, shape)?;
    argmax.prepare(window, plan, input_shape, shape)?;
    with_standard_layout(out, |out| {
        forward_offsets::<T, E>(x, plan, Out::Given(out), &mut argmax.offsets);
    });
    Ok(())
}

/// Forward with the argmax into `offsets`, emptied by [`Argmax::prepare`].
fn forward_offsets<T: PoolElement, E: Extremum>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    out: Out<'_, T>,
    offsets: &mut Offsets,
) {
    let len = out.len();
    match offsets {
        Offsets::U8(offsets) => forward::<T, E, _>(x, plan, out, Out::New(offsets, len)),
        Offsets::U16(offsets) => forward::<T, E, _>(x, plan, out, Out::New(offsets, len)),
        Offsets::U32(offsets) => forward::<T, E, _>(x, plan, out, Out::New(offsets, len)),
    }
}

fn extreme_values<T: PoolElement, E: Extremum>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<Array4<T>, PoolError> {
    let input_shape = shape4(x);
    let shape = window.output_shape(input_shape)?;
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let output = new_array(shape, |cells| {
        let out = Out::new(cells, shape);
        forward::<T, E, u8>(x, &plan, out, Out::Given(&mut []));
    });
    Ok(output)
}

pub(crate) fn extreme_values_into<T: PoolElement, E: Extremum>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let input_shape = shape4(x);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    extreme_values_plan_into::<T, E>(x, &plan, out)
}

pub(crate) fn extreme_values_plan_into<T: PoolElement, E: Extremum>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    out: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let shape = output_shape(shape4(x), plan.out_height(), plan.out_width())?;
    check_shape("output", out, shape)?;
    with_standard_layout(out, |out| {
        forward::<T, E, u8>(x, plan, Out::Given(out), Out::Given(&mut []));
    });
    Ok(())
}

/// Max pooling backward: sends each delta to its window's argmax.
///
/// `indices` are as [`max_pool2d`] returns them; `input_shape` is the shape
/// of the forward's input, and the result has that shape. Where windows
/// overlap, deltas sent to the same cell add up.
///
/// # Errors
///
/// - every geometry error of [`Window2d::output_shape`] for `input_shape`;
/// - [`PoolError::ShapeMismatch`] if `delta` or `indices` is not shaped like
///   the forward's output;
/// - [`PoolError::IndexOutOfBounds`] if an index lies outside its plane.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_pool2d, max_pool2d_backward, PoolError, Window2d};
///
/// let x = array![[[[1., 3., 2., 1.], [4., 2., 0., 1.], [1., 0., 3., 2.], [2., 1., 4., 3.]]]];
/// let window = Window2d::new(2, 2);
/// let (_, argmax) = max_pool2d(&x, &window)?;
/// let delta = array![[[[1., 2.], [3., 4.]]]];
/// let dx = max_pool2d_backward(&delta, &argmax, [1, 1, 4, 4], &window)?;
/// assert_eq!(
///     dx,
///     array![[[[0., 0., 2., 0.], [1., 0., 0., 0.], [0., 0., 0., 0.], [3., 0., 4., 0.]]]]
/// );
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_backward<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
    input_shape: [usize; 4],
    window: &Window2d,
) -> Result<Array4<T>, PoolError> {
    let plan = window.plan(input_shape[2], input_shape[3])?;
    scatter_backward(delta, indices, input_shape, &plan)
}

/// Backward from PyTorch's indices over a resolved plan.
pub(crate) fn scatter_backward<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
    input_shape: [usize; 4],
    plan: &Plan,
) -> Result<Array4<T>, PoolError> {
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    check_shape("delta", delta, shape)?;
    check_shape("indices", indices, shape)?;
    let plane_len = plane_len(input_shape);
    if let Some(&index) = indices
        .iter()
        .find(|&&i| usize::try_from(i).map_or(true, |i| i >= plane_len))
    {
        return Err(PoolError::IndexOutOfBounds { index, plane_len });
    }
    let mut grad = Array4::zeros(input_shape);
    let grad_planes = standard_slice_mut(&mut grad).chunks_exact_mut(plane_len);
    for ((grad, delta), indices) in grad_planes.zip(planes(delta)).zip(planes(indices)) {
        for (&d, &index) in delta.iter().zip(indices.iter()) {
            grad[index as usize] = grad[index as usize] + d;
        }
    }
    Ok(grad)
}

/// Max pooling backward from a compact [`Argmax`]: the same result as
/// [`max_pool2d_backward`] with [`Argmax::to_indices`].
///
/// # Errors
///
/// [`PoolError::ShapeMismatch`] if `delta` is not shaped like the forward's
/// output.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_pool2d_argmax, max_pool2d_backward_argmax, PoolError, Window2d};
///
/// let x = array![[[[1f32, 3.], [4., 2.]]]];
/// let (_, argmax) = max_pool2d_argmax(&x, &Window2d::new(2, 2))?;
/// let dx = max_pool2d_backward_argmax(&array![[[[5f32]]]], &argmax)?;
/// assert_eq!(dx, array![[[[0., 0.], [5., 0.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_backward_argmax<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    argmax: &Argmax,
) -> Result<Array4<T>, PoolError> {
    check_shape("delta", delta, argmax.output_shape)?;
    let shape = argmax.input_shape;
    Ok(new_array(shape, |cells| {
        let grad = Out::gradient(cells, shape);
        backward_argmax(delta, argmax, grad);
    }))
}

/// [`max_pool2d_backward_argmax`] into `grad`, which must have the forward's
/// input shape; every cell of `grad` is overwritten.
///
/// # Errors
///
/// [`PoolError::ShapeMismatch`] if `delta` or `grad` is shaped otherwise.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{max_pool2d_argmax, max_pool2d_backward_argmax_into, PoolError, Window2d};
///
/// let x = Array4::<f32>::ones((1, 1, 4, 4));
/// let (y, argmax) = max_pool2d_argmax(&x, &Window2d::new(2, 2))?;
/// let mut grad = Array4::from_elem((1, 1, 4, 4), 7f32); // overwritten
/// max_pool2d_backward_argmax_into(&y, &argmax, &mut grad)?;
/// assert_eq!(grad.sum(), 4.);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_backward_argmax_into<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    argmax: &Argmax,
    grad: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    check_shape("delta", delta, argmax.output_shape)?;
    check_shape("gradient", grad, argmax.input_shape)?;
    with_standard_layout(grad, |grad| {
        backward_argmax(delta, argmax, Out::Given(grad))
    });
    Ok(())
}

/// Backward by `argmax` into `grad`.
fn backward_argmax<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    argmax: &Argmax,
    grad: Out<'_, T>,
) {
    match &argmax.offsets {
        Offsets::U8(offsets) => backward(delta, &argmax.plan, offsets, grad),
        Offsets::U16(offsets) => backward(delta, &argmax.plan, offsets, grad),
        Offsets::U32(offsets) => backward(delta, &argmax.plan, offsets, grad),
    }
}

/// Forward over every plane; `offsets` empty means no argmax.
fn forward<T: PoolElement, E: Extremum, O: Offset>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    out: Out<'_, T>,
    offsets: Out<'_, O>,
) {
    let with_index = offsets.len() > 0;
    for_each_plane_band(
        x,
        out,
        offsets,
        plan.out_height(),
        true,
        |_, input, ahead, rows, mut out, mut offsets| {
            if with_index {
                band::<T, E, O, true>(plan, (input, ahead), rows, &mut out, &mut offsets);
            } else {
                band::<T, E, O, false>(plan, (input, ahead), rows, &mut out, &mut offsets);
            }
        },
    );
}

/// Whether an axis's windows are two cells at stride 2, undilated.
fn dense(axis: &AxisPlan) -> bool {
    axis.size == 2 && axis.stride == 2 && axis.dilation == 1
}

/// Output rows `rows` of one plane: 2x2 windows at stride 2 (and windows
/// more than 256 columns wide) a row at a time by [`row_by_row`], others by
/// [`Separable`].
fn band<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool>(
    plan: &Plan,
    (input, ahead): (&[T], &[T]),
    rows: Range<usize>,
    out: &mut Part<'_, T>,
    offsets: &mut Part<'_, O>,
) {
    let out_width = plan.out_width();
    if (dense(&plan.rows) && dense(&plan.cols)) || !Separable::<T>::suits(plan) {
        let span = 0..rows.len() * out_width;
        let (out, offsets) = span_of::<T, O, INDEX>(out, offsets, span);
        // small inputs, not prefetched, take a loop without the prefetch:
        // with it, the 2x2 forward with indices on 28x28 planes took 5 %
        // longer
        if ahead.is_empty() {
            row_by_row::<T, E, O, INDEX, false>(plan, (input, ahead), rows, out, offsets, false);
        } else {
            row_by_row::<T, E, O, INDEX, true>(plan, (input, ahead), rows, out, offsets, false);
        }
        return;
    }
    let run = Separable::<T>::run_length(plan);
    let windows = &plan.rows.windows[rows.clone()];
    Separable::with(|separable| {
        for (k, chunk) in windows.chunks(run).enumerate() {
            // a run at a time
            let span = k * run * out_width..(k * run + chunk.len()) * out_width;
            let (out, offsets) = span_of::<T, O, INDEX>(out, offsets, span);
            if separable.rows::<E, O, INDEX>(plan, input, chunk, out, offsets) {
                // a row holding NaN: these output rows again, exactly
                let first = rows.start + k * run;
                let rows = first..first + chunk.len();
                row_by_row::<T, E, O, INDEX, false>(plan, (input, &[]), rows, out, offsets, true);
            }
        }
    });
}

/// Cells `span` of `out` and, with `INDEX`, of `offsets`, the next ones
/// the work reaches.
fn span_of<'p, T: PoolElement, O: Offset, const INDEX: bool>(
    out: &'p mut Part<'_, T>,
    offsets: &'p mut Part<'_, O>,
    span: Range<usize>,
) -> (&'p mut [T], &'p mut [O]) {
    let end = span.end;
    let offsets: &mut [O] = if INDEX {
        &mut offsets.to(end)[span.clone()]
    } else {
        &mut []
    };
    (&mut out.to(end)[span], offsets)
}

/// Output rows `rows` of one plane, a row at a time: full windows (the
/// interior of each row) by [`pairs`] or [`interior`], windows clipped by
/// padding by [`edges`]. With `exact`, by the exact loops only. With
/// `PREFETCH`, each row prefetches the rows [`AHEAD`] cells on in `ahead`.
fn row_by_row<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool, const PREFETCH: bool>(
    plan: &Plan,
    (input, ahead): (&[T], &[T]),
    rows: Range<usize>,
    out: &mut [T],
    offsets: &mut [O],
    exact: bool,
) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let mut phases = Phases::new();
    let mut taps = Vec::new();
    let interior_cols = plan.cols.interior();
    let pattern_2x2s2 = !exact && dense(&plan.rows) && dense(&plan.cols);
    for (i, row_window) in plan.rows.windows[rows].iter().enumerate() {
        if PREFETCH {
            prefetch(
                ahead,
                row_window.start * width + AHEAD,
                plan.rows.stride * width,
            );
        }
        let out_row = &mut out[i * out_width..(i + 1) * out_width];
        let offset_row: &mut [O] = if INDEX {
            &mut offsets[i * out_width..(i + 1) * out_width]
        } else {
            &mut []
        };
        if !interior_cols.is_empty() {
            let (out_mid, offset_mid) = (
                &mut out_row[interior_cols.clone()],
                if INDEX {
                    &mut offset_row[interior_cols.clone()]
                } else {
                    &mut []
                },
            );
            let first = plan.cols.windows[interior_cols.start].start;
            // a plain max first; the rare row holding a NaN again, exactly
            if pattern_2x2s2 && row_window.taps == 2 {
                let top = &input[row_window.start * width + first..];
                let bottom = &input[(row_window.start + 1) * width + first..];
                let n = out_mid.len();
                if crate::isa::wide(
                    n,
                    #[inline(always)]
                    || pairs::<T, E, O, INDEX>(top, bottom, out_mid, offset_mid),
                ) {
                    pairs_exact::<T, E, O, INDEX>(top, bottom, out_mid, offset_mid);
                }
            } else {
                let mut interior = |exact| {
                    let kernel = if exact {
                        interior::<T, E, O, INDEX, true>
                    } else {
                        interior::<T, E, O, INDEX, false>
                    };
                    kernel(
                        plan,
                        input,
                        row_window,
                        first,
                        out_mid,
                        offset_mid,
                        &mut phases,
                        &mut taps,
                    )
                };
                if exact || interior(false) {
                    interior(true);
                }
            }
        }
        if interior_cols.len() < out_width {
            edges::<T, E, O, INDEX>(plan, input, row_window, &interior_cols, out_row, offset_row);
        }
    }
}

/// The `out.len()` full windows of one output row, the first starting at
/// column `first`. Cells are visited in window order (row by row, left to
/// right); each visit is one contiguous, vectorizable pass over all windows.
#[allow(clippy::too_many_arguments)]
fn interior<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool, const EXACT: bool>(
    plan: &Plan,
    input: &[T],
    row_window: &AxisWindow,
    first: usize,
    out: &mut [T],
    offsets: &mut [O],
    phases: &mut Phases<T>,
    taps: &mut Vec<u32>,
) -> bool {
    let mut nan = false;
    let width = plan.in_width();
    let cols = &plan.cols;
    let n = out.len();
    let span = cols.stride * (n - 1) + cols.dilation * (cols.size - 1) + 1;
    if INDEX {
        taps.clear();
        taps.resize(n, 0);
    }
    for (row_tap, h) in plan.rows.cells(row_window).enumerate() {
        let row = &input[h * width + first..h * width + first + span];
        let view = phases.split(row, cols.stride);
        for col_tap in 0..cols.size {
            let cells = view.cells(col_tap * cols.dilation, n);
            if row_tap == 0 && col_tap == 0 {
                out.copy_from_slice(cells);
                if !EXACT {
                    nan |= cells.iter().fold(false, |nan, v| nan | v.is_nan());
                }
                continue;
            }
            let wins = |value: T, best: T, nan: &mut bool| {
                if EXACT {
                    E::wins(value, best)
                } else {
                    *nan |= value.is_nan();
                    E::beats(value, best)
                }
            };
            if INDEX {
                let tap = (row_tap * cols.size + col_tap) as u32;
                for ((best, best_tap), &value) in out.iter_mut().zip(taps.iter_mut()).zip(cells) {
                    let better = wins(value, *best, &mut nan);
                    *best = if better { value } else { *best };
                    *best_tap = if better { tap } else { *best_tap };
                }
            } else {
                for (best, &value) in out.iter_mut().zip(cells) {
                    *best = if wins(value, *best, &mut nan) {
                        value
                    } else {
                        *best
                    };
                }
            }
        }
    }
    if INDEX {
        for (offset, &tap) in offsets.iter_mut().zip(taps.iter()) {
            *offset = O::from_usize(tap as usize);
        }
    }
    nan && !EXACT
}

/// Full 2x2 windows, stride 2, by the reference's rule (NaN included): the
/// rows [`pairs`] found NaN in.
fn pairs_exact<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool>(
    top: &[T],
    bottom: &[T],
    out: &mut [T],
    offsets: &mut [O],
) {
    let n = out.len();
    let (top, bottom) = (&top[..2 * n], &bottom[..2 * n]);
    for j in 0..n {
        let mut best = top[2 * j];
        let mut best_tap = 0u32;
        for (tap, value) in [
            (1, top[2 * j + 1]),
            (2, bottom[2 * j]),
            (3, bottom[2 * j + 1]),
        ] {
            if E::wins(value, best) {
                (best, best_tap) = (value, tap);
            }
        }
        out[j] = best;
        if INDEX {
            offsets[j] = O::from_usize(best_tap as usize);
        }
    }
}

/// Full 2x2 windows, stride 2: both rows read in one pass, without the
/// intermediate stores of [`interior`]. Without NaN, the first extreme of a
/// window in window order is the first of its top pair's and its bottom
/// pair's: a tree of three comparisons, each a vector max or min. Returns
/// whether a cell was NaN, in which case the row is not the reference's.
#[inline(always)]
fn pairs<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool>(
    top: &[T],
    bottom: &[T],
    out: &mut [T],
    offsets: &mut [O],
) -> bool {
    let window = |t: &[T], b: &[T]| {
        let (upper, upper_tap) = if E::beats(t[1], t[0]) {
            (t[1], 1u8)
        } else {
            (t[0], 0)
        };
        let (lower, lower_tap) = if E::beats(b[1], b[0]) {
            (b[1], 3u8)
        } else {
            (b[0], 2)
        };
        if E::beats(lower, upper) {
            (lower, lower_tap)
        } else {
            (upper, upper_tap)
        }
    };
    let nan_in = |t: &[T], b: &[T]| t[0].is_nan() | t[1].is_nan() | b[0].is_nan() | b[1].is_nan();
    let mut nan = false;
    let (top, bottom) = (top.chunks_exact(2), bottom.chunks_exact(2));
    if INDEX {
        for (((o, f), t), b) in out.iter_mut().zip(offsets).zip(top).zip(bottom) {
            nan |= nan_in(t, b);
            let (value, tap) = window(t, b);
            *o = value;
            *f = O::from_usize(tap as usize);
        }
    } else {
        for ((o, t), b) in out.iter_mut().zip(top).zip(bottom) {
            nan |= nan_in(t, b);
            *o = window(t, b).0;
        }
    }
    nan
}

/// The windows of one output row outside `interior`, one by one.
fn edges<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool>(
    plan: &Plan,
    input: &[T],
    row_window: &AxisWindow,
    interior: &Range<usize>,
    out: &mut [T],
    offsets: &mut [O],
) {
    let width = plan.in_width();
    let size_w = plan.cols.size;
    let outside = (0..interior.start).chain(interior.end..plan.out_width());
    let (step_h, step_w) = (plan.rows.dilation, plan.cols.dilation);
    for o in outside {
        let col_window = &plan.cols.windows[o];
        let mut best = input[row_window.start * width + col_window.start];
        let mut best_tap = 0;
        for row_tap in 0..row_window.taps {
            let h = row_window.start + row_tap * step_h;
            let row = &input[h * width + col_window.start..(h + 1) * width];
            for col_tap in 0..col_window.taps {
                let value = row[col_tap * step_w];
                if E::wins(value, best) {
                    best = value;
                    best_tap = row_tap * size_w + col_tap;
                }
            }
        }
        out[o] = best;
        if INDEX {
            offsets[o] = O::from_usize(best_tap);
        }
    }
}

/// Backward over every plane: each delta to its window's winner, one
/// delta per window in window order.
///
/// Gathering each gradient cell's deltas instead (for windows one cell
/// apart, summed in registers with masked adds) beat this on one AVX-512
/// machine (AMD Zen 4) but lost on the others measured: on the AVX2 one
/// (Zen 3), into a caller's gradient of (8, 64, 112, 112) at one thread, it
/// took 1.6x the time at 3x3/s1/p1 and 1.3x at 2x2/s1, and on the AVX-512
/// Zen 5 one 2.1x and 1.9x.
fn backward<T: Float + Send + Sync, O: Offset>(
    delta: &ArrayRef<T, Ix4>,
    plan: &Plan,
    offsets: &[O],
    grad: Out<'_, T>,
) {
    let out_plane = plan.out_height() * plan.out_width();
    // Bands of input rows would share the rows of overlapping windows; split
    // by planes only, so that no two threads write one cell.
    for_each_plane(
        delta,
        grad,
        plan.in_height(),
        false,
        |plane, delta, _, _, mut grad| {
            let offsets = &offsets[plane * out_plane..(plane + 1) * out_plane];
            if plan.rows.disjoint() && plan.cols.disjoint() {
                // every cell written once: the whole plane at once
                backward_disjoint(plan, delta, offsets, grad.all());
            } else {
                backward_overlapping(plan, delta, offsets, &mut grad);
            }
        },
    );
}

/// Windows that share no cell. Full 2x2 windows with stride 2 write every
/// gradient cell exactly once; elsewhere each row is zeroed while in cache
/// just before its deltas land, so no zeroing pass runs over the array.
fn backward_disjoint<T: Float, O: Offset>(plan: &Plan, delta: &[T], offsets: &[O], grad: &mut [T]) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let landing = Landing::new(plan);
    let put = |cell: &mut T, d: T| *cell = T::zero() + d;
    let interior = plan.cols.interior();
    let pattern_2x2s2 = dense(&plan.rows) && dense(&plan.cols) && !interior.is_empty();
    let mut next_row = 0;
    for ((row_window, delta_row), offset_row) in plan
        .rows
        .windows
        .iter()
        .zip(delta.chunks_exact(out_width))
        .zip(offsets.chunks_exact(out_width))
    {
        grad[next_row * width..row_window.start * width].fill(T::zero());
        next_row = plan.rows.last_cell(row_window) + 1;
        let rows = &mut grad[row_window.start * width..next_row * width];
        if pattern_2x2s2 && row_window.taps == 2 {
            let (top, bottom) = rows.split_at_mut(width);
            let first = plan.cols.windows[interior.start].start;
            let last = first + 2 * interior.len();
            top[..first].fill(T::zero());
            top[last..].fill(T::zero());
            bottom[..first].fill(T::zero());
            bottom[last..].fill(T::zero());
            unpairs(
                &mut top[first..last],
                &mut bottom[first..last],
                &delta_row[interior.clone()],
                &offset_row[interior.clone()],
            );
            for o in (0..interior.start).chain(interior.end..out_width) {
                landing.one(o, delta_row[o], offset_row[o], rows, put);
            }
        } else {
            rows.fill(T::zero());
            landing.row(delta_row, offset_row, rows, put);
        }
    }
    grad[next_row * width..].fill(T::zero());
}

/// Full 2x2 windows, stride 2: each delta to its winner, zeros elsewhere,
/// every cell written once.
#[inline(always)]
fn unpairs<T: Float, O: Offset>(top: &mut [T], bottom: &mut [T], delta: &[T], offsets: &[O]) {
    // one row at a time, so each loop writes one contiguous run
    for (row, first_tap) in [(top, 0u32), (bottom, 2u32)] {
        for (pair, (&d, &offset)) in row.chunks_exact_mut(2).zip(delta.iter().zip(offsets)) {
            // as added to a zeroed gradient: -0 becomes +0
            let (d, offset) = (T::zero() + d, offset.to_usize() as u32);
            pair[0] = if offset == first_tap { d } else { T::zero() };
            pair[1] = if offset == first_tap + 1 {
                d
            } else {
                T::zero()
            };
        }
    }
}

/// Overlapping or dilated windows: rows are zeroed just before the first
/// window that reaches them, so the zeros are written while in cache (not
/// at all when `grad` holds zeros already), and deltas accumulate in window
/// order.
fn backward_overlapping<T: Float, O: Offset>(
    plan: &Plan,
    delta: &[T],
    offsets: &[O],
    grad: &mut Part<'_, T>,
) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let landing = Landing::new(plan);
    let add = |cell: &mut T, d: T| *cell = *cell + d;
    let row_step = plan.rows.dilation * width;
    for ((row_window, delta_row), offset_row) in plan
        .rows
        .windows
        .iter()
        .zip(delta.chunks_exact(out_width))
        .zip(offsets.chunks_exact(out_width))
    {
        let grad = grad.zeros_to((plan.rows.last_cell(row_window) + 1) * width);
        let cells = &mut grad[row_window.start * width..];
        if landing.pairs {
            landing.row_pairs(delta_row, offset_row, cells, row_window.taps, row_step);
        } else {
            landing.row(delta_row, offset_row, cells, add);
        }
    }
    grad.zeros_to(plan.in_height() * width);
}

/// Where the deltas of an output row land: on each window's winner, which
/// a [`CellTable`] finds from its offset.
struct Landing<'p> {
    cols: &'p AxisPlan,
    table: CellTable,
    /// The full windows, the first starting at column `first`, where the
    /// table holds every offset: one regular run, for [`land_run`].
    run: Option<(Range<usize>, usize)>,
    /// Whether the windows are three cells wide at stride 2, `run` is set
    /// and long enough for the wide instruction sets, and the CPU has them:
    /// [`row_pairs`](Self::row_pairs) takes the run (in the portable build
    /// one delta at a time was the faster).
    pairs: bool,
}

impl<'p> Landing<'p> {
    fn new(plan: &'p Plan) -> Self {
        let (cols, table) = (&plan.cols, CellTable::new(plan));
        let windows = cols.interior();
        let run = match cols.windows.get(windows.start) {
            Some(window) if !windows.is_empty() && table.distances().is_some() => {
                Some((windows, window.start))
            }
            _ => None,
        };
        let pairs = (cols.size, cols.stride, cols.dilation) == (3, 2, 1)
            && run
                .as_ref()
                .is_some_and(|(windows, _)| isa::widens(windows.len()));
        Landing {
            cols,
            table,
            run,
            pairs,
        }
    }

    /// [`row`](Self::row), adding, for windows three wide at stride 2
    /// (`pairs`) over `taps` rows `row_step` apart: the run's deltas added
    /// a window row at a time by [`land_pairs`], in the same order.
    fn row_pairs<T: Float, O: Offset>(
        &self,
        deltas: &[T],
        offsets: &[O],
        cells: &mut [T],
        taps: usize,
        row_step: usize,
    ) {
        let Some((windows, first)) = &self.run else {
            unreachable!("pairs need a run");
        };
        let add = |cell: &mut T, d: T| *cell = *cell + d;
        let one = |o: usize, cells: &mut [T]| self.one(o, deltas[o], offsets[o], cells, add);
        (0..windows.start).for_each(|o| one(o, cells));
        let (run_deltas, run_offsets) = (&deltas[windows.clone()], &offsets[windows.clone()]);
        for r in 0..taps {
            let row = &mut cells[r * row_step + first..];
            let row = &mut row[..2 * run_deltas.len() + 1];
            isa::wide(
                run_deltas.len(),
                #[inline(always)]
                || land_pairs(row, run_deltas, run_offsets, 3 * r),
            );
        }
        (windows.end..deltas.len()).for_each(|o| one(o, cells));
    }

    /// Window `o`'s delta `d` onto its winner, by `land`: `cells` start at
    /// the first column of the window's first row.
    #[inline(always)]
    fn one<T, O: Offset>(
        &self,
        o: usize,
        d: T,
        offset: O,
        cells: &mut [T],
        land: impl Fn(&mut T, T),
    ) {
        let cell = self.cols.windows[o].start + self.table.distance(offset.to_usize());
        land(&mut cells[cell], d);
    }

    /// Every delta of an output row onto its winner, by `land`, in window
    /// order: `cells` start at the first column of the windows' first row.
    #[inline(always)]
    fn row<T: Copy, O: Offset>(
        &self,
        deltas: &[T],
        offsets: &[O],
        cells: &mut [T],
        land: impl Fn(&mut T, T) + Copy,
    ) {
        let one = |o: usize, cells: &mut [T]| self.one(o, deltas[o], offsets[o], cells, land);
        match (&self.run, self.table.distances()) {
            (Some((windows, first)), Some(distances)) => {
                (0..windows.start).for_each(|o| one(o, cells));
                let (run, stride) = (windows.clone(), self.cols.stride);
                let (run_deltas, run_offsets) = (&deltas[run.clone()], &offsets[run]);
                land_run(
                    &mut cells[*first..],
                    stride,
                    run_deltas,
                    run_offsets,
                    distances,
                    land,
                );
                (windows.end..deltas.len()).for_each(|o| one(o, cells));
            }
            _ => (0..deltas.len()).for_each(|o| one(o, cells)),
        }
    }
}

/// The deltas of full windows three wide at stride 2, the first starting at
/// `cells[0]`, whose winners lie in the window row of offsets `base`,
/// `base + 1` and `base + 2`, added to that row's cells in window order.
/// A window's first cell is the last of the window before, so the cells
/// from the second window's first on go in pairs, each the window before's
/// last delta, then its own first and second: in blocks of `L` pairs, the
/// deltas that land selected into two arrays of interleaved pairs
/// (zeros elsewhere) and added to the cells as `(cell + before) + own`,
/// the reference's order. Adding a zero changes no cell, as a gradient that
/// starts at +0 never holds -0. One delta at a time took a dependent load,
/// add and store of one cell each; read as pairs of cells, the compiler
/// gathered them.
#[inline(always)]
fn land_pairs<T: Float, O: Offset>(cells: &mut [T], deltas: &[T], offsets: &[O], base: usize) {
    const L: usize = 16;
    let n = deltas.len();
    if n == 0 {
        return;
    }
    let taps = [base, base + 1, base + 2].map(O::from_usize);
    let land = |cell: &mut T, d: T, offset: O, tap: usize| {
        if offset == taps[tap] {
            *cell = *cell + d;
        }
    };
    let (cells, offsets) = (&mut cells[..2 * n + 1], &offsets[..n]);
    // the first window's first two cells, and the last one's last
    land(&mut cells[0], deltas[0], offsets[0], 0);
    land(&mut cells[1], deltas[0], offsets[0], 1);
    land(&mut cells[2 * n], deltas[n - 1], offsets[n - 1], 2);
    // pair `m`: window `m`'s last and window `m + 1`'s first two
    let pairs = &mut cells[2..2 * n];
    let blocks = (n - 1) / L;
    let pick = |d: T, offset: O, tap: usize| if offset == taps[tap] { d } else { T::zero() };
    for b in 0..blocks {
        let m = b * L;
        let (before, own) = (
            (&deltas[m..m + L], &offsets[m..m + L]),
            (&deltas[m + 1..m + 1 + L], &offsets[m + 1..m + 1 + L]),
        );
        let mut last = [T::zero(); 2 * L];
        let mut first = [T::zero(); 2 * L];
        for i in 0..L {
            last[2 * i] = pick(before.0[i], before.1[i], 2);
            last[2 * i + 1] = T::zero();
            first[2 * i] = pick(own.0[i], own.1[i], 0);
            first[2 * i + 1] = pick(own.0[i], own.1[i], 1);
        }
        let block = &mut pairs[2 * m..2 * (m + L)];
        for k in 0..2 * L {
            block[k] = block[k] + last[k] + first[k];
        }
    }
    for m in blocks * L..n - 1 {
        land(&mut pairs[2 * m], deltas[m], offsets[m], 2);
        land(&mut pairs[2 * m], deltas[m + 1], offsets[m + 1], 0);
        land(&mut pairs[2 * m + 1], deltas[m + 1], offsets[m + 1], 1);
    }
}

/// Full windows `stride` columns apart, the first starting at `cells[0]`:
/// each delta onto its winner, `distances[offset]` cells from its window's
/// first, by `land`. Out of line, so that the loop holds its few values in
/// registers. Inside the general loop, which read window starts and the
/// table from memory, the 3x3/s2/p1 max backward of (8, 64, 112, 112) into
/// a caller's gradient took 1.17x the time on the 2-core development
/// machine (2.48 against 2.11 ms), 7x7/s1/p3 1.13x and 3x3/s3 1.16x.
#[inline(never)]
fn land_run<T: Copy, O: Offset>(
    cells: &mut [T],
    stride: usize,
    deltas: &[T],
    offsets: &[O],
    distances: &[usize],
    land: impl Fn(&mut T, T),
) {
    for (j, (&d, &offset)) in deltas.iter().zip(offsets).enumerate() {
        land(&mut cells[j * stride + distances[offset.to_usize()]], d);
    }
}
