//! Max unpooling, and the argmax in the index formats of ONNX and
//! TensorFlow.

use ndarray::{Array4, ArrayRef, Ix4};
use num_traits::Zero;

use crate::PoolError;
use crate::geometry::Window2d;
use crate::layout::{check_shape, shape4};

/// The default output size of [`max_unpool2d`] for pooled planes of
/// `pooled_height x pooled_width`, as PyTorch's `MaxUnpool2d` computes it:
/// `(pooled - 1) * stride - pad_begin - pad_end + dilation * (size - 1) + 1`
/// along each axis (SAME padding counts as none).
///
/// # Errors
///
/// [`PoolError::Overflow`] if the size does not fit `usize`, or the padding
/// exceeds the rest.
///
/// # Examples
///
/// ```
/// use ndarray_pooling::{max_unpool2d_size, Window2d};
///
/// assert_eq!(max_unpool2d_size(&Window2d::new(2, 2), 3, 4)?, (6, 8));
/// assert_eq!(max_unpool2d_size(&Window2d::new(3, 2).with_padding(1), 4, 4)?, (7, 7));
/// # Ok::<(), ndarray_pooling::PoolError>(())
/// ```
pub fn max_unpool2d_size(
    window: &Window2d,
    pooled_height: usize,
    pooled_width: usize,
) -> Result<(usize, usize), PoolError> {
    window.validate()?;
    let padding = window.padding;
    let axis = |pooled: usize, size: usize, stride: usize, dilation: usize, pad: usize| {
        pooled
            .saturating_sub(1)
            .checked_mul(stride)
            .and_then(|v| v.checked_add((size - 1).checked_mul(dilation)? + 1))
            .and_then(|v| v.checked_sub(pad))
            .ok_or(PoolError::Overflow {
                what: "unpooled size",
            })
    };
    Ok((
        axis(
            pooled_height,
            window.size.height,
            window.stride.height,
            window.dilation.height,
            padding.top() + padding.bottom(),
        )?,
        axis(
            pooled_width,
            window.size.width,
            window.stride.width,
            window.dilation.width,
            padding.left() + padding.right(),
        )?,
    ))
}

/// Max unpooling (PyTorch's `MaxUnpool2d`, ONNX's `MaxUnpool`): each pooled
/// value goes back to the cell its index names, in a plane of
/// `output_size = (height, width)`; every other cell is zero.
///
/// `indices` are PyTorch's, as [`max_pool2d`](crate::max_pool2d) returns
/// them. Where two pooled values name one cell (overlapping windows that
/// share their maximum), the one later in row-major order is kept; both
/// carry the same value when they come from one max pooling.
///
/// # Errors
///
/// [`PoolError::ShapeMismatch`] if `indices` is shaped unlike `values`, and
/// [`PoolError::IndexOutOfBounds`] for an index outside the output plane.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_pool2d, max_unpool2d, PoolError, Window2d};
///
/// let x = array![[[[1f32, 3.], [4., 2.]]]];
/// let (y, indices) = max_pool2d(&x, &Window2d::new(2, 2))?;
/// assert_eq!(max_unpool2d(&y, &indices, (2, 2))?, array![[[[0., 0.], [4., 0.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_unpool2d<T: Copy + Zero>(
    values: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
    output_size: (usize, usize),
) -> Result<Array4<T>, PoolError> {
    let shape = shape4(values);
    check_shape("indices", indices, shape)?;
    let (height, width) = output_size;
    let plane_len = height.checked_mul(width).ok_or(PoolError::Overflow {
        what: "unpooled plane",
    })?;
    crate::geometry::output_shape([shape[0], shape[1], 1, 1], height, width)?;
    let mut out = Array4::zeros((shape[0], shape[1], height, width));
    for ((n, c, i, j), &index) in indices.indexed_iter() {
        let cell = cell_of(index, plane_len)?;
        out[[n, c, cell / width, cell % width]] = values[[n, c, i, j]];
    }
    Ok(out)
}

