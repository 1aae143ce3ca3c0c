//! Mean (average) pooling: forward, and backward that spreads each delta
//! evenly over its window.

use ndarray::{Array4, ArrayRef, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::geometry::{MeanDivisor, Plan, Window2d, output_shape};
use crate::layout::{check_shape, for_each_plane, shape4, standard_slice_mut};

/// Mean pooling forward: the sum of every window's real input cells divided
/// by the window's divisor (see [`MeanDivisor`]).
///
/// `x` is any NCHW array: owned, a view, or non-contiguous. Padding adds
/// zero to the sum. The sum runs in row-major window order, in `T`.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{mean_pool2d, MeanDivisor, PoolError, Window2d};
///
/// let x = array![[[[1., 3., 2., 1.], [4., 2., 0., 1.], [1., 0., 3., 2.], [2., 1., 4., 3.]]]];
/// let y = mean_pool2d(&x, &Window2d::new(2, 2), MeanDivisor::default())?;
/// assert_eq!(y, array![[[[2.5, 1.], [1., 3.]]]]);
///
/// // with padding, the corner window holds one real cell and three of padding
/// let padded = Window2d::new(2, 2).with_padding(1);
/// let y = mean_pool2d(&x, &padded, MeanDivisor::PaddedWindow)?;
/// assert_eq!(y[[0, 0, 0, 0]], 1. / 4.);
/// let y = mean_pool2d(&x, &padded, MeanDivisor::RealCells)?;
/// assert_eq!(y[[0, 0, 0, 0]], 1.);
/// # Ok::<(), PoolError>(())
/// ```
pub fn mean_pool2d<T: Float>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    divisor: MeanDivisor,
) -> Result<Array4<T>, PoolError> {
    let input_shape = shape4(x);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    let mut output = Array4::zeros(shape);
    let plane_len = plan.out_height() * plan.out_width();
    let mut out_planes = standard_slice_mut(&mut output).chunks_exact_mut(plane_len);
    for_each_plane(x, |input| {
        if let Some(out) = out_planes.next() {
            mean_plane(&plan, divisor, input, out);
        }
    });
    Ok(output)
}

/// Mean pooling backward: each window's delta, divided by the window's
/// divisor, goes to every real input cell of the window.
///
/// `input_shape` is the shape of the forward's input, and the result has
/// that shape. Window and divisor come from the same computation as
/// [`mean_pool2d`]'s, so forward and backward are adjoint. Where windows
/// overlap, the shares add up.
///
/// # Errors
///
/// - every geometry error of [`Window2d::output_shape`] for `input_shape`;
/// - [`PoolError::ShapeMismatch`] if `delta` is not shaped like the forward's
///   output.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{mean_pool2d_backward, MeanDivisor, PoolError, Window2d};
///
/// let delta = array![[[[1., 2.], [3., 4.]]]];
/// let dx = mean_pool2d_backward(&delta, [1, 1, 4, 4], &Window2d::new(2, 2), MeanDivisor::default())?;
/// assert_eq!(
///     dx,
///     array![[[
///         [0.25, 0.25, 0.5, 0.5],
///         [0.25, 0.25, 0.5, 0.5],
///         [0.75, 0.75, 1., 1.],
///         [0.75, 0.75, 1., 1.],
///     ]]]
/// );
/// # Ok::<(), PoolError>(())
/// ```
pub fn mean_pool2d_backward<T: Float>(
    delta: &ArrayRef<T, Ix4>,
    input_shape: [usize; 4],
    window: &Window2d,
    divisor: MeanDivisor,
) -> Result<Array4<T>, PoolError> {
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    check_shape("delta", delta, shape)?;
    let mut grad = Array4::zeros(input_shape);
    let plane_len = input_shape[2] * input_shape[3];
    let mut grad_planes = standard_slice_mut(&mut grad).chunks_exact_mut(plane_len);
    for_each_plane(delta, |delta| {
        if let Some(grad) = grad_planes.next() {
            mean_backward_plane(&plan, divisor, delta, grad);
        }
    });
    Ok(grad)
}

fn to_float<T: Float>(n: usize) -> T {
    T::from(n).unwrap_or_else(T::infinity)
}

/// Mean of every window of one plane.
fn mean_plane<T: Float>(plan: &Plan, divisor: MeanDivisor, input: &[T], out: &mut [T]) {
    let width = plan.in_width();
    let out_width = plan.out_width();
    for (row_window, out_row) in plan
        .rows
        .windows
        .iter()
        .zip(out.chunks_exact_mut(out_width))
    {
        for (col_window, out_cell) in plan.cols.windows.iter().zip(out_row) {
            let mut sum = T::zero();
            for h in plan.rows.cells(row_window) {
                let row = &input[h * width..(h + 1) * width];
                for w in plan.cols.cells(col_window) {
                    sum = sum + row[w];
                }
            }
            *out_cell = sum / to_float(Plan::divisor(row_window, col_window, divisor));
        }
    }
}

/// Spreads one plane of deltas over the windows' cells.
fn mean_backward_plane<T: Float>(plan: &Plan, divisor: MeanDivisor, delta: &[T], grad: &mut [T]) {
    let width = plan.in_width();
    let out_width = plan.out_width();
    for (row_window, delta_row) in plan.rows.windows.iter().zip(delta.chunks_exact(out_width)) {
        for (col_window, &d) in plan.cols.windows.iter().zip(delta_row) {
            let share = d / to_float(Plan::divisor(row_window, col_window, divisor));
            for h in plan.rows.cells(row_window) {
                let row = &mut grad[h * width..(h + 1) * width];
                for w in plan.cols.cells(col_window) {
                    row[w] = row[w] + share;
                }
            }
        }
    }
}
