//! Channels-last (NHWC) pooling: the same windows and semantics as the NCHW
//! functions, with the channels innermost, so every window cell is one
//! contiguous run of `C` values and the kernels vectorize across channels.
//!
//! A forward holds a block of channels of one window in registers over all
//! the window's cells and writes it once: blocks of [`LANES`], 8 or 4
//! channels, the widest that `C` holds (all `C` at once below 4); the last
//! block of a cell's channels overlaps the one before, so no channel is
//! left to a scalar loop. Against a loop over each window's `C` channels a
//! cell at a time, the blocks of 8 and 4 took a third to a quarter of the
//! time on (8, 112, 112, 8) and (8, 112, 112, 4) 3x3/s2/p1 on the 2-core
//! development machine. The mean backward adds each window's shares a
//! block at a time into its cells (blocks that do not overlap: 16s, then
//! 8, 4 and the last 1 to 3 channels); the max backward adds each delta to
//! the cell its index names. Both zero the gradient as the windows reach
//! its rows, not in a pass of their own. Images go to threads (and bands of
//! output rows, in a forward with fewer images than threads) as NCHW planes
//! do. An input of one channel is an NCHW input of the same cells, and all
//! but the max backward pool it with the NCHW kernels (see [`planar`]).

use std::cell::RefCell;

use ndarray::{Array4, ArrayRef, ArrayView4, ArrayViewMut4, Axis, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::argmax::Argmax;
use crate::element::{Extremum, Largest, MeanElement, PoolElement};
use crate::geometry::{AxisWindow, MeanDivisor, Plan, Window2d, output_shape};
use crate::isa;
use crate::layout::{check_shape, new_array, shape4, with_standard_layout};
use crate::mean::{add_row, to_float};
use crate::parallel::{Out, Task, for_each_band};

/// Channels the widest block of the kernels holds at once: two AVX2 vectors
/// of `f32`, one AVX-512 vector.
const LANES: usize = 16;

/// The plan for an NHWC input, and the NHWC output shape.
fn plan(x_shape: [usize; 4], window: &Window2d) -> Result<(Plan, [usize; 4]), PoolError> {
    let [n, h, w, c] = x_shape;
    let plan = window.plan(h, w)?;
    let [_, _, out_h, out_w] = output_shape([n, c, h, w], plan.out_height(), plan.out_width())?;
    Ok((plan, [n, out_h, out_w, c]))
}

/// `x` as NCHW, where it has one channel: the same cells in the same order,
/// each image one plane, which the NCHW kernels pool a row at a time. The
/// NHWC kernels cost a pass over each window cell's run of `C` values,
/// which for one value is the whole cost: on (8, 112, 112, 1) 3x3/s2/p1,
/// one thread, the NCHW kernels took a tenth of the time or less.
fn planar<T>(x: &ArrayRef<T, Ix4>) -> Option<ArrayView4<'_, T>> {
    (x.dim().3 == 1).then(|| x.view().permuted_axes([0, 3, 1, 2]))
}

/// [`planar`] for an array the NCHW kernels write.
fn planar_mut<T>(x: &mut ArrayRef<T, Ix4>) -> ArrayViewMut4<'_, T> {
    x.view_mut().permuted_axes([0, 3, 1, 2])
}

/// An NCHW result of one channel as the NHWC array `shape`.
fn to_nhwc<T>(nchw: Array4<T>, shape: [usize; 4]) -> Array4<T> {
    nchw.into_shape_with_order(shape)
        .expect("one channel: the same cells in the same order")
}

thread_local! {
    /// The compact argmax of [`max_pool2d_nhwc_into`] over one channel,
    /// kept so that a training loop allocates nothing per step.
    static ARGMAX: RefCell<Argmax> = RefCell::new(Argmax::default());
}

