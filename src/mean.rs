//! Mean (average) pooling: forward, and backward that spreads each delta
//! evenly over its window.

use std::ops::Range;

use ndarray::{Array4, ArrayRef, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::element::MeanElement;
use crate::geometry::{AxisPlan, AxisWindow, MeanDivisor, Plan, Reach, Window2d, output_shape};
use crate::isa::{self, Isa};
use crate::layout::{check_shape, shape4, with_standard_layout};
use crate::parallel::{AHEAD, Out, Part, for_each_plane, prefetch};
use crate::phases::{Phases, split_into};

/// Mean pooling forward: the sum of every window's real input cells divided
/// by the window's divisor (see [`MeanDivisor`]).
///
/// `x` is any NCHW array: owned, a view, or non-contiguous. Padding adds
/// zero to the sum. The sum runs in row-major window order, in `T::Acc`
/// (see [`MeanElement`]): `T` itself for `f32` and `f64`.
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
pub fn mean_pool2d<T: MeanElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    divisor: MeanDivisor,
) -> Result<Array4<T>, PoolError> {
    let input_shape = shape4(x);
    let shape = window.output_shape(input_shape)?;
    let plan = window.plan(input_shape[2], input_shape[3])?;
    Ok(T::new_in_accumulator(&[x], shape, |x, cells| {
        forward(x[0], &plan, divisor, Out::new(cells, shape));
    }))
}

/// [`mean_pool2d`] into `out`, which must have the output shape.
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
/// use ndarray_pooling::{mean_pool2d_into, MeanDivisor, PoolError, Window2d};
///
/// let mut out = Array4::<f32>::zeros((2, 3, 4, 4));
/// let x = Array4::from_elem((2, 3, 8, 8), 3f32);
/// mean_pool2d_into(&x, &Window2d::new(2, 2), MeanDivisor::default(), &mut out)?;
/// assert_eq!(out, Array4::from_elem((2, 3, 4, 4), 3.));
/// # Ok::<(), PoolError>(())
/// ```
pub fn mean_pool2d_into<T: MeanElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    divisor: MeanDivisor,
    out: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let input_shape = shape4(x);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    T::in_accumulator(&[x], out, |x, out| {
        mean_plan_into(x[0], &plan, divisor, out)
    })
}

/// Mean forward over a resolved plan, from a [`Window2d`] or adaptive.
pub(crate) fn mean_plan_into<T: Float + Send + Sync>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    divisor: MeanDivisor,
    out: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let input_shape = shape4(x);
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    check_shape("output", out, shape)?;
    with_standard_layout(out, |out| forward(x, plan, divisor, Out::Given(out)));
    Ok(())
}

/// Mean forward over every plane.
fn forward<T: Float + Send + Sync>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    divisor: MeanDivisor,
    out: Out<'_, T>,
) {
    for_each_plane(
        x,
        out,
        plan.out_height(),
        true,
        |_, input, ahead, rows, mut out| {
            forward_band(plan, divisor, input, ahead, rows, &mut out);
        },
    );
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
pub fn mean_pool2d_backward<T: MeanElement>(
    delta: &ArrayRef<T, Ix4>,
    input_shape: [usize; 4],
    window: &Window2d,
    divisor: MeanDivisor,
) -> Result<Array4<T>, PoolError> {
    let shape = window.output_shape(input_shape)?;
    check_shape("delta", delta, shape)?;
    let plan = window.plan(input_shape[2], input_shape[3])?;
    Ok(T::new_in_accumulator(
        &[delta],
        input_shape,
        |delta, cells| {
            backward(delta[0], &plan, divisor, Out::gradient(cells, input_shape));
        },
    ))
}

/// [`mean_pool2d_backward`] into `grad`, whose shape is the forward's input
/// shape; every cell of `grad` is overwritten.
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
/// use ndarray_pooling::{mean_pool2d_backward_into, MeanDivisor, PoolError, Window2d};
///
/// let mut grad = Array4::from_elem((1, 1, 4, 4), 9f64); // overwritten
/// let delta = Array4::from_elem((1, 1, 2, 2), 4.);
/// mean_pool2d_backward_into(&delta, &Window2d::new(2, 2), MeanDivisor::default(), &mut grad)?;
/// assert_eq!(grad, Array4::ones((1, 1, 4, 4)));
/// # Ok::<(), PoolError>(())
/// ```
pub fn mean_pool2d_backward_into<T: MeanElement>(
    delta: &ArrayRef<T, Ix4>,
    window: &Window2d,
    divisor: MeanDivisor,
    grad: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let input_shape = shape4(grad);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    T::in_accumulator(&[delta], grad, |delta, grad| {
        mean_backward_plan_into(delta[0], &plan, divisor, grad)
    })
}

/// Mean backward over a resolved plan, from a [`Window2d`] or adaptive.
pub(crate) fn mean_backward_plan_into<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    plan: &Plan,
    divisor: MeanDivisor,
    grad: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let input_shape = shape4(grad);
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    check_shape("delta", delta, shape)?;
    with_standard_layout(grad, |grad| {
        backward(delta, plan, divisor, Out::Given(grad))
    });
    Ok(())
}

/// Mean backward over every plane.
fn backward<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    plan: &Plan,
    divisor: MeanDivisor,
    grad: Out<'_, T>,
) {
    // By planes only: bands of input rows would share overlapping windows.
    let gather = Gather::new(plan);
    for_each_plane(
        delta,
        grad,
        plan.in_height(),
        false,
        |_, delta, ahead, _, mut grad| {
            if plan.rows.disjoint() && plan.cols.disjoint() {
                // every cell written once: the whole plane at once
                backward_disjoint(plan, divisor, delta, grad.all());
            } else if let Some(gather) = &gather {
                gather.backward(plan, divisor, delta, ahead, &mut grad);
            } else {
                backward_overlapping(plan, divisor, delta, &mut grad);
            }
        },
    );
}

