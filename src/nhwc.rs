//! Channels-last (NHWC) pooling: the same windows and semantics as the NCHW
//! functions, with the channels innermost, so every window cell is one
//! contiguous run of `C` values and the kernels vectorize across channels.

use ndarray::{Array4, ArrayRef, Axis, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::element::{Extremum, Largest, MeanElement, PoolElement};
use crate::geometry::{MeanDivisor, Plan, Window2d, output_shape};
use crate::layout::{check_shape, shape4, standard_slice_mut};
use crate::mean::to_float;
use crate::parallel::{Out, Task, for_each_band};

/// The plan for an NHWC input, and the NHWC output shape.
fn plan(x_shape: [usize; 4], window: &Window2d) -> Result<(Plan, [usize; 4]), PoolError> {
    let [n, h, w, c] = x_shape;
    let plan = window.plan(h, w)?;
    let [_, _, out_h, out_w] = output_shape([n, c, h, w], plan.out_height(), plan.out_width())?;
    Ok((plan, [n, out_h, out_w, c]))
}

/// One image of `x` as a row-major `H x W x C` slice, copied if `x` is not
/// in standard layout.
fn image<'a, T: Copy>(x: &'a ArrayRef<T, Ix4>, n: usize, scratch: &'a mut Vec<T>) -> &'a [T] {
    let image = x.index_axis(Axis(0), n);
    match image.to_slice() {
        Some(slice) => slice,
        None => {
            scratch.clear();
            scratch.extend(image.iter().copied());
            scratch
        }
    }
}

/// Max pooling of an NHWC array `(N, H, W, C)`: output `(N, OH, OW, C)` and
/// PyTorch's per-plane indices `h * W + w`, laid out NHWC like the output.
/// The values and indices are exactly those of [`max_pool2d`](crate::max_pool2d)
/// on the same data in NCHW.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{max_pool2d, max_pool2d_nhwc, PoolError, Window2d};
///
/// let nchw = Array4::from_shape_fn((2, 3, 6, 6), |(n, c, h, w)| ((n + 3 * c + 5 * h + 7 * w) % 11) as f32);
/// let nhwc = nchw.view().permuted_axes([0, 2, 3, 1]).as_standard_layout().into_owned();
/// let window = Window2d::new(3, 2).with_padding(1);
/// let (y, indices) = max_pool2d_nhwc(&nhwc, &window)?;
/// let (y_nchw, indices_nchw) = max_pool2d(&nchw, &window)?;
/// assert_eq!(y.view().permuted_axes([0, 3, 1, 2]), y_nchw);
/// assert_eq!(indices.view().permuted_axes([0, 3, 1, 2]), indices_nchw);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_nhwc<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<(Array4<T>, Array4<i64>), PoolError> {
    let (plan, shape) = plan(shape4(x), window)?;
    let mut out = Array4::zeros(shape);
    let mut indices = Array4::zeros(shape);
    extreme::<T, Largest, true>(
        x,
        &plan,
        standard_slice_mut(&mut out),
        standard_slice_mut(&mut indices),
    );
    Ok((out, indices))
}

/// [`max_pool2d_nhwc`] without the indices, for inference.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_pool2d_nhwc_without_indices, PoolError, Window2d};
///
/// // one 2x2 RGB image, channels last
/// let rgb = array![[[[1u8, 200, 3], [4, 5, 60]], [[70, 8, 9], [10, 11, 12]]]];
/// let y = max_pool2d_nhwc_without_indices(&rgb, &Window2d::new(2, 2))?;
/// assert_eq!(y, array![[[[70u8, 200, 60]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_nhwc_without_indices<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
) -> Result<Array4<T>, PoolError> {
    let (plan, shape) = plan(shape4(x), window)?;
    let mut out = Array4::zeros(shape);
    extreme::<T, Largest, false>(x, &plan, standard_slice_mut(&mut out), &mut []);
    Ok(out)
}

