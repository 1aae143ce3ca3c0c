//! Max pooling: forward with argmax, and backward by the argmax.

use ndarray::{Array4, ArrayRef, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::geometry::{Plan, Window2d, output_shape};
use crate::layout::{check_shape, for_each_plane, planes, shape4, standard_slice_mut};

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
pub fn max_pool2d<T: Float>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<(Array4<T>, Array4<i64>), PoolError> {
    let input_shape = shape4(x);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    let mut output = Array4::zeros(shape);
    let mut indices = Array4::zeros(shape);
    let plane_len = plan.out_height() * plan.out_width();
    let mut out_planes = standard_slice_mut(&mut output).chunks_exact_mut(plane_len);
    let mut index_planes = standard_slice_mut(&mut indices).chunks_exact_mut(plane_len);
    for_each_plane(x, |input| {
        if let (Some(out), Some(index)) = (out_planes.next(), index_planes.next()) {
            max_plane(&plan, input, out, index);
        }
    });
    Ok((output, indices))
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
pub fn max_pool2d_backward<T: Float>(
    delta: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
    input_shape: [usize; 4],
    window: &Window2d,
) -> Result<Array4<T>, PoolError> {
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    check_shape("delta", delta, shape)?;
    check_shape("indices", indices, shape)?;
    let mut grad = Array4::zeros(input_shape);
    let plane_len = input_shape[2] * input_shape[3];
    let grad_planes = standard_slice_mut(&mut grad).chunks_exact_mut(plane_len);
    for ((grad_plane, delta_plane), index_plane) in
        grad_planes.zip(planes(delta)).zip(planes(indices))
    {
        for (&d, &index) in delta_plane.iter().zip(index_plane.iter()) {
            let cell = usize::try_from(index)
                .ok()
                .filter(|&cell| cell < plane_len)
                .ok_or(PoolError::IndexOutOfBounds { index, plane_len })?;
            grad_plane[cell] = grad_plane[cell] + d;
        }
    }
    Ok(grad)
}

/// Max of every window of one plane.
fn max_plane<T: Float>(plan: &Plan, input: &[T], out: &mut [T], index: &mut [i64]) {
    let width = plan.in_width();
    let out_width = plan.out_width();
    let rows = plan.rows.windows.iter();
    for ((row_window, out_row), index_row) in rows
        .zip(out.chunks_exact_mut(out_width))
        .zip(index.chunks_exact_mut(out_width))
    {
        for ((col_window, out_cell), index_cell) in
            plan.cols.windows.iter().zip(out_row).zip(index_row)
        {
            let mut best = T::neg_infinity();
            let mut best_cell = row_window.start * width + col_window.start;
            for h in plan.rows.cells(row_window) {
                let row = &input[h * width..(h + 1) * width];
                for w in plan.cols.cells(col_window) {
                    let value = row[w];
                    if value > best || value.is_nan() {
                        best = value;
                        best_cell = h * width + w;
                    }
                }
            }
            *out_cell = best;
            *index_cell = best_cell as i64;
        }
    }
}