/// `f` with this thread's kept [`Argmax`], or a new one while that is in
/// use (a call made by a task that a call already running on this thread
/// waits for).
fn with_argmax<R>(f: impl FnOnce(&mut Argmax) -> R) -> R {
    ARGMAX.with(|kept| match kept.try_borrow_mut() {
        Ok(mut argmax) => f(&mut argmax),
        Err(_) => f(&mut Argmax::default()),
    })
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

/// The cells of every window of one output row: window `j`'s are
/// `cells[starts[j]..starts[j + 1]]`, as `row * W + col` in row-major window
/// order, and `offsets` the same times `C`, where their values start.
struct RowCells {
    cells: Vec<usize>,
    offsets: Vec<usize>,
    starts: Vec<usize>,
    /// The first row and real rows of the output row filled last.
    filled: Option<(usize, usize)>,
}

impl RowCells {
    fn new() -> Self {
        RowCells {
            cells: Vec::new(),
            offsets: Vec::new(),
            starts: Vec::new(),
            filled: None,
        }
    }

    /// The windows of `row_window`'s output row, in an image `W` cells wide
    /// of `C` channels, for the same plan and image shape as every fill
    /// before. An output row with as many real rows as the last one,
    /// further down, is the last one's cells moved down: a vector add, not
    /// the loop over every window's cells, which on (8, 112, 112, C)
    /// 3x3/s2/p1 had taken half the instructions of the mean forward at
    /// C = 3 and C = 16.
    fn fill(&mut self, plan: &Plan, row_window: &AxisWindow, (w, c): (usize, usize)) {
        let key = (row_window.start, row_window.taps);
        let moved = |&(start, taps): &(usize, usize)| taps == key.1 && start <= key.0;
        if let Some((start, _)) = self.filled.filter(moved) {
            let rows = row_window.start - start;
            shift(&mut self.cells, rows * w);
            shift(&mut self.offsets, rows * w * c);
            self.filled = Some(key);
            return;
        }
        let RowCells {
            cells,
            offsets,
            starts,
            filled,
        } = self;
        cells.clear();
        starts.clear();
        starts.push(0);
        for col_window in &plan.cols.windows {
            for row in plan.rows.cells(row_window) {
                cells.extend(plan.cols.cells(col_window).map(|col| row * w + col));
            }
            starts.push(cells.len());
        }
        offsets.clear();
        offsets.extend(cells.iter().map(|&cell| cell * c));
        *filled = Some(key);
    }

    /// Window `j`'s cells and their offsets.
    #[inline(always)]
    fn window(&self, j: usize) -> (&[usize], &[usize]) {
        let span = self.starts[j]..self.starts[j + 1];
        (&self.cells[span.clone()], &self.offsets[span])
    }
}

/// Adds `by` to every value.
fn shift(values: &mut [usize], by: usize) {
    for value in values {
        *value += by;
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
    if let Some(x) = planar(x) {
        let (out, argmax) = crate::max_pool2d_argmax(&x, window)?;
        return Ok((to_nhwc(out, shape), to_nhwc(argmax.to_indices(), shape)));
    }
    let mut indices = Vec::new();
    let out = new_array(shape, |cells| {
        let indices = Out::new(&mut indices, shape);
        extreme::<T, Largest, true>(x, &plan, Out::new(cells, shape), indices);
    });
    let indices = Array4::from_shape_vec(shape, indices).expect("the work fills every index");
    Ok((out, indices))
}

/// [`max_pool2d_nhwc`] into `out` and `indices`, which must have the output
/// shape `(N, OH, OW, C)`: a training loop that keeps both allocates nothing
/// per step. (With one channel the NCHW kernels pool the input, and the
/// compact argmax that the indices are written from is kept per thread,
/// one byte or more per output cell, for the next call.)
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`], and
/// [`PoolError::ShapeMismatch`] if `out` or `indices` has another shape.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{max_pool2d_nhwc_into, PoolError, Window2d};
///
/// let window = Window2d::new(2, 2);
/// let mut out = Array4::<f32>::zeros((2, 4, 4, 32));
/// let mut indices = Array4::<i64>::zeros((2, 4, 4, 32));
/// for step in 0..3 {
///     let x = Array4::from_shape_fn((2, 8, 8, 32), |(_, h, w, _)| (step + h * 8 + w) as f32);
///     max_pool2d_nhwc_into(&x, &window, &mut out, &mut indices)?;
/// }
/// assert_eq!((out[[0, 0, 0, 0]], indices[[0, 0, 0, 0]]), (11., 9));
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_nhwc_into<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
    indices: &mut ArrayRef<i64, Ix4>,
) -> Result<(), PoolError> {
    let (plan, shape) = plan(shape4(x), window)?;
    check_shape("output", out, shape)?;
    check_shape("indices", indices, shape)?;
    if let Some(x) = planar(x) {
        return with_argmax(|argmax| {
            crate::max_pool2d_into(&x, window, &mut planar_mut(out), argmax)?;
            argmax.write_indices(&mut planar_mut(indices));
            Ok(())
        });
    }
    with_standard_layout(out, |out| {
        with_standard_layout(indices, |indices| {
            extreme::<T, Largest, true>(x, &plan, Out::Given(out), Out::Given(indices));
        });
    });
    Ok(())
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
    if let Some(x) = planar(x) {
        return Ok(to_nhwc(
            crate::max_pool2d_without_indices(&x, window)?,
            shape,
        ));
    }
    Ok(new_array(shape, |cells| {
        extreme::<T, Largest, false>(x, &plan, Out::new(cells, shape), Out::Given(&mut []));
    }))
}

/// [`max_pool2d_nhwc_without_indices`] into `out`, which must have the
/// output shape `(N, OH, OW, C)`.
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
/// use ndarray_pooling::{max_pool2d_nhwc_without_indices_into, PoolError, Window2d};
///
/// let mut out = Array4::<f64>::zeros((1, 3, 3, 24));
/// max_pool2d_nhwc_without_indices_into(&Array4::ones((1, 7, 7, 24)), &Window2d::new(3, 2), &mut out)?;
/// assert_eq!(out, Array4::ones((1, 3, 3, 24)));
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_nhwc_without_indices_into<T: PoolElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    out: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let (plan, shape) = plan(shape4(x), window)?;
    check_shape("output", out, shape)?;
    if let Some(x) = planar(x) {
        return crate::max_pool2d_without_indices_into(&x, window, &mut planar_mut(out));
    }
    with_standard_layout(out, |out| {
        extreme::<T, Largest, false>(x, &plan, Out::Given(out), Out::Given(&mut []));
    });
    Ok(())
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
    check_scatter(delta, indices, input_shape)?;
    let mut result = Ok(());
    let grad = new_array(input_shape, |cells| {
        result = scatter(
            delta,
            indices,
            input_shape,
            Out::gradient(cells, input_shape),
        );
    });
    result.map(|()| grad)
}

/// [`max_pool2d_nhwc_backward`] into `grad`, which must have the forward's
/// input shape `(N, H, W, C)`; every cell of `grad` is overwritten.
///
/// # Errors
///
/// As [`max_pool2d_nhwc_backward`] with `grad`'s shape as the input shape.
/// A shape error leaves `grad` as it was; after an index error its cells
/// are unspecified.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{max_pool2d_nhwc, max_pool2d_nhwc_backward_into, PoolError, Window2d};
///
/// let x = Array4::from_shape_fn((1, 4, 4, 8), |(_, h, w, c)| (h * 4 + w + c) as f32);
/// let (y, indices) = max_pool2d_nhwc(&x, &Window2d::new(2, 2))?;
/// let mut grad = Array4::from_elem((1, 4, 4, 8), 7f32); // overwritten
/// max_pool2d_nhwc_backward_into(&y.mapv(|_| 1.), &indices, &mut grad)?;
/// assert_eq!((grad.sum(), grad[[0, 1, 1, 0]]), (32., 1.));
/// # Ok::<(), PoolError>(())
/// ```
pub fn max_pool2d_nhwc_backward_into<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
    grad: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let input_shape = shape4(grad);
    check_scatter(delta, indices, input_shape)?;
    let mut result = Ok(());
    with_standard_layout(grad, |grad| {
        result = scatter(delta, indices, input_shape, Out::Given(grad));
    });
    result
}

/// The shape checks of [`max_pool2d_nhwc_backward`]; the indices are
/// checked as they are scattered.
fn check_scatter<T>(
    delta: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
    [n, _, _, c]: [usize; 4],
) -> Result<(), PoolError> {
    let [dn, out_h, out_w, dc] = shape4(delta);
    let expected = [n, out_h, out_w, c];
    if (dn, dc) != (n, c) {
        return Err(PoolError::ShapeMismatch {
            what: "delta",
            expected,
            found: shape4(delta),
        });
    }
    check_shape("indices", indices, expected)
}

/// Each delta added to the cell its index names, image by image, in output
/// order; each output row's indices checked first, and the gradient zeroed
/// up to the highest cell they name. Returns the first index outside its
/// plane, in standard order, if any; the gradient is then unfinished.
fn scatter<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    indices: &ArrayRef<i64, Ix4>,
    [n, h, w, c]: [usize; 4],
    grad: Out<'_, T>,
) -> Result<(), PoolError> {
    let plane_len = h * w;
    let row_len = shape4(delta)[2] * c;
    // the first image's first offending index
    let first_error = std::sync::Mutex::new(None::<(usize, i64)>);
    let none = Out::<u8>::Given(&mut []);
    for_each_band(grad, none, n, 1, delta.len(), false, |task| {
        let Task {
            plane: b,
            first: mut grad,
            ..
        } = task;
        let (mut delta_scratch, mut index_scratch) = (Vec::new(), Vec::new());
        let deltas = image(delta, b, &mut delta_scratch);
        let indices = image(indices, b, &mut index_scratch);
        if row_len > 0 {
            for (deltas, indices) in deltas
                .chunks_exact(row_len)
                .zip(indices.chunks_exact(row_len))
            {
                let (low, high) = index_range(indices);
                if low < 0 || high >= plane_len as i64 {
                    let outside = |&&index: &&i64| index as u64 >= plane_len as u64;
                    let index = *indices.iter().find(outside).expect("an index outside");
                    let mut first = first_error.lock().unwrap_or_else(|e| e.into_inner());
                    if first.is_none_or(|(image, _)| b < image) {
                        *first = Some((b, index));
                    }
                    return;
                }
                let grad = grad.written_zeros_to((high as usize + 1) * c);
                for (deltas, indices) in deltas.chunks_exact(c).zip(indices.chunks_exact(c)) {
                    for (ch, (&d, &index)) in deltas.iter().zip(indices).enumerate() {
                        let cell = &mut grad[index as usize * c + ch];
                        *cell = *cell + d;
                    }
                }
            }
        }
        grad.written_zeros_to(plane_len * c);
    });
    match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some((_, index)) => Err(PoolError::IndexOutOfBounds { index, plane_len }),
        None => Ok(()),
    }
}