/// Max pooling backward for NHWC arrays: each delta of `delta`
/// `(N, OH, OW, C)` to the cell its index names, in a gradient shaped
/// `input_shape` `(N, H, W, C)`; overlapping windows accumulate.
///
/// # Errors
///
/// [`PoolError::ShapeMismatch`] if `delta` and `indices` differ in shape or
/// in `N` and `C` from `input_shape`; [`PoolError::IndexOutOfBounds`] for an
/// index outside its plane.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_pool2d_nhwc, max_pool2d_nhwc_backward, PoolError, Window2d};
///
/// let x = array![[[[1f32, 9.], [2., 8.]], [[3., 7.], [4., 6.]]]]; // (1, 2, 2, 2)
/// let (y, indices) = max_pool2d_nhwc(&x, &Window2d::new(2, 2))?;
/// let dx = max_pool2d_nhwc_backward(&y, &indices, [1, 2, 2, 2])?;
/// assert_eq!(dx, array![[[[0., 9.], [0., 0.]], [[0., 0.], [4., 0.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_nhwc_backward<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
    input_shape: [usize; 4],
) -> Result<Array4<T>, PoolError> {
    let [n, h, w, c] = input_shape;
    let [dn, out_h, out_w, dc] = shape4(delta);
    let expected = [n, out_h, out_w, c];
    if (dn, dc) != (n, c) {
        return Err(PoolError::ShapeMismatch {
            what: "delta",
            expected,
            found: shape4(delta),
        });
    }
    check_shape("indices", indices, expected)?;
    let plane_len = h * w;
    let mut grad = Array4::zeros(input_shape);
    for ((b, i, j, ch), &index) in indices.indexed_iter() {
        let cell = usize::try_from(index)
            .ok()
            .filter(|&cell| cell < plane_len)
            .ok_or(PoolError::IndexOutOfBounds { index, plane_len })?;
        let slot = &mut grad[[b, cell / w, cell % w, ch]];
        *slot = *slot + delta[[b, i, j, ch]];
    }
    Ok(grad)
}

/// Mean pooling of an NHWC array; exactly [`mean_pool2d`](crate::mean_pool2d)
/// on the same data in NCHW.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{mean_pool2d_nhwc, MeanDivisor, PoolError, Window2d};
///
/// let x = array![[[[1f64, 10.], [3., 30.]], [[5., 50.], [7., 70.]]]];
/// let y = mean_pool2d_nhwc(&x, &Window2d::new(2, 2), MeanDivisor::default())?;
/// assert_eq!(y, array![[[[4., 40.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn mean_pool2d_nhwc<T: MeanElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    divisor: MeanDivisor,
) -> Result<Array4<T>, PoolError> {
    let (plan, shape) = plan(shape4(x), window)?;
    let mut out = Array4::zeros(shape);
    T::in_accumulator(&[x], &mut out, |x, out| {
        mean_into(x[0], &plan, divisor, out);
        Ok(())
    })?;
    Ok(out)
}

/// Mean forward into a fresh standard-layout `out`, summing in `T`.
fn mean_into<T: Float + Send + Sync>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    divisor: MeanDivisor,
    out: &mut ArrayRef<T, Ix4>,
) {
    let [n, _, w, c] = shape4(x);
    let row_len = plan.out_width() * c;
    let out = out.as_slice_mut().expect("a fresh standard-layout array");
    let none: &mut [u8] = &mut [];
    let (out, none) = (Out::Given(out), Out::Given(none));
    for_each_band(out, none, n, plan.out_height(), x.len(), true, |task| {
        let Task {
            plane: b,
            rows,
            first: mut out,
            ..
        } = task;
        let out = out.all();
        let mut scratch = Vec::new();
        let image = image(x, b, &mut scratch);
        for (row_window, out_row) in plan.rows.windows[rows]
            .iter()
            .zip(out.chunks_exact_mut(row_len))
        {
            for (col_window, sums) in plan.cols.windows.iter().zip(out_row.chunks_exact_mut(c)) {
                sums.fill(T::zero());
                for row in plan.rows.cells(row_window) {
                    for col in plan.cols.cells(col_window) {
                        let cell = &image[(row * w + col) * c..][..c];
                        for (sum, &value) in sums.iter_mut().zip(cell) {
                            *sum = *sum + value;
                        }
                    }
                }
                let d = to_float(Plan::divisor(row_window, col_window, divisor));
                for sum in sums.iter_mut() {
                    *sum = *sum / d;
                }
            }
        }
    });
}