/// `n` as a float; counts beyond the type's range become infinity.
pub(crate) fn to_float<T: Float>(n: usize) -> T {
    T::from(n).unwrap_or_else(T::infinity)
}

/// How the sums of one output row's full windows are divided: all of them
/// by the same divisor.
#[derive(Clone, Copy)]
enum Divide<T> {
    /// `sum / divisor`.
    By(T),
    /// `sum * reciprocal`, for a divisor that is a power of two: its
    /// reciprocal is exact, and both round the same exact quotient, so the
    /// bits are those of `/` in every range. A multiplication is several
    /// times cheaper than a division.
    Times(T),
}

impl<T: Float> Divide<T> {
    fn new(divisor: usize) -> Self {
        let d = to_float::<T>(divisor);
        if divisor.is_power_of_two() && d.is_finite() {
            Divide::Times(d.recip())
        } else {
            Divide::By(d)
        }
    }
}

/// What the divisors of an output row depend on: its row window's real and
/// padded taps. Rows of one key divide alike.
fn divisor_key(row: &AxisWindow) -> (usize, usize) {
    (row.taps, row.padded_taps)
}

/// The divisors of one output row, recomputed only when the row window
/// changes what they depend on ([`divisor_key`]).
struct RowDivisors<T> {
    key: Option<(usize, usize)>,
    values: Vec<T>,
    interior: Option<Divide<T>>,
}

impl<T: Float> RowDivisors<T> {
    fn new() -> Self {
        RowDivisors {
            key: None,
            values: Vec::new(),
            interior: None,
        }
    }

    /// Every window's divisor, and how the full windows' sums are divided
    /// (`None` when the row has no full window).
    #[inline]
    fn get(
        &mut self,
        plan: &Plan,
        row: &AxisWindow,
        divisor: MeanDivisor,
    ) -> (&[T], Option<Divide<T>>) {
        let key = divisor_key(row);
        if self.key != Some(key) {
            self.values.clear();
            let divisors = plan
                .cols
                .windows
                .iter()
                .map(|col| Plan::divisor(row, col, divisor));
            self.values.extend(divisors.map(to_float::<T>));
            // full windows all have the divisor of the first
            let interior = plan.cols.interior();
            self.interior = (!interior.is_empty()).then(|| {
                Divide::new(Plan::divisor(
                    row,
                    &plan.cols.windows[interior.start],
                    divisor,
                ))
            });
            self.key = Some(key);
        }
        (&self.values, self.interior)
    }
}

/// Output rows `rows` of one plane: window sums built a row at a time in the
/// output row, then divided.
fn forward_band<T: Float>(
    plan: &Plan,
    divisor: MeanDivisor,
    input: &[T],
    ahead: &[T],
    rows: Range<usize>,
    out: &mut Part<'_, T>,
) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let mut divisors = RowDivisors::new();
    let interior = plan.cols.interior();
    let dense = |axis: &AxisPlan| (axis.size, axis.stride, axis.dilation) == (2, 2, 1);
    let pairs_2x2s2 = dense(&plan.rows) && dense(&plan.cols) && !interior.is_empty();
    let cols = &plan.cols;
    let three_wide = !interior.is_empty()
        && (cols.size, cols.dilation) == (3, 1)
        && (cols.stride == 1 || cols.stride == 2);
    let windows = &plan.rows.windows[rows];
    // the blocks' sources where most rows take them: 3-wide windows leave
    // only their few rows of fewer than three real taps to `any_means`,
    // which then sums a window row at a time
    let sources = if three_wide { None } else { Sources::new(cols) };
    let mut scratch = (Phases::new(), sources);
    if !three_wide {
        let mut one_row = |row_window: &AxisWindow, out_row: &mut [T]| {
            prefetch_rows(plan, ahead, row_window);
            let (row_divisors, full) = divisors.get(plan, row_window, divisor);
            match full {
                Some(full) if pairs_2x2s2 && row_window.taps == 2 => {
                    let first = plan.cols.windows[interior.start].start;
                    let top = &input[row_window.start * width + first..][..2 * interior.len()];
                    let bottom =
                        &input[(row_window.start + 1) * width + first..][..2 * interior.len()];
                    let mid = &mut out_row[interior.clone()];
                    match full {
                        Divide::By(d) => mean_pairs(top, bottom, mid, move |sum| sum / d),
                        Divide::Times(f) => mean_pairs(top, bottom, mid, move |sum| sum * f),
                    }
                    edge_means(plan, input, row_window, row_divisors, out_row);
                }
                _ => any_means(plan, input, row_window, row_divisors, out_row, &mut scratch),
            }
        };
        out.rows(out_width, |i, out_row| one_row(&windows[i], out_row));
        return;
    }
    // rows of full 3-wide windows three rows tall a run at a time (all
    // dividing alike), any other row on its own
    let mut i = 0;
    while i < windows.len() {
        let row_window = &windows[i];
        let (row_divisors, full) = divisors.get(plan, row_window, divisor);
        let run = match full {
            Some(full) if row_window.taps == 3 => {
                let run = windows[i..]
                    .iter()
                    .take_while(|w| divisor_key(w) == divisor_key(row_window))
                    .count();
                let band = &windows[i..i + run];
                let out = &mut out.to((i + run) * out_width)[i * out_width..];
                let (input, divisors) = ((input, ahead), row_divisors);
                match (cols.stride, full) {
                    (1, Divide::By(d)) => {
                        mean_3_band::<T, 1>(plan, input, band, divisors, out, move |sum| sum / d)
                    }
                    (1, Divide::Times(f)) => {
                        mean_3_band::<T, 1>(plan, input, band, divisors, out, move |sum| sum * f)
                    }
                    (_, Divide::By(d)) => {
                        mean_3_band::<T, 2>(plan, input, band, divisors, out, move |sum| sum / d)
                    }
                    (_, Divide::Times(f)) => {
                        mean_3_band::<T, 2>(plan, input, band, divisors, out, move |sum| sum * f)
                    }
                }
                run
            }
            _ => {
                prefetch_rows(plan, ahead, row_window);
                let out_row = &mut out.to((i + 1) * out_width)[i * out_width..];
                any_means(plan, input, row_window, row_divisors, out_row, &mut scratch);
                1
            }
        };
        i += run;
    }
}