/// Max unpooling backward: the gradient of each pooled value is the delta
/// at the cell its index names (a gather by the same indices).
///
/// # Errors
///
/// [`PoolError::IndexOutOfBounds`] for an index outside `delta`'s planes.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_unpool2d_backward, PoolError};
///
/// let delta = array![[[[1f32, 2.], [3., 4.]]]];
/// assert_eq!(max_unpool2d_backward(&delta, &array![[[[2i64]]]])?, array![[[[3.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_unpool2d_backward<T: Copy + Zero>(
    delta: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
) -> Result<Array4<T>, PoolError> {
    let [n, c, height, width] = shape4(delta);
    let [index_n, index_c, ..] = shape4(indices);
    if (index_n, index_c) != (n, c) {
        return Err(PoolError::ShapeMismatch {
            what: "indices",
            expected: [n, c, indices.shape()[2], indices.shape()[3]],
            found: shape4(indices),
        });
    }
    let plane_len = height * width;
    let mut grad = Array4::zeros(indices.raw_dim());
    for ((b, ch, i, j), &index) in indices.indexed_iter() {
        let cell = cell_of(index, plane_len)?;
        grad[[b, ch, i, j]] = delta[[b, ch, cell / width, cell % width]];
    }
    Ok(grad)
}

fn cell_of(index: i64, plane_len: usize) -> Result<usize, PoolError> {
    usize::try_from(index)
        .ok()
        .filter(|&cell| cell < plane_len)
        .ok_or(PoolError::IndexOutOfBounds { index, plane_len })
}

/// How ONNX's `MaxPool` flattens its indices (its `storage_order`).
///
/// # Examples
///
/// ```
/// use ndarray_pooling::StorageOrder;
///
/// assert_eq!(StorageOrder::default(), StorageOrder::RowMajor);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StorageOrder {
    /// `storage_order = 0`: `((n * C + c) * H + h) * W + w`.
    #[default]
    RowMajor,
    /// `storage_order = 1`: `(n * C + c) * H * W + w * H + h`.
    ColumnMajor,
}

/// Our (PyTorch's) per-plane indices `h * W + w` as ONNX's `MaxPool`
/// returns them: flat over the whole `N x C x H x W` input, in
/// `storage_order`. `input_shape` is the pooled input's NCHW shape.
///
/// # Errors
///
/// [`PoolError::IndexOutOfBounds`] for an index outside its plane.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{indices_to_onnx, PoolError, StorageOrder};
///
/// // plane (0, 1) of a 2x3 input; the cell h = 1, w = 2 has index 5
/// let ours = array![[[[0i64]], [[5]]]];
/// let onnx = indices_to_onnx(&ours, [1, 2, 2, 3], StorageOrder::RowMajor)?;
/// assert_eq!(onnx, array![[[[0i64]], [[6 + 5]]]]);
/// let onnx = indices_to_onnx(&ours, [1, 2, 2, 3], StorageOrder::ColumnMajor)?;
/// assert_eq!(onnx, array![[[[0i64]], [[6 + 2 * 2 + 1]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn indices_to_onnx(
    indices: &ArrayRef<i64, Ix4>,
    input_shape: [usize; 4],
    order: StorageOrder,
) -> Result<Array4<i64>, PoolError> {
    let [_, channels, height, width] = input_shape;
    let plane_len = height * width;
    let mut out = Array4::zeros(indices.raw_dim());
    for ((n, c, i, j), &index) in indices.indexed_iter() {
        let cell = cell_of(index, plane_len)?;
        let within = match order {
            StorageOrder::RowMajor => cell,
            StorageOrder::ColumnMajor => cell % width * height + cell / width,
        };
        out[[n, c, i, j]] = ((n * channels + c) * plane_len + within) as i64;
    }
    Ok(out)
}