/// The lowest and the highest of `indices`, in one pass compiled for the
/// widest instruction set: AVX2 compares 64-bit lanes, the portable
/// baseline (SSE2) does not. On the 2-core development machine, one
/// thread, against a fold of unsigned maxima on the portable path, the
/// `_into` max backward of (8, 112, 112, 64) 2x2/s2 took 0.80x the time
/// (2.99 against 3.73 ms, best of 80 calls), of (8, 112, 112, 16) 0.70x.
#[inline(never)]
fn index_range(indices: &[i64]) -> (i64, i64) {
    isa::wide(
        indices.len(),
        #[inline(always)]
        || {
            let fold = |(low, high): (i64, i64), &index: &i64| (low.min(index), high.max(index));
            indices.iter().fold((i64::MAX, i64::MIN), fold)
        },
    )
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
    if let Some(x) = planar(x) {
        return Ok(to_nhwc(crate::mean_pool2d(&x, window, divisor)?, shape));
    }
    Ok(T::new_in_accumulator(&[x], shape, |x, cells| {
        mean(x[0], &plan, divisor, Out::new(cells, shape));
    }))
}

/// [`mean_pool2d_nhwc`] into `out`, which must have the output shape
/// `(N, OH, OW, C)`.
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
/// use ndarray_pooling::{mean_pool2d_nhwc_into, MeanDivisor, PoolError, Window2d};
///
/// let mut out = Array4::<f32>::zeros((2, 4, 4, 20));
/// let x = Array4::from_elem((2, 8, 8, 20), 3f32);
/// mean_pool2d_nhwc_into(&x, &Window2d::new(2, 2), MeanDivisor::default(), &mut out)?;
/// assert_eq!(out, Array4::from_elem((2, 4, 4, 20), 3.));
/// # Ok::<(), PoolError>(())
/// ```
pub fn mean_pool2d_nhwc_into<T: MeanElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    divisor: MeanDivisor,
    out: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let (plan, shape) = plan(shape4(x), window)?;
    check_shape("output", out, shape)?;
    if let Some(x) = planar(x) {
        return crate::mean_pool2d_into(&x, window, divisor, &mut planar_mut(out));
    }
    T::in_accumulator(&[x], out, |x, out| {
        with_standard_layout(out, |out| mean(x[0], &plan, divisor, Out::Given(out)));
        Ok(())
    })
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
    if let Some(delta) = planar(delta) {
        let [n, h, w, _] = input_shape;
        let grad = crate::mean_pool2d_backward(&delta, [n, 1, h, w], window, divisor)?;
        return Ok(to_nhwc(grad, input_shape));
    }
    Ok(T::new_in_accumulator(
        &[delta],
        input_shape,
        |delta, cells| {
            mean_backward(delta[0], &plan, divisor, Out::gradient(cells, input_shape));
        },
    ))
}