/// The input rows `row_window`'s output row reads next, prefetched
/// [`AHEAD`] cells on in `ahead`.
#[inline]
fn prefetch_rows<T>(plan: &Plan, ahead: &[T], row_window: &AxisWindow) {
    let start = row_window.start * plan.in_width() + AHEAD;
    prefetch(ahead, start, plan.rows.stride * plan.in_width());
}

/// One output row of any windows: where the row has [`BLOCK`] full windows
/// or more, those by [`mean_blocks`] and the rest by [`edge_means`]; else
/// their sums built a window row at a time in the output row, then divided
/// by `divisors`.
fn any_means<T: Float>(
    plan: &Plan,
    input: &[T],
    row_window: &AxisWindow,
    divisors: &[T],
    out_row: &mut [T],
    (phases, sources): &mut (Phases<T>, Option<Sources<T>>),
) {
    let width = plan.in_width();
    if let Some(sources) = sources {
        let (cells, starts) = sources.of((input, width), plan.rows.cells(row_window));
        let mid = plan.cols.interior();
        mean_blocks(cells, starts, &divisors[mid.clone()], &mut out_row[mid]);
        edge_means(plan, input, row_window, divisors, out_row);
        return;
    }
    out_row.fill(T::zero());
    for h in plan.rows.cells(row_window) {
        let row = &input[h * width..(h + 1) * width];
        sum_row(&plan.cols, row, out_row, phases);
    }
    for (value, &d) in out_row.iter_mut().zip(divisors) {
        *value = *value / d;
    }
}

/// Windows a block of [`mean_blocks`] sums at once.
const BLOCK: usize = 32;

/// Where [`mean_blocks`] finds each window cell of a row's full windows,
/// in window order (window row by window row, left to right): for cell `k`,
/// the windows' cells are `cells[starts[k]..][..n]`, contiguous. At stride 1
/// they lie in the input rows as they are; at other strides in the rows'
/// stride phases, each input row split once and kept for the windows below
/// that read it again.
pub(crate) struct Sources<T> {
    stride: usize,
    /// The first cell of the first full window in each row.
    first: usize,
    /// The cells from there to the last full window's last.
    span: usize,
    /// Where each tap of a window row starts, from the row's first cell (at
    /// stride 1) or from its split.
    taps: Vec<usize>,
    cells: Vec<T>,
    /// Where input row `h`'s split starts in `cells`, once split.
    split: Vec<Option<usize>>,
    starts: Vec<usize>,
}

impl<T: Copy> Sources<T> {
    /// For the full windows of `cols`, if there are [`BLOCK`] or more.
    pub fn new(cols: &AxisPlan) -> Option<Self> {
        let interior = cols.interior();
        if interior.len() < BLOCK {
            return None;
        }
        let (stride, dilation) = (cols.stride, cols.dilation);
        let span = stride * (interior.len() - 1) + dilation * (cols.size - 1) + 1;
        let phase_len = span.div_ceil(stride);
        let tap = |tap: usize| {
            let offset = tap * dilation;
            (offset % stride) * phase_len + offset / stride
        };
        Some(Sources {
            stride,
            first: cols.windows[interior.start].start,
            span,
            taps: (0..cols.size).map(tap).collect(),
            cells: Vec::new(),
            split: Vec::new(),
            starts: Vec::new(),
        })
    }

    /// The cells of the full windows in `rows` of `input`, rows `width`
    /// cells long, and where each window cell's run starts.
    fn of<'a>(
        &'a mut self,
        (input, width): (&'a [T], usize),
        rows: impl Iterator<Item = usize>,
    ) -> (&'a [T], &'a [usize]) {
        self.starts.clear();
        if self.stride == 1 {
            for h in rows {
                let at = h * width + self.first;
                self.starts.extend(self.taps.iter().map(|tap| at + tap));
            }
            return (input, &self.starts);
        }
        let split_len = self.stride * self.span.div_ceil(self.stride);
        if self.split.is_empty() {
            // room for every row of the plane at once
            let height = input.len() / width;
            self.split.resize(height, None);
            self.cells.reserve(height * split_len);
        }
        for h in rows {
            let at = *self.split[h].get_or_insert_with(|| {
                let row = &input[h * width + self.first..][..self.span];
                let at = self.cells.len();
                self.cells.resize(at + split_len, row[0]);
                split_into(row, self.stride, &mut self.cells[at..]);
                at
            });
            self.starts.extend(self.taps.iter().map(|tap| at + tap));
        }
        (&self.cells, &self.starts)
    }
}

/// Full windows, each the sum of its cells in window order divided by its
/// divisor, the cells of window `j` at `cells[start + j]` for each of
/// `starts`, in order: in blocks of [`BLOCK`] windows, the last (of half as
/// many where that covers the rest) overlapping the one before, each
/// block's sums held in a local array (in registers) over all its cells
/// and written once. The adds of one window are a chain; a block holds
/// several vectors of independent ones.
#[inline(never)]
fn mean_blocks<T: Float>(cells: &[T], starts: &[usize], divisors: &[T], out: &mut [T]) {
    isa::wide(
        out.len(),
        #[inline(always)]
        || {
            let n = out.len();
            let whole = n - n % BLOCK;
            for first in (0..whole).step_by(BLOCK) {
                mean_block::<T, BLOCK>(cells, starts, divisors, first, out);
            }
            // the rest in one block more, of half the size where it fits
            if n - whole > BLOCK / 2 {
                mean_block::<T, BLOCK>(cells, starts, divisors, n - BLOCK, out);
            } else if n > whole {
                mean_block::<T, { BLOCK / 2 }>(cells, starts, divisors, n - BLOCK / 2, out);
            }
        },
    )
}