/// ONNX's `MaxPool` indices back to ours (PyTorch's `h * W + w` per plane).
///
/// # Errors
///
/// [`PoolError::IndexOutOfBounds`] for an index outside the plane of its
/// `(n, c)` position (`plane_len` is then the whole tensor's size).
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{indices_from_onnx, PoolError, StorageOrder};
///
/// let onnx = array![[[[0i64]], [[11]]]];
/// let ours = indices_from_onnx(&onnx, [1, 2, 2, 3], StorageOrder::RowMajor)?;
/// assert_eq!(ours, array![[[[0i64]], [[5]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn indices_from_onnx(
    onnx: &ArrayRef<i64, Ix4>,
    input_shape: [usize; 4],
    order: StorageOrder,
) -> Result<Array4<i64>, PoolError> {
    let [batch, channels, height, width] = input_shape;
    let plane_len = height * width;
    let total = batch * channels * plane_len;
    let mut out = Array4::zeros(onnx.raw_dim());
    for ((n, c, i, j), &index) in onnx.indexed_iter() {
        let first = (n * channels + c) * plane_len;
        let within = usize::try_from(index)
            .ok()
            .and_then(|flat| flat.checked_sub(first))
            .filter(|&within| within < plane_len)
            .ok_or(PoolError::IndexOutOfBounds {
                index,
                plane_len: total,
            })?;
        let cell = match order {
            StorageOrder::RowMajor => within,
            StorageOrder::ColumnMajor => within % height * width + within / height,
        };
        out[[n, c, i, j]] = cell as i64;
    }
    Ok(out)
}

/// Our NCHW indices as TensorFlow's `tf.nn.max_pool_with_argmax` returns
/// them: an NHWC-shaped array `(N, out_h, out_w, C)` of flat NHWC indices,
/// `((n * H + h) * W + w) * C + c` with `include_batch_in_index`, else
/// `(h * W + w) * C + c`.
///
/// # Errors
///
/// [`PoolError::IndexOutOfBounds`] for an index outside its plane.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{indices_to_tensorflow, PoolError};
///
/// // two channels of a 2x2 input, one output cell each
/// let ours = array![[[[3i64]], [[1]]]];
/// let tf = indices_to_tensorflow(&ours, [1, 2, 2, 2], false)?;
/// assert_eq!(tf, array![[[[3 * 2 + 0, 1 * 2 + 1]]]]); // shape (1, 1, 1, 2)
/// # Ok::<(), PoolError>(())
/// ```
pub fn indices_to_tensorflow(
    indices: &ArrayRef<i64, Ix4>,
    input_shape: [usize; 4],
    include_batch_in_index: bool,
) -> Result<Array4<i64>, PoolError> {
    let [_, channels, height, width] = input_shape;
    let plane_len = height * width;
    let [n, c, out_h, out_w] = shape4(indices);
    let mut out = Array4::zeros((n, out_h, out_w, c));
    for ((b, ch, i, j), &index) in indices.indexed_iter() {
        let cell = cell_of(index, plane_len)?;
        let batch = if include_batch_in_index { b } else { 0 };
        out[[b, i, j, ch]] = ((batch * plane_len + cell) * channels + ch) as i64;
    }
    Ok(out)
}

/// TensorFlow's NHWC argmax back to our NCHW indices; `input_shape` is the
/// pooled input's NCHW shape.
///
/// # Errors
///
/// [`PoolError::IndexOutOfBounds`] for an index that names another image
/// or channel than its position's.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{indices_from_tensorflow, PoolError};
///
/// let tf = array![[[[6i64, 3]]]];
/// assert_eq!(indices_from_tensorflow(&tf, [1, 2, 2, 2], false)?, array![[[[3i64]], [[1]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn indices_from_tensorflow(
    tensorflow: &ArrayRef<i64, Ix4>,
    input_shape: [usize; 4],
    include_batch_in_index: bool,
) -> Result<Array4<i64>, PoolError> {
    let [_, channels, height, width] = input_shape;
    let plane_len = height * width;
    let [n, out_h, out_w, c] = shape4(tensorflow);
    let mut out = Array4::zeros((n, c, out_h, out_w));
    for ((b, i, j, ch), &index) in tensorflow.indexed_iter() {
        let batch = if include_batch_in_index { b } else { 0 };
        let cell = usize::try_from(index)
            .ok()
            .filter(|&flat| channels > 0 && flat % channels == ch)
            .map(|flat| flat / channels)
            .and_then(|pixel| pixel.checked_sub(batch * plane_len))
            .filter(|&cell| cell < plane_len)
            .ok_or(PoolError::IndexOutOfBounds { index, plane_len })?;
        out[[b, ch, i, j]] = cell as i64;
    }
    Ok(out)
}