/// [`mean_pool2d_nhwc_backward`] into `grad`, whose shape is the forward's
/// input shape `(N, H, W, C)`; every cell of `grad` is overwritten.
///
/// # Errors
///
/// Every geometry error of [`Window2d::output_shape`] for `grad`'s shape, and
/// [`PoolError::ShapeMismatch`] if `delta` is not shaped like the forward's
/// output.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{mean_pool2d_nhwc_backward_into, MeanDivisor, PoolError, Window2d};
///
/// let mut grad = Array4::from_elem((1, 4, 4, 16), 9f64); // overwritten
/// let delta = Array4::from_elem((1, 2, 2, 16), 4.);
/// mean_pool2d_nhwc_backward_into(&delta, &Window2d::new(2, 2), MeanDivisor::default(), &mut grad)?;
/// assert_eq!(grad, Array4::ones((1, 4, 4, 16)));
/// # Ok::<(), PoolError>(())
/// ```
pub fn mean_pool2d_nhwc_backward_into<T: MeanElement>(
    delta: &ArrayRef<T, Ix4>,
    window: &Window2d,
    divisor: MeanDivisor,
    grad: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let (plan, shape) = plan(shape4(grad), window)?;
    check_shape("delta", delta, shape)?;
    if let Some(delta) = planar(delta) {
        return crate::mean_pool2d_backward_into(&delta, window, divisor, &mut planar_mut(grad));
    }
    T::in_accumulator(&[delta], grad, |delta, grad| {
        with_standard_layout(grad, |grad| {
            mean_backward(delta[0], &plan, divisor, Out::Given(grad));
        });
        Ok(())
    })
}