/// Windows `first..first + L` of [`mean_blocks`].
#[inline(always)]
fn mean_block<T: Float, const L: usize>(
    cells: &[T],
    starts: &[usize],
    divisors: &[T],
    first: usize,
    out: &mut [T],
) {
    let block = block_sums::<T, L>(cells, starts, first);
    let out = &mut out[first..first + L];
    for ((out, &sum), &d) in out.iter_mut().zip(&block).zip(&divisors[first..]) {
        *out = sum / d;
    }
}

/// The sums of windows `first..first + L` of [`mean_blocks`], from zero.
#[inline(always)]
fn block_sums<T: Float, const L: usize>(cells: &[T], starts: &[usize], first: usize) -> [T; L] {
    let mut block = [T::zero(); L];
    for &start in starts {
        add_row(&cells[start + first..][..L], &mut block);
    }
    block
}

/// Output rows of full windows three rows tall and three columns wide,
/// `S` apart, `band` their row windows and `out` their rows: each row's
/// full windows summed and divided by [`mean_3_blocks`] (sixteen-lane
/// vectors) or [`mean_3_run`], its windows clipped by padding by
/// [`edge_means`] with `divisors`, each row prefetching the rows [`AHEAD`]
/// cells on in `ahead`. One call for the band, not one a row: on
/// (1, 64, 112, 112) 3x3/s2/p1 in cache, 0.209 -> 0.196 ms with AVX-512.
/// The loop stays in the closure: with it in a function of its own, the
/// AVX-512 copy was not inlined, and ran SSE2 only (0.275 ms).
#[inline(never)]
fn mean_3_band<T: Float, const S: usize>(
    plan: &Plan,
    (input, ahead): (&[T], &[T]),
    band: &[AxisWindow],
    divisors: &[T],
    out: &mut [T],
    divide: impl Fn(T) -> T,
) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let interior = plan.cols.interior();
    let first = plan.cols.windows[interior.start].start;
    let step = plan.rows.dilation;
    isa::wide_isa(
        out_width,
        #[inline(always)]
        |isa| {
            for (k, row_window) in band.iter().enumerate() {
                prefetch_rows(plan, ahead, row_window);
                let rows =
                    [0, 1, 2].map(|t| &input[(row_window.start + t * step) * width + first..]);
                let out_row = &mut out[k * out_width..(k + 1) * out_width];
                let mid = &mut out_row[interior.clone()];
                match isa {
                    Isa::Avx512 | Isa::Avx2 => mean_3_blocks::<T, S>(rows, mid, &divide),
                    Isa::Portable => mean_3_row::<T, S>(rows, mid, &divide),
                }
                edge_means(plan, input, row_window, divisors, out_row);
            }
        },
    )
}

/// The windows of one output row outside the interior, one by one.
fn edge_means<T: Float>(
    plan: &Plan,
    input: &[T],
    row_window: &AxisWindow,
    divisors: &[T],
    out_row: &mut [T],
) {
    let (cols, width) = (&plan.cols, plan.in_width());
    let interior = cols.interior();
    for o in (0..interior.start).chain(interior.end..plan.out_width()) {
        let window = &cols.windows[o];
        let mut sum = T::zero();
        for h in plan.rows.cells(row_window) {
            for col in cols.cells(window) {
                sum = sum + input[h * width + col];
            }
        }
        out_row[o] = sum / divisors[o];
    }
}

/// Full 2x2 windows, stride 2, over the rows `top` and `bottom`: each
/// window's cells summed in window order, then divided by `divide`.
#[inline(never)]
fn mean_pairs<T: Float>(top: &[T], bottom: &[T], out: &mut [T], divide: impl Fn(T) -> T) {
    isa::wide(
        out.len(),
        #[inline(always)]
        || mean_pairs_in(top, bottom, out, divide),
    )
}

/// The body of [`mean_pairs`], inlined into each instruction set's copy.
#[inline(always)]
fn mean_pairs_in<T: Float>(top: &[T], bottom: &[T], out: &mut [T], divide: impl Fn(T) -> T) {
    let cells = top.chunks_exact(2).zip(bottom.chunks_exact(2));
    for (out, (top, bottom)) in out.iter_mut().zip(cells) {
        *out = divide(T::zero() + top[0] + top[1] + bottom[0] + bottom[1]);
    }
}

/// [`mean_3_run`] over one row. Not inlined, so that the output is known
/// not to alias the input and the loop vectorizes.
#[inline(never)]
fn mean_3_row<T: Float, const S: usize>(rows: [&[T]; 3], out: &mut [T], divide: &impl Fn(T) -> T) {
    mean_3_run::<T, S>(rows, 0, out, divide);
}

/// Full windows of three rows and three columns, `S` apart, for
/// sixteen-lane vectors: each window's cells summed in window order, then
/// divided by `divide`, in blocks of sixteen windows, the last block
/// overlapping the one before, so that no window is left to a scalar
/// remainder. Each block is computed into a local array, which
/// cannot alias the input, with one window more than it keeps: the
/// vectorizer leaves the last iteration scalar, as its loads would reach
/// past the window's last cell.
#[inline(always)]
fn mean_3_blocks<T: Float, const S: usize>(
    rows: [&[T]; 3],
    out: &mut [T],
    divide: &impl Fn(T) -> T,
) {
    const LANES: usize = 16;
    let n = out.len();
    // the extra window reads S cells past the last window
    let available = rows.iter().map(|row| row.len()).min().unwrap_or(0);
    if n < LANES || S * n + 3 > available {
        mean_3_run::<T, S>(rows, 0, out, divide);
        return;
    }
    let mut done = 0;
    while done < n {
        let first = done.min(n - LANES);
        let mut block = [T::zero(); LANES + 1];
        mean_3_run::<T, S>(rows, S * first, &mut block, divide);
        out[first..first + LANES].copy_from_slice(&block[..LANES]);
        done = first + LANES;
    }
}