/// Mean pooling backward for NHWC arrays; exactly
/// [`mean_pool2d_backward`](crate::mean_pool2d_backward) in NCHW.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`] for `input_shape`
/// `(N, H, W, C)`, and [`PoolError::ShapeMismatch`] for a `delta` of
/// another shape than the output.
///
/// # Examples
///
/// ```
/// use ndarray::{array, Array4};
/// use ndarray_pooling::{mean_pool2d_nhwc_backward, MeanDivisor, PoolError, Window2d};
///
/// let dx = mean_pool2d_nhwc_backward(&array![[[[4f32, 8.]]]], [1, 2, 2, 2], &Window2d::new(2, 2), MeanDivisor::default())?;
/// assert_eq!(dx, array![[[[1., 2.], [1., 2.]], [[1., 2.], [1., 2.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn mean_pool2d_nhwc_backward<T: MeanElement>(
    delta: &ArrayRef<T, Ix4>,
    input_shape: [usize; 4],
    window: &Window2d,
    divisor: MeanDivisor,
) -> Result<Array4<T>, PoolError> {
    let (plan, shape) = plan(input_shape, window)?;
    check_shape("delta", delta, shape)?;
    let mut grad = Array4::zeros(input_shape);
    T::in_accumulator(&[delta], &mut grad, |delta, grad| {
        mean_backward_into(delta[0], &plan, divisor, grad);
        Ok(())
    })?;
    Ok(grad)
}

/// Mean backward into a zeroed standard-layout `grad`, in `T`.
fn mean_backward_into<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    plan: &Plan,
    divisor: MeanDivisor,
    grad: &mut ArrayRef<T, Ix4>,
) {
    let [_, _, w, c] = shape4(grad);
    grad.fill(T::zero());
    for (b, mut image) in grad.outer_iter_mut().enumerate() {
        let image = image.as_slice_mut().expect("a fresh standard-layout array");
        for (i, row_window) in plan.rows.windows.iter().enumerate() {
            for (j, col_window) in plan.cols.windows.iter().enumerate() {
                let d = to_float(Plan::divisor(row_window, col_window, divisor));
                let deltas = delta
                    .index_axis(Axis(0), b)
                    .index_axis_move(Axis(0), i)
                    .index_axis_move(Axis(0), j);
                for row in plan.rows.cells(row_window) {
                    for col in plan.cols.cells(col_window) {
                        let cell = &mut image[(row * w + col) * c..][..c];
                        for (g, &dv) in cell.iter_mut().zip(deltas.iter()) {
                            *g = *g + dv / d;
                        }
                    }
                }
            }
        }
    }
}

/// Max (or min) over every window of every image, `C` channels at a time.
fn extreme<T: PoolElement, E: Extremum, const INDEX: bool>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    out: &mut [T],
    indices: &mut [i64],
) {
    let [n, _, w, c] = shape4(x);
    let row_len = plan.out_width() * c;
    let (out, indices) = (Out::Given(out), Out::Given(indices));
    for_each_band(out, indices, n, plan.out_height(), x.len(), true, |task| {
        let Task {
            plane: b,
            rows,
            first: mut out,
            second: mut indices,
        } = task;
        let (out, indices) = (out.all(), indices.all());
        let mut scratch = Vec::new();
        let image = image(x, b, &mut scratch);
        for (i, row_window) in plan.rows.windows[rows].iter().enumerate() {
            for (j, col_window) in plan.cols.windows.iter().enumerate() {
                let at = i * row_len + j * c;
                let best = &mut out[at..at + c];
                let mut first = true;
                for row in plan.rows.cells(row_window) {
                    for col in plan.cols.cells(col_window) {
                        let cell_index = (row * w + col) as i64;
                        let cell = &image[(row * w + col) * c..][..c];
                        if first {
                            best.copy_from_slice(cell);
                            if INDEX {
                                indices[at..at + c].fill(cell_index);
                            }
                            first = false;
                        } else if INDEX {
                            let slots = best.iter_mut().zip(&mut indices[at..at + c]);
                            for ((b, k), &v) in slots.zip(cell) {
                                let better = E::wins(v, *b);
                                *b = if better { v } else { *b };
                                *k = if better { cell_index } else { *k };
                            }
                        } else {
                            for (b, &v) in best.iter_mut().zip(cell) {
                                *b = if E::wins(v, *b) { v } else { *b };
                            }
                        }
                    }
                }
            }
        }
    });
}