/// Max (or min) over every window of every image into `out` and, with
/// `INDEX`, the winners' indices into `indices`.
fn extreme<T: PoolElement, E: Extremum, const INDEX: bool>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    out: Out<'_, T>,
    indices: Out<'_, i64>,
) {
    let [n, h, w, c] = shape4(x);
    let row_len = plan.out_width() * c;
    // the blocks keep indices in `u32`, where a plane's cells fit
    let blocks = c > 0 && u32::try_from(h * w).is_ok();
    for_each_band(out, indices, n, plan.out_height(), x.len(), true, |task| {
        let Task {
            plane: b,
            rows,
            first: mut out,
            second: mut indices,
        } = task;
        let mut scratch = Vec::new();
        let image = image(x, b, &mut scratch);
        let mut cells = RowCells::new();
        for (i, row_window) in plan.rows.windows[rows].iter().enumerate() {
            let span = i * row_len..(i + 1) * row_len;
            let out = &mut out.to(span.end)[span.clone()];
            let indices: &mut [i64] = if INDEX {
                &mut indices.to(span.end)[span]
            } else {
                &mut []
            };
            cells.fill(plan, row_window, (w, c));
            if blocks {
                extreme_row::<T, E, INDEX>((image, c), &cells, out, indices);
            } else {
                extreme_row_exact::<T, E, INDEX>((image, c), &cells, out, indices);
            }
        }
    });
}