/// The windows of `out`, the first starting `start` cells into each row.
#[inline(always)]
fn mean_3_run<T: Float, const S: usize>(
    [r0, r1, r2]: [&[T]; 3],
    start: usize,
    out: &mut [T],
    divide: &impl Fn(T) -> T,
) {
    let len = S * (out.len() - 1) + 3;
    let (r0, r1, r2) = (
        &r0[start..][..len],
        &r1[start..][..len],
        &r2[start..][..len],
    );
    for (j, out) in out.iter_mut().enumerate() {
        let mut sum = T::zero();
        for row in [r0, r1, r2] {
            sum = sum + row[S * j] + row[S * j + 1] + row[S * j + 2];
        }
        *out = divide(sum);
    }
}

/// Adds every window's cells in `row` to its running sum in `acc`, in window
/// order.
fn sum_row<T: Float>(cols: &AxisPlan, row: &[T], acc: &mut [T], phases: &mut Phases<T>) {
    let interior = cols.interior();
    let general = |range: Range<usize>, acc: &mut [T]| {
        for o in range {
            let window = &cols.windows[o];
            let mut sum = acc[o];
            for tap in 0..window.taps {
                sum = sum + row[window.start + tap * cols.dilation];
            }
            acc[o] = sum;
        }
    };
    general(0..interior.start, acc);
    if !interior.is_empty() {
        let start = cols.windows[interior.start].start;
        let mid = &mut acc[interior.clone()];
        match (cols.size, cols.stride, cols.dilation) {
            (2, 2, 1) => sum_full::<T, 2, 2>(row, start, mid),
            (3, 2, 1) => sum_full::<T, 3, 2>(row, start, mid),
            (3, 1, 1) => sum_full::<T, 3, 1>(row, start, mid),
            _ => {
                // one contiguous pass per window cell, in window order
                let n = mid.len();
                let span = cols.stride * (n - 1) + cols.dilation * (cols.size - 1) + 1;
                let view = phases.split(&row[start..start + span], cols.stride);
                for tap in 0..cols.size {
                    for (sum, &value) in mid.iter_mut().zip(view.cells(tap * cols.dilation, n)) {
                        *sum = *sum + value;
                    }
                }
            }
        }
    }
    general(interior.end..cols.windows.len(), acc);
}

/// Full windows of `K` dense cells, `S` apart, the first at `row[start]`.
#[inline(never)]
fn sum_full<T: Float, const K: usize, const S: usize>(row: &[T], start: usize, acc: &mut [T]) {
    let n = acc.len();
    let row = &row[start..start + S * (n - 1) + K];
    // plain indices into slices of known length: the loop vectorizes, the
    // stride-S cells taken by vector shuffles
    for j in 0..n {
        let mut s = acc[j];
        for k in 0..K {
            s = s + row[S * j + k];
        }
        acc[j] = s;
    }
}

/// Windows that share no cell: every gradient cell is written exactly once,
/// with its window's share or zero.
fn backward_disjoint<T: Float>(plan: &Plan, divisor: MeanDivisor, delta: &[T], grad: &mut [T]) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let interior = plan.cols.interior();
    let cols = &plan.cols;
    let pairs = (cols.size, cols.stride, cols.dilation) == (2, 2, 1) && !interior.is_empty();
    let mut divisors = RowDivisors::new();
    let mut shares = vec![T::zero(); out_width];
    let mut next_row = 0;
    for (row_window, delta_row) in plan.rows.windows.iter().zip(delta.chunks_exact(out_width)) {
        for ((share, &d), &div) in shares
            .iter_mut()
            .zip(delta_row)
            .zip(divisors.get(plan, row_window, divisor).0)
        {
            // as added to a zeroed gradient: -0 becomes +0
            *share = T::zero() + d / div;
        }
        grad[next_row * width..row_window.start * width].fill(T::zero());
        for h in plan.rows.cells(row_window) {
            let grad_row = &mut grad[h * width..(h + 1) * width];
            let mut next_col = 0;
            if pairs {
                // full 2-cell windows, stride 2: one interleaving pass
                let first = plan.cols.windows[interior.start].start;
                let last = first + 2 * interior.len();
                grad_row[..first].fill(T::zero());
                let cells = grad_row[first..last].chunks_exact_mut(2);
                for (pair, &share) in cells.zip(&shares[interior.clone()]) {
                    pair[0] = share;
                    pair[1] = share;
                }
                for o in (0..interior.start).chain(interior.end..out_width) {
                    let window = &plan.cols.windows[o];
                    grad_row[window.start..window.start + window.taps].fill(shares[o]);
                }
                next_col = last.max(plan.cols.windows.last().map_or(0, |w| w.start + w.taps));
                grad_row[next_col..].fill(T::zero());
                continue;
            }
            for (col_window, &share) in plan.cols.windows.iter().zip(&shares) {
                grad_row[next_col..col_window.start].fill(T::zero());
                next_col = col_window.start + col_window.taps;
                grad_row[col_window.start..next_col].fill(share);
            }
            grad_row[next_col..].fill(T::zero());
        }
        next_row = plan.rows.last_cell(row_window) + 1;
    }
    grad[next_row * width..].fill(T::zero());
}

