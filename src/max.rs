//! Max pooling: forward with or without argmax, and backward by the argmax.
//!
//! The kernels work a row at a time: each input row of a window row is
//! reduced into the output row, which stays in L1 cache. Full windows in the
//! middle of a row take a loop specialized for common sizes and strides;
//! windows clipped by padding take the general loop.

use std::ops::Range;

use ndarray::{Array4, ArrayRef, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::argmax::{Argmax, Offset, Offsets};
use crate::geometry::{AxisPlan, AxisWindow, Plan, Window2d, output_shape};
use crate::layout::{
    check_shape, plane_len, plane_slice, plane_view, planes, shape4, standard_slice_mut,
    with_standard_layout,
};
use crate::parallel::{Task, for_each_band};

/// Max pooling forward: the largest value of every window and its argmax.
///
/// `x` is any NCHW array: owned, a view, or non-contiguous. The argmax is
/// PyTorch's: within each `(n, c)` plane, the flat index `h * W + w` of the
/// winning input cell.
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
pub fn max_pool2d<T: Float + Send + Sync>(
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
pub fn max_pool2d_argmax<T: Float + Send + Sync>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<(Array4<T>, Argmax), PoolError> {
    let shape = window.output_shape(shape4(x))?;
    let mut output = Array4::zeros(shape);
    let mut argmax = Argmax::default();
    max_pool2d_into(x, window, &mut output, &mut argmax)?;
    Ok((output, argmax))
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
pub fn max_pool2d_into<T: Float + Send + Sync>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
    argmax: &mut Argmax,
) -> Result<(), PoolError> {
    let input_shape = shape4(x);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    check_shape("output", out, shape)?;
    argmax.prepare(window, &plan, input_shape, shape)?;
    with_standard_layout(out, |out| match &mut argmax.offsets {
        Offsets::U8(offsets) => forward(x, &plan, out, offsets),
        Offsets::U16(offsets) => forward(x, &plan, out, offsets),
        Offsets::U32(offsets) => forward(x, &plan, out, offsets),
    });
    Ok(())
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
pub fn max_pool2d_without_indices<T: Float + Send + Sync>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<Array4<T>, PoolError> {
    let shape = window.output_shape(shape4(x))?;
    let mut output = Array4::zeros(shape);
    max_pool2d_without_indices_into(x, window, &mut output)?;
    Ok(output)
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
pub fn max_pool2d_without_indices_into<T: Float + Send + Sync>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let input_shape = shape4(x);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    check_shape("output", out, shape)?;
    with_standard_layout(out, |out| forward::<T, u8>(x, &plan, out, &mut []));
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
    let mut grad = Array4::zeros(argmax.input_shape);
    max_pool2d_backward_argmax_into(delta, argmax, &mut grad)?;
    Ok(grad)
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
    with_standard_layout(grad, |grad| match &argmax.offsets {
        Offsets::U8(offsets) => backward(delta, &argmax.plan, offsets, grad),
        Offsets::U16(offsets) => backward(delta, &argmax.plan, offsets, grad),
        Offsets::U32(offsets) => backward(delta, &argmax.plan, offsets, grad),
    });
    Ok(())
}

/// Forward over every plane; `offsets` empty means no argmax.
fn forward<T: Float + Send + Sync, O: Offset>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    out: &mut [T],
    offsets: &mut [O],
) {
    let channels = x.shape()[1];
    let planes = x.shape()[0] * channels;
    let with_index = !offsets.is_empty();
    for_each_band(
        out,
        offsets,
        planes,
        plan.out_height(),
        x.len(),
        true,
        |task| {
            let Task {
                plane,
                rows,
                first: out,
                second: offsets,
            } = task;
            let mut scratch = Vec::new();
            let input = plane_slice(plane_view(x, plane, channels), &mut scratch);
            if with_index {
                band::<T, O, true>(plan, input, rows, out, offsets);
            } else {
                band::<T, O, false>(plan, input, rows, out, offsets);
            }
        },
    );
}

/// Output rows `rows` of one plane.
fn band<T: Float, O: Offset, const INDEX: bool>(
    plan: &Plan,
    input: &[T],
    rows: Range<usize>,
    out: &mut [T],
    offsets: &mut [O],
) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let size_w = plan.cols.size;
    for (i, row_window) in plan.rows.windows[rows].iter().enumerate() {
        let out_row = &mut out[i * out_width..(i + 1) * out_width];
        let offset_row: &mut [O] = if INDEX {
            &mut offsets[i * out_width..(i + 1) * out_width]
        } else {
            &mut []
        };
        for (tap, h) in plan.rows.cells(row_window).enumerate() {
            let row = &input[h * width..(h + 1) * width];
            if tap == 0 {
                max_row::<T, O, INDEX, true>(&plan.cols, row, 0, out_row, offset_row);
            } else {
                max_row::<T, O, INDEX, false>(&plan.cols, row, tap * size_w, out_row, offset_row);
            }
        }
    }
}

/// Whether `candidate`, coming after `best` in window order, replaces it:
/// a larger value, or any NaN (so the last NaN wins, as in PyTorch).
#[inline(always)]
fn wins<T: Float>(candidate: T, best: T) -> bool {
    candidate > best || candidate.is_nan()
}

/// Reduces one input row into the output row: for every window, the best of
/// its cells in `row`, merged into `acc` (or written, on a window's first
/// row). `base` is the offset of the row's first cell within the window.
#[inline(always)]
fn max_row<T: Float, O: Offset, const INDEX: bool, const FIRST: bool>(
    cols: &AxisPlan,
    row: &[T],
    base: usize,
    acc: &mut [T],
    acc_offsets: &mut [O],
) {
    let interior = cols.interior();
    let general = |range: Range<usize>, acc: &mut [T], acc_offsets: &mut [O]| {
        for o in range {
            let window = &cols.windows[o];
            let (value, tap) = best_of(row, window, cols.dilation);
            merge::<T, O, INDEX, FIRST>(acc, acc_offsets, o, value, base + tap);
        }
    };
    general(0..interior.start, acc, acc_offsets);
    if !interior.is_empty() {
        let start = cols.windows[interior.start].start;
        let (acc_mid, offsets_mid) = (
            &mut acc[interior.clone()],
            if INDEX {
                &mut acc_offsets[interior.clone()]
            } else {
                &mut []
            },
        );
        match (cols.size, cols.stride, cols.dilation) {
            (2, 2, 1) => full::<T, O, 2, 2, INDEX, FIRST>(row, start, base, acc_mid, offsets_mid),
            (3, 2, 1) => full::<T, O, 3, 2, INDEX, FIRST>(row, start, base, acc_mid, offsets_mid),
            (2, 1, 1) => full::<T, O, 2, 1, INDEX, FIRST>(row, start, base, acc_mid, offsets_mid),
            (3, 1, 1) => full::<T, O, 3, 1, INDEX, FIRST>(row, start, base, acc_mid, offsets_mid),
            _ => general(interior.clone(), acc, acc_offsets),
        }
    }
    general(interior.end..cols.windows.len(), acc, acc_offsets);
}

/// The best real cell of `window` in `row`, and its tap number.
#[inline(always)]
fn best_of<T: Float>(row: &[T], window: &AxisWindow, dilation: usize) -> (T, usize) {
    let mut best = row[window.start];
    let mut best_tap = 0;
    for tap in 1..window.taps {
        let value = row[window.start + tap * dilation];
        if wins(value, best) {
            best = value;
            best_tap = tap;
        }
    }
    (best, best_tap)
}

#[inline(always)]
fn merge<T: Float, O: Offset, const INDEX: bool, const FIRST: bool>(
    acc: &mut [T],
    acc_offsets: &mut [O],
    o: usize,
    value: T,
    offset: usize,
) {
    if FIRST || wins(value, acc[o]) {
        acc[o] = value;
        if INDEX {
            acc_offsets[o] = O::from_usize(offset);
        }
    }
}

/// Full windows of `K` dense cells, `S` apart, the first starting at
/// `row[start]`.
#[inline(always)]
fn full<
    T: Float,
    O: Offset,
    const K: usize,
    const S: usize,
    const INDEX: bool,
    const FIRST: bool,
>(
    row: &[T],
    start: usize,
    base: usize,
    acc: &mut [T],
    acc_offsets: &mut [O],
) {
    let n = acc.len();
    let row = &row[start..start + S * (n - 1) + K];
    for j in 0..n {
        let cells: &[T; K] = row[j * S..j * S + K].try_into().expect("K cells");
        let mut best = cells[0];
        let mut best_tap = 0;
        for (tap, &value) in cells.iter().enumerate().skip(1) {
            let better = wins(value, best);
            best = if better { value } else { best };
            best_tap = if better { tap } else { best_tap };
        }
        let take = FIRST || wins(best, acc[j]);
        acc[j] = if take { best } else { acc[j] };
        if INDEX {
            acc_offsets[j] = if take {
                O::from_usize(base + best_tap)
            } else {
                acc_offsets[j]
            };
        }
    }
}

/// Backward over every plane: each delta to its window's winner.
fn backward<T: Float + Send + Sync, O: Offset>(
    delta: &ArrayRef<T, Ix4>,
    plan: &Plan,
    offsets: &[O],
    grad: &mut [T],
) {
    let channels = delta.shape()[1];
    let planes = delta.shape()[0] * channels;
    let out_plane = plan.out_height() * plan.out_width();
    let elements = grad.len();
    // Bands of input rows would share the rows of overlapping windows; split
    // by planes only, so that no two threads write one cell.
    for_each_band(
        grad,
        &mut [] as &mut [u8],
        planes,
        plan.in_height(),
        elements,
        false,
        |task| {
            let offsets = &offsets[task.plane * out_plane..(task.plane + 1) * out_plane];
            let mut scratch = Vec::new();
            let delta = plane_slice(plane_view(delta, task.plane, channels), &mut scratch);
            if plan.rows.disjoint() && plan.cols.disjoint() {
                backward_disjoint(plan, delta, offsets, task.first);
            } else {
                backward_overlapping(plan, delta, offsets, task.first);
            }
        },
    );
}

/// Windows that share no cell: every gradient cell is written exactly once,
/// with its delta or zero, and no zero pass comes first.
fn backward_disjoint<T: Float, O: Offset>(plan: &Plan, delta: &[T], offsets: &[O], grad: &mut [T]) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let size_w = plan.cols.size;
    let mut next_row = 0;
    for ((row_window, delta_row), offset_row) in plan
        .rows
        .windows
        .iter()
        .zip(delta.chunks_exact(out_width))
        .zip(offsets.chunks_exact(out_width))
    {
        grad[next_row * width..row_window.start * width].fill(T::zero());
        for (tap, h) in plan.rows.cells(row_window).enumerate() {
            let grad_row = &mut grad[h * width..(h + 1) * width];
            let mut next_col = 0;
            for ((col_window, &d), &offset) in
                plan.cols.windows.iter().zip(delta_row).zip(offset_row)
            {
                grad_row[next_col..col_window.start].fill(T::zero());
                let cells = &mut grad_row[col_window.start..col_window.start + col_window.taps];
                let base = tap * size_w;
                for (j, cell) in cells.iter_mut().enumerate() {
                    *cell = if offset.to_usize() == base + j {
                        d
                    } else {
                        T::zero()
                    };
                }
                next_col = col_window.start + col_window.taps;
            }
            grad_row[next_col..].fill(T::zero());
        }
        next_row = plan.rows.last_cell(row_window) + 1;
    }
    grad[next_row * width..].fill(T::zero());
}

/// Overlapping or dilated windows: rows are zeroed just before the first
/// window that reaches them, so the zeros are written while in cache, and
/// deltas accumulate in window order.
fn backward_overlapping<T: Float, O: Offset>(
    plan: &Plan,
    delta: &[T],
    offsets: &[O],
    grad: &mut [T],
) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let (size_w, dilation_h, dilation_w) = (plan.cols.size, plan.rows.dilation, plan.cols.dilation);
    let mut zeroed = 0;
    for ((row_window, delta_row), offset_row) in plan
        .rows
        .windows
        .iter()
        .zip(delta.chunks_exact(out_width))
        .zip(offsets.chunks_exact(out_width))
    {
        let last = plan.rows.last_cell(row_window) + 1;
        if last > zeroed {
            grad[zeroed * width..last * width].fill(T::zero());
            zeroed = last;
        }
        for ((col_window, &d), &offset) in plan.cols.windows.iter().zip(delta_row).zip(offset_row) {
            let offset = offset.to_usize();
            let h = row_window.start + offset / size_w * dilation_h;
            let w = col_window.start + offset % size_w * dilation_w;
            grad[h * width + w] = grad[h * width + w] + d;
        }
    }
    grad[zeroed * width..].fill(T::zero());
}