/// One output row of [`extreme`] (`C` at least 1): each window's channels
/// a block at a time, the last block overlapping the one before, in blocks
/// of the widest of 16, 8 and 4 channels that `C` holds, or of all `C`
/// below 4.
/// Window by window, so that the image is read in order: a block at a time
/// over the whole row, reading every fourth cache line of `C = 64`, took
/// several times as long on an input that does not stay in cache.
#[inline(never)]
fn extreme_row<T: PoolElement, E: Extremum, const INDEX: bool>(
    (image, c): (&[T], usize),
    cells: &RowCells,
    out: &mut [T],
    indices: &mut [i64],
) {
    isa::wide(
        out.len(),
        #[inline(always)]
        || match c {
            LANES.. => extreme_blocks::<T, E, INDEX, LANES>((image, c), cells, out, indices),
            8.. => extreme_blocks::<T, E, INDEX, 8>((image, c), cells, out, indices),
            4.. => extreme_blocks::<T, E, INDEX, 4>((image, c), cells, out, indices),
            3 => extreme_blocks::<T, E, INDEX, 3>((image, c), cells, out, indices),
            2 => extreme_blocks::<T, E, INDEX, 2>((image, c), cells, out, indices),
            _ => extreme_blocks::<T, E, INDEX, 1>((image, c), cells, out, indices),
        },
    )
}

/// The windows of [`extreme_row`] in blocks of `L` channels.
#[inline(always)]
fn extreme_blocks<T: PoolElement, E: Extremum, const INDEX: bool, const L: usize>(
    (image, c): (&[T], usize),
    cells: &RowCells,
    out: &mut [T],
    indices: &mut [i64],
) {
    for j in 0..cells.starts.len() - 1 {
        let window = cells.window(j);
        let mut done = 0;
        while done < c {
            let first = done.min(c - L);
            let at = j * c + first;
            let out = &mut out[at..at + L];
            let indices: &mut [i64] = if INDEX {
                &mut indices[at..at + L]
            } else {
                &mut []
            };
            let image = &image[first..];
            // a plain comparison first; the rare block holding NaN again
            if extreme_block::<T, E, INDEX, false, L>(image, window, out, indices) {
                extreme_block::<T, E, INDEX, true, L>(image, window, out, indices);
            }
            done = first + L;
        }
    }
}

/// `L` channels of one window, whose cells (and their values'
/// offsets in `image`) are `window`: the extreme of each channel over the
/// cells in window order, held in registers and written once, with `INDEX`
/// the winning cell too. With `EXACT`, NaN wins as in the reference's walk;
/// without, values are compared plainly and a block holding NaN (or whose
/// probe turns NaN otherwise: [`PoolElement::probe_nan`]) returns `true`
/// having written nothing.
#[inline(always)]
fn extreme_block<
    T: PoolElement,
    E: Extremum,
    const INDEX: bool,
    const EXACT: bool,
    const L: usize,
>(
    image: &[T],
    (cells, offsets): (&[usize], &[usize]),
    out: &mut [T],
    indices: &mut [i64],
) -> bool {
    let run = |offset: usize| -> [T; L] {
        image[offset..offset + L]
            .try_into()
            .expect("a block of L cells")
    };
    let mut values = run(offsets[0]);
    let mut winners = [cells[0] as u32; L];
    // NaN seen, lane by lane: a probe of each lane's values (one vector add
    // a cell for floats, against a compare, an or and three packs of flags),
    // tested once
    let mut probe = values;
    for (&cell, &offset) in cells[1..].iter().zip(&offsets[1..]) {
        let (cells, k) = (run(offset), cell as u32);
        let lanes = values.iter_mut().zip(&mut winners).zip(&mut probe);
        for (((b, winner), probe), &value) in lanes.zip(&cells) {
            *probe = T::probe_nan(*probe, value);
            let wins = if EXACT {
                E::wins(value, *b)
            } else {
                E::beats(value, *b)
            };
            *b = if wins { value } else { *b };
            if INDEX {
                // as a select beside the probe's adds, LLVM split the
                // winners' blends into 128-bit halves on AVX2
                let mask = 0u32.wrapping_sub(u32::from(wins));
                *winner = (k & mask) | (*winner & !mask);
            }
        }
    }
    if !EXACT && probe.iter().any(|probe| probe.is_nan()) {
        return true;
    }
    out.copy_from_slice(&values);
    if INDEX {
        for (index, &winner) in indices.iter_mut().zip(&winners) {
            *index = i64::from(winner);
        }
    }
    false
}