/// Overlapping or dilated windows: rows are zeroed just before the first
/// window that reaches them, then shares accumulate in window order. Each
/// cell's shares arrive in the order of their windows, as in the naive loop:
/// edge windows one by one, full windows by contiguous passes over the row's
/// stride phases, last cell of the window first.
fn backward_overlapping<T: Float>(
    plan: &Plan,
    divisor: MeanDivisor,
    delta: &[T],
    grad: &mut Part<'_, T>,
) {
    let (width, out_width) = (plan.in_width(), plan.out_width());
    let cols = &plan.cols;
    let interior = cols.interior();
    let mut divisors = RowDivisors::new();
    let mut shares = vec![T::zero(); out_width];
    let mut phases = Phases::new();
    let add_windows = |grad_row: &mut [T], windows: Range<usize>, shares: &[T]| {
        for (window, &share) in cols.windows[windows.clone()].iter().zip(&shares[windows]) {
            for w in cols.cells(window) {
                grad_row[w] = grad_row[w] + share;
            }
        }
    };
    for (row_window, delta_row) in plan.rows.windows.iter().zip(delta.chunks_exact(out_width)) {
        for ((share, &d), &div) in shares
            .iter_mut()
            .zip(delta_row)
            .zip(divisors.get(plan, row_window, divisor).0)
        {
            *share = d / div;
        }
        let grad = grad.zeros_to((plan.rows.last_cell(row_window) + 1) * width);
        for h in plan.rows.cells(row_window) {
            let grad_row = &mut grad[h * width..(h + 1) * width];
            add_windows(grad_row, 0..interior.start, &shares);
            if !interior.is_empty() {
                let n = interior.len();
                let first = cols.windows[interior.start].start;
                let span = cols.stride * (n - 1) + cols.dilation * (cols.size - 1) + 1;
                let region = &mut grad_row[first..first + span];
                let mid = &shares[interior.clone()];
                phases.load(region, cols.stride);
                for tap in (0..cols.size).rev() {
                    let cells = phases.cells_mut(tap * cols.dilation, n);
                    for (cell, &share) in cells.iter_mut().zip(mid) {
                        *cell = *cell + share;
                    }
                }
                phases.store(region);
            }
            add_windows(grad_row, interior.end..out_width, &shares);
        }
    }
    grad.zeros_to(plan.in_height() * width);
}

/// Backward for overlapping windows, by gathering: each gradient row is
/// written once, every cell the sum of its shares in window order (output
/// row by output row, left to right), as the naive loop adds them to a
/// zeroed gradient.
struct Gather {
    rows: Reach,
    how: Cells,
}

/// How [`Gather`] takes the cells of a gradient row.
enum Cells {
    /// Windows three wide at stride 2, reached by at most three output
    /// rows: every cell of the row in pairs, by [`spread`], from shares rows
    /// padded with [`PAIR_PAD`] zeros on either side. Window `j` starts
    /// `before` cells before cell `2j`: with `u = c + before`, cell `c` is
    /// window `(u - 1) / 2`'s alone when `u` is odd, and else the last cell
    /// of window `u / 2 - 1` and the first of the next. A zero stands for a
    /// window beyond the row, and changes no sum.
    Pairs { before: usize },
    /// Any other windows: every cell of the row one stride phase at a time,
    /// from shares rows with `pad` zeros on either side, which stand for
    /// the windows beyond the first and the last and change no sum.
    Phases { pad: usize, phases: Vec<PhaseSlide> },
}

/// The cells of a gradient row in one stride phase: cell `i` (at `at +
/// stride * i`, `count` of them) is the sum, over the output rows reaching
/// the row, of the padded shares `start + i + offset` for each of `offsets`
/// (its windows left to right).
struct PhaseSlide {
    at: usize,
    count: usize,
    start: usize,
    offsets: Vec<usize>,
}

impl Gather {
    fn new(plan: &Plan) -> Option<Self> {
        let cols = &plan.cols;
        let interior = cols.interior();
        if interior.is_empty() || cols.size < 2 {
            return None;
        }
        let rows = Reach::new(&plan.rows);
        let how = if (cols.size, cols.stride, cols.dilation) == (3, 2, 1) && rows.most() <= 3 {
            // the first full window starts at cell 2 * interior.start - before
            let before = 2 * interior.start - cols.windows[interior.start].start;
            Cells::Pairs { before }
        } else {
            let (pad, phases) = phase_slides(cols);
            Cells::Phases { pad, phases }
        };
        Some(Gather { rows, how })
    }

    fn backward<T: Float>(
        &self,
        plan: &Plan,
        divisor: MeanDivisor,
        delta: &[T],
        ahead: &[T],
        grad: &mut Part<'_, T>,
    ) {
        let (width, out_width) = (plan.in_width(), plan.out_width());
        // the next plane's deltas, divided all at once when it starts: a
        // part prefetched every few gradient rows of this one
        let next = ahead.get(delta.len()..).unwrap_or(&[]);
        let part = delta.len().div_ceil(plan.in_height().max(1)) * PREFETCH_ROWS;
        let pad = match &self.how {
            Cells::Pairs { .. } => PAIR_PAD,
            Cells::Phases { pad, .. } => *pad,
        };
        let pitch = out_width + 2 * pad;
        let mut divisors = RowDivisors::new();
        let mut shares = vec![T::zero(); delta.len() / out_width * pitch];
        let windows = plan.rows.windows.iter().zip(delta.chunks_exact(out_width));
        for ((row_window, delta_row), row) in windows.zip(shares.chunks_exact_mut(pitch)) {
            let (divisors, _) = divisors.get(plan, row_window, divisor);
            divide_shares(delta_row, divisors, &mut row[pad..pad + out_width]);
        }
        let row_shares = |o: usize| &shares[o * pitch..(o + 1) * pitch];
        let mut scratch = (Vec::new(), Vec::new());
        grad.rows(width, |h, grad_row| {
            if h % PREFETCH_ROWS == 0 {
                prefetch(next, h / PREFETCH_ROWS * part, part);
            }
            let reach = self.rows.of(h);
            match &self.how {
                _ if reach.is_empty() => grad_row.fill(T::zero()),
                Cells::Pairs { before } => {
                    // cells from `lead` on in pairs, window `q`'s alone
                    // first, after a lone shared cell where `before` is even
                    let lead = (before % 2 == 0) as usize;
                    let q = (lead + before - 1) / 2 + PAIR_PAD;
                    let n = (width - lead).div_ceil(2);
                    // a cell shared by the windows at `k` and `k + 1`
                    let shared = |k: usize| {
                        let mut sum = T::zero();
                        for &o in reach {
                            let row = row_shares(o);
                            sum = sum + row[k] + row[k + 1];
                        }
                        sum
                    };
                    if lead == 1 {
                        grad_row[0] = shared(q - 1);
                    }
                    if n > 0 {
                        // with the window after the last: a zero, or the
                        // window whose first cell ends an even count of
                        // cells, which `spread` then takes in its last
                        // pair (summed alone after it, the 3x3/s2/p1 mean
                        // backward of (8, 64, 112, 112) took 1.06x the
                        // time on the 2-core development machine)
                        let row = |k: usize| &row_shares(reach[k])[q..q + n + 1];
                        let cells = &mut grad_row[lead..];
                        match reach.len() {
                            1 => spread::<T, 1>([row(0)], cells),
                            2 => spread::<T, 2>([row(0), row(1)], cells),
                            _ => spread::<T, 3>([row(0), row(1), row(2)], cells),
                        }
                    }
                }
                Cells::Phases { phases, .. } => {
                    let rows = reach.iter().map(|&o| row_shares(o));
                    slide_phases(phases, plan.cols.stride, rows, &mut scratch, grad_row);
                }
            }
        });
    }
}

/// How many gradient rows of a plane [`Gather::backward`] writes between
/// two prefetches of the next plane's deltas. Its shares are divided in one
/// pass as a plane starts, a burst of reads the hardware prefetchers do not
/// see coming; prefetched over the plane before, the 3x3/s2/p1 mean
/// backward of (8, 64, 112, 112) took 0.87x the time on the 2-core
/// development machine (every 4 to 16 rows alike, all at once 0.91x; in
/// cache no change). The max backward, which reads its deltas as it
/// goes, was 10 % slower so.
const PREFETCH_ROWS: usize = 8;

/// Zeros on either side of each shares row of [`Cells::Pairs`]: enough
/// for the windows before the first and after the last that a cell of the
/// row would belong to.
const PAIR_PAD: usize = 2;

/// `shares[k] = 0 + delta[k] / divisors[k]`: as added to a zeroed gradient,
/// -0 becomes +0, which changes no sum after it, since a sum that starts at
/// +0 is never -0.
#[inline(never)]
fn divide_shares<T: Float>(delta: &[T], divisors: &[T], shares: &mut [T]) {
    isa::wide(
        shares.len(),
        #[inline(always)]
        || {
            let n = shares.len();
            let (delta, divisors) = (&delta[..n], &divisors[..n]);
            for k in 0..n {
                shares[k] = T::zero() + delta[k] / divisors[k];
            }
        },
    )
}