/// One output row of [`extreme`] a window's channels at a time, for planes
/// of more than `u32::MAX` cells.
#[inline(never)]
fn extreme_row_exact<T: PoolElement, E: Extremum, const INDEX: bool>(
    (image, c): (&[T], usize),
    cells: &RowCells,
    out: &mut [T],
    indices: &mut [i64],
) {
    for j in 0..cells.starts.len() - 1 {
        let (window, offsets) = cells.window(j);
        let best = &mut out[j * c..(j + 1) * c];
        best.copy_from_slice(&image[offsets[0]..][..c]);
        if INDEX {
            indices[j * c..(j + 1) * c].fill(window[0] as i64);
        }
        for (&cell, &offset) in window[1..].iter().zip(&offsets[1..]) {
            let values = &image[offset..][..c];
            if INDEX {
                let slots = best.iter_mut().zip(&mut indices[j * c..(j + 1) * c]);
                for ((b, index), &value) in slots.zip(values) {
                    let wins = E::wins(value, *b);
                    *b = if wins { value } else { *b };
                    *index = if wins { cell as i64 } else { *index };
                }
            } else {
                for (b, &value) in best.iter_mut().zip(values) {
                    *b = if E::wins(value, *b) { value } else { *b };
                }
            }
        }
    }
}

/// Mean pooling of every image into `out`, in `T`.
fn mean<T: Float + Send + Sync>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    divisor: MeanDivisor,
    out: Out<'_, T>,
) {
    let [n, _, w, c] = shape4(x);
    let row_len = plan.out_width() * c;
    let none = Out::<u8>::Given(&mut []);
    for_each_band(out, none, n, plan.out_height(), x.len(), true, |task| {
        let Task {
            plane: b,
            rows,
            first: mut out,
            ..
        } = task;
        let mut scratch = Vec::new();
        let image = image(x, b, &mut scratch);
        let (mut cells, mut divisors) = (RowCells::new(), Vec::new());
        for (i, row_window) in plan.rows.windows[rows].iter().enumerate() {
            let span = i * row_len..(i + 1) * row_len;
            let out = &mut out.to(span.end)[span];
            cells.fill(plan, row_window, (w, c));
            row_divisors(plan, row_window, divisor, &mut divisors);
            mean_row((image, c), &cells, &divisors, out);
        }
    });
}

/// The divisor of every window of `row_window`'s output row.
fn row_divisors<T: Float>(
    plan: &Plan,
    row_window: &AxisWindow,
    divisor: MeanDivisor,
    divisors: &mut Vec<T>,
) {
    divisors.clear();
    let of = |col_window| to_float::<T>(Plan::divisor(row_window, col_window, divisor));
    divisors.extend(plan.cols.windows.iter().map(of));
}

/// One output row of [`mean`]: each window's channels summed over its
/// cells in window order from zero, then divided by its divisor, a block of
/// channels at a time, held in registers, the last block overlapping the
/// one before: blocks of the widest of 16, 8 and 4 channels that `C` holds,
/// or of all `C` below 4.
#[inline(never)]
fn mean_row<T: Float>((image, c): (&[T], usize), cells: &RowCells, divisors: &[T], out: &mut [T]) {
    isa::wide(
        out.len(),
        #[inline(always)]
        || match c {
            LANES.. => mean_blocks::<T, LANES>((image, c), cells, divisors, out),
            8.. => mean_blocks::<T, 8>((image, c), cells, divisors, out),
            4.. => mean_blocks::<T, 4>((image, c), cells, divisors, out),
            3 => mean_blocks::<T, 3>((image, c), cells, divisors, out),
            2 => mean_blocks::<T, 2>((image, c), cells, divisors, out),
            _ => mean_blocks::<T, 1>((image, c), cells, divisors, out),
        },
    )
}

/// The windows of [`mean_row`] in blocks of `L` channels.
#[inline(always)]
fn mean_blocks<T: Float, const L: usize>(
    (image, c): (&[T], usize),
    cells: &RowCells,
    divisors: &[T],
    out: &mut [T],
) {
    for (j, &d) in divisors.iter().enumerate() {
        let offsets = cells.window(j).1;
        let mut done = 0;
        while done < c {
            let first = done.min(c - L);
            let mut sums = [T::zero(); L];
            for &offset in offsets {
                let at = offset + first;
                add_row(&image[at..at + L], &mut sums);
            }
            let at = j * c + first;
            for (value, &sum) in out[at..at + L].iter_mut().zip(&sums) {
                *value = sum / d;
            }
            done = first + L;
        }
    }
}