/// The cells of a gradient row by [`PhaseSlide`]s, from the padded shares
/// of the output rows reaching the row, in order; `scratch` holds the rows
/// and the phases' cells.
#[inline(never)]
fn slide_phases<'a, T: Float + 'a>(
    phases: &[PhaseSlide],
    stride: usize,
    rows: impl Iterator<Item = &'a [T]> + Clone,
    (row_starts, phase): &mut (Vec<&'a [T]>, Vec<T>),
    cells: &mut [T],
) {
    let mut gather = |slide_phase: &PhaseSlide, cells: &mut [T]| {
        row_starts.clear();
        row_starts.extend(rows.clone().map(|row| &row[slide_phase.start..]));
        slide(
            row_starts,
            &slide_phase.offsets,
            &mut cells[..slide_phase.count],
        );
    };
    match phases {
        [only] if stride == 1 => gather(only, cells),
        [evens, odds] if stride == 2 => {
            // both phases, then interleaved in one pass
            phase.resize(evens.count + odds.count, T::zero());
            let (even_cells, odd_cells) = phase.split_at_mut(evens.count);
            gather(evens, even_cells);
            gather(odds, odd_cells);
            interleave(even_cells, odd_cells, cells);
        }
        phases => {
            for slide_phase in phases {
                phase.resize(slide_phase.count, T::zero());
                gather(slide_phase, phase);
                let cells = cells[slide_phase.at..].iter_mut().step_by(stride);
                for (cell, &value) in cells.zip(&phase[..slide_phase.count]) {
                    *cell = value;
                }
            }
        }
    }
}

/// For the column windows of `cols`: how many zeros pad each shares row,
/// and how each stride phase of a gradient row is gathered. Window `j`
/// covers cells `base + stride * (j - first) + dilation * t`, `t` below
/// the window's size, where window `first` is the first full one and
/// `base` its first cell; windows clipped by padding are those whose cells
/// fall outside the row.
fn phase_slides(cols: &AxisPlan) -> (usize, Vec<PhaseSlide>) {
    let (size, stride, dilation) = (cols.size, cols.stride, cols.dilation);
    let interior = cols.interior();
    let (first, base) = (
        interior.start as isize,
        cols.windows[interior.start].start as isize,
    );
    // window `j` of cell `x` at tap `t`, if `x` lies in it
    let window = |x: usize, t: usize| {
        let d = x as isize - base - (dilation * t) as isize;
        (d % stride as isize == 0).then(|| first + d / stride as isize)
    };
    // enough zeros on either side for the windows of every cell
    let reached = (0..cols.input).flat_map(|x| (0..size).filter_map(move |t| window(x, t)));
    let (low, high) = reached.fold((0, 0), |(low, high), j| (low.min(j), high.max(j)));
    let pad = (-low).max(high - cols.windows.len() as isize + 1).max(0) as usize;
    let phases = (0..stride.min(cols.input))
        .map(|at| {
            let count = (cols.input - at).div_ceil(stride);
            // the windows of cell `at`, left to right (taps from the last)
            let windows: Vec<usize> = (0..size)
                .rev()
                .filter_map(|t| window(at, t))
                .map(|j| (j + pad as isize) as usize)
                .collect();
            let start = windows.first().copied().unwrap_or(0);
            let offsets = windows.iter().map(|&j| j - start).collect();
            PhaseSlide {
                at,
                count,
                start,
                offsets,
            }
        })
        .collect();
    (pad, phases)
}

/// Cells of one stride phase, from the shares of the output rows reaching
/// them, in window order: `cells[m]` is the sum over the rows of shares
/// `m + offset` for each of `offsets`.
#[inline(never)]
fn slide<T: Float>(shares: &[&[T]], offsets: &[usize], cells: &mut [T]) {
    isa::wide(
        cells.len(),
        #[inline(always)]
        || slide_in(shares, offsets, cells),
    )
}

/// The body of [`slide`], inlined into each instruction set's copy: rows
/// of 32 cells and more in blocks of 32, shorter ones a pass per share row
/// and offset.
#[inline(always)]
fn slide_in<T: Float>(shares: &[&[T]], offsets: &[usize], cells: &mut [T]) {
    let n = cells.len();
    let Some(&first) = offsets.first() else {
        cells.fill(T::zero());
        return;
    };
    if n >= 32 {
        slide_blocks::<T, 32>(shares, offsets, cells);
    } else {
        cells.copy_from_slice(&shares[0][first..][..n]);
        for (r, row) in shares.iter().enumerate() {
            for &offset in &offsets[(r == 0) as usize..] {
                add_row(&row[offset..][..n], cells);
            }
        }
    }
}

/// [`slide_in`] in blocks of `L` cells, the last overlapping the one
/// before, each block's sums held in a local array (in registers) over
/// every share row and offset and written once: the adds of one cell are a
/// chain, so a block holds several vectors of independent chains. On the
/// 2-core development machine, against a pass over the whole row per share
/// row and offset, the 3x3/s1/p1 mean backward of (8, 64, 112, 112) took
/// 0.66x the time, 5x5/s2/p2 0.84x (blocks of 64 where rows are long
/// enough: 3 % less again, not kept).
#[inline(always)]
fn slide_blocks<T: Float, const L: usize>(shares: &[&[T]], offsets: &[usize], cells: &mut [T]) {
    let n = cells.len();
    let mut done = 0;
    while done < n {
        let start = done.min(n - L);
        let mut block = [T::zero(); L];
        block.copy_from_slice(&shares[0][offsets[0] + start..][..L]);
        for (r, row) in shares.iter().enumerate() {
            for &offset in &offsets[(r == 0) as usize..] {
                add_row(&row[offset + start..][..L], &mut block);
            }
        }
        cells[start..start + L].copy_from_slice(&block);
        done = start + L;
    }
}

/// `cells[2m] = evens[m]`, `cells[2m + 1] = odds[m]`, as far as `cells`
/// goes.
fn interleave<T: Copy>(evens: &[T], odds: &[T], cells: &mut [T]) {
    let mut pairs = cells.chunks_exact_mut(2);
    for (pair, (&even, &odd)) in (&mut pairs).zip(evens.iter().zip(odds)) {
        pair[0] = even;
        pair[1] = odd;
    }
    if let [last] = pairs.into_remainder() {
        *last = evens[evens.len() - 1];
    }
}

/// `cells[m] += row[m]`.
#[inline(always)]
pub(crate) fn add_row<T: Float>(row: &[T], cells: &mut [T]) {
    for (cell, &share) in cells.iter_mut().zip(row) {
        *cell = *cell + share;
    }
}

/// The cells under windows three wide at stride 2, from the shares of
/// the `L` output rows reaching them (`n + 1` windows each, zeros for
/// windows beyond the row): cell `2m` is window `m`'s alone, cell `2m + 1`
/// is window `m`'s last and window `m + 1`'s first; `cells` holds `2n - 1`
/// or `2n` of them.
#[inline(never)]
fn spread<T: Float, const L: usize>(shares: [&[T]; L], cells: &mut [T]) {
    let m = cells.len() / 2;
    let (pairs, last) = cells.split_at_mut(2 * m);
    isa::wide_isa(
        pairs.len(),
        #[inline(always)]
        |isa| match isa {
            Isa::Avx512 => spread_blocks::<T, L>(shares, pairs),
            Isa::Avx2 | Isa::Portable => spread_pairs::<T, L>(shares, 0, pairs),
        },
    );
    if let [last] = last {
        let mut own = shares[0][m];
        for row in shares.iter().skip(1) {
            own = own + row[m];
        }
        *last = own;
    }
}

/// The pairs of [`spread`] for sixteen-lane vectors: in blocks of sixteen
/// pairs, the last block overlapping the one before, so that no pair is
/// left to a scalar remainder; each block is computed into a local array.
#[inline(always)]
fn spread_blocks<T: Float, const L: usize>(shares: [&[T]; L], pairs: &mut [T]) {
    const LANES: usize = 16;
    let n = pairs.len() / 2;
    if n < LANES {
        spread_pairs::<T, L>(shares, 0, pairs);
        return;
    }
    let mut done = 0;
    while done < n {
        let first = done.min(n - LANES);
        let mut block = [T::zero(); 2 * LANES];
        spread_pairs::<T, L>(shares, first, &mut block);
        pairs[2 * first..2 * (first + LANES)].copy_from_slice(&block);
        done = first + LANES;
    }
}

/// Pairs `first..` of [`spread`], as many as `pairs` holds: window
/// `first + m`'s alone cell and the cell it shares with the next window.
#[inline(always)]
fn spread_pairs<T: Float, const L: usize>(shares: [&[T]; L], first: usize, pairs: &mut [T]) {
    let n = pairs.len() / 2;
    let shares = shares.map(|s| &s[first..first + n + 1]);
    for (m, pair) in pairs.chunks_exact_mut(2).enumerate() {
        let (mut own, mut shared) = (shares[0][m], shares[0][m] + shares[0][m + 1]);
        for row in shares.iter().skip(1) {
            own = own + row[m];
            shared = shared + row[m] + row[m + 1];
        }
        pair[0] = own;
        pair[1] = shared;
    }
}