/// Mean backward of every image into `grad`, in `T`: each window's delta
/// divided by its divisor and added to its cells, windows in output order,
/// so overlapping windows accumulate as in the reference.
fn mean_backward<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    plan: &Plan,
    divisor: MeanDivisor,
    grad: Out<'_, T>,
) {
    let [n, _, _, c] = shape4(delta);
    let (w, row_len) = (plan.in_width(), plan.out_width() * c);
    let image_len = plan.in_height() * w * c;
    let none = Out::<u8>::Given(&mut []);
    for_each_band(grad, none, n, 1, delta.len(), false, |task| {
        let Task {
            plane: b,
            first: mut grad,
            ..
        } = task;
        let mut scratch = Vec::new();
        let deltas = image(delta, b, &mut scratch);
        let (mut cells, mut divisors) = (RowCells::new(), Vec::new());
        for (i, row_window) in plan.rows.windows.iter().enumerate() {
            // the rows this output row's windows reach, zeroed as reached
            let end = (plan.rows.last_cell(row_window) + 1) * w * c;
            let grad = grad.written_zeros_to(end);
            let deltas = &deltas[i * row_len..(i + 1) * row_len];
            cells.fill(plan, row_window, (w, c));
            row_divisors(plan, row_window, divisor, &mut divisors);
            mean_backward_row(c, &cells, &divisors, deltas, grad);
        }
        grad.written_zeros_to(image_len);
    });
}

/// One output row of [`mean_backward`]: each window's shares of a block of
/// channels held in registers and added to each of its cells, in blocks
/// that do not overlap: of 16 channels while they fit, then one of 8 and
/// one of 4 where those fit, and the last 1 to 3 channels in one more.
#[inline(never)]
fn mean_backward_row<T: Float>(
    c: usize,
    cells: &RowCells,
    divisors: &[T],
    deltas: &[T],
    grad: &mut [T],
) {
    isa::wide(
        deltas.len(),
        #[inline(always)]
        || {
            for (j, &d) in divisors.iter().enumerate() {
                let window = (j, d, cells.window(j).1);
                let mut first = 0;
                while c - first >= LANES {
                    share_block::<T, LANES>(window, (c, first), deltas, grad);
                    first += LANES;
                }
                if c - first >= 8 {
                    share_block::<T, 8>(window, (c, first), deltas, grad);
                    first += 8;
                }
                if c - first >= 4 {
                    share_block::<T, 4>(window, (c, first), deltas, grad);
                    first += 4;
                }
                match c - first {
                    3 => share_block::<T, 3>(window, (c, first), deltas, grad),
                    2 => share_block::<T, 2>(window, (c, first), deltas, grad),
                    1 => share_block::<T, 1>(window, (c, first), deltas, grad),
                    _ => {}
                }
            }
        },
    )
}

/// Channels `first..first + L` of window `j` of [`mean_backward_row`],
/// whose divisor is `d` and whose cells' values start at `offsets`: the
/// window's deltas divided once, then added to each cell.
#[inline(always)]
fn share_block<T: Float, const L: usize>(
    (j, d, offsets): (usize, T, &[usize]),
    (c, first): (usize, usize),
    deltas: &[T],
    grad: &mut [T],
) {
    let at = j * c + first;
    let mut shares = [T::zero(); L];
    for (share, &delta) in shares.iter_mut().zip(&deltas[at..at + L]) {
        *share = delta / d;
    }
    for &offset in offsets {
        let at = offset + first;
        add_row(&shares, &mut grad[at..at + L]);
    }
}

#[cfg(test)]
mod tests {
    use super::with_argmax;
    use crate::Argmax;

    #[test]
    fn a_nested_call_takes_an_argmax_of_its_own() {
        let distinct = with_argmax(|outer| {
            let outer: *const Argmax = outer;
            with_argmax(|inner| !std::ptr::eq(outer, inner))
        });
        assert!(distinct);
    }
}
