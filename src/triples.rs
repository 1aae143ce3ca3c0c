//! Separable max and min over windows three columns wide.
//!
//! For windows of three columns with stride 1 or 2 and no column dilation,
//! each input row is reduced once to the extreme of every window's three
//! cells (and which of the three won); a window's result is then the
//! extreme of its rows' results. Consecutive window rows that share an
//! input row (stride 2 over three rows shares one; stride 1 shares two)
//! share its reduction. Windows clipped by padding are reduced a column at
//! a time over every row of the run and combined with the rest.
//!
//! The result equals the reference's walk over the window in row-major
//! order: of equal values the first wins in both, since a row's first
//! winning cell is the first in that row, and the first row holding the
//! window's extreme holds its first winning cell. That holds for any order
//! without NaN; when a row holds NaN, the caller takes the output rows
//! again by the exact loop.

use std::any::Any;
use std::cell::Cell;

use crate::element::{Extremum, PoolElement};
use crate::geometry::{AxisWindow, Plan};
use crate::isa;

/// Reductions of the input rows under a run of output rows: input row `r`
/// of the run at `best[r * pitch..][..out_width]`, one value per output
/// column.
pub(crate) struct Triples<T> {
    best: Vec<T>,
    /// Which of a row's three cells won (0, 1 or 2), a byte each: the
    /// kernels store and reload a quarter of what `u32` taps cost them.
    tap: Vec<u8>,
}

thread_local! {
    /// The calling thread's last [`Triples`], of whatever element type, so
    /// that planes after the first find their buffers allocated.
    static KEPT: Cell<Option<Box<dyn Any>>> = const { Cell::new(None) };
}

impl<T: PoolElement> Triples<T> {
    /// Runs `f` with this thread's buffers for element type `T`.
    pub fn with<R>(f: impl FnOnce(&mut Triples<T>) -> R) -> R {
        let kept = KEPT
            .take()
            .and_then(|kept| kept.downcast::<Triples<T>>().ok());
        let mut triples = kept.unwrap_or_else(|| {
            Box::new(Triples {
                best: Vec::new(),
                tap: Vec::new(),
            })
        });
        let result = f(&mut triples);
        KEPT.set(Some(triples));
        result
    }

    /// Whether `plan`'s windows suit [`rows`](Self::rows): three columns,
    /// stride 1 or 2, no column dilation, at most three rows.
    pub fn suits(plan: &Plan) -> bool {
        let cols = &plan.cols;
        cols.size == 3
            && cols.dilation == 1
            && (cols.stride == 1 || cols.stride == 2)
            && plan.rows.size <= 3
    }

    /// How many consecutive output rows [`rows`](Self::rows) takes at once:
    /// about 16 K input cells.
    pub fn run_length(plan: &Plan) -> usize {
        (16 * 1024 / (plan.in_width() * plan.rows.stride).max(1)).max(1)
    }

    /// The extreme of every window of the output rows `windows` (consecutive
    /// row windows of `plan`) over `input`, a plane; with `INDEX`, each
    /// winner's offset in its window (`row tap * 3 + column tap`, taps
    /// counted from the window's first real cell). Returns whether a row
    /// held NaN, in which case `out` and `offsets` are not the reference's.
    pub fn rows<E: Extremum, O: crate::argmax::Offset, const INDEX: bool>(
        &mut self,
        plan: &Plan,
        input: &[T],
        windows: &[AxisWindow],
        out: &mut [T],
        offsets: &mut [O],
    ) -> bool {
        let (cols, width, out_width) = (&plan.cols, plan.in_width(), plan.out_width());
        // with dilation and padding, window rows need not start in order
        let low = windows.iter().map(|w| w.start).min();
        let high = windows.iter().map(|w| plan.rows.last_cell(w) + 1).max();
        let (Some(low), Some(high)) = (low, high) else {
            return false;
        };
        let interior = cols.interior();
        // with a whole number of windows per input row, the full windows of
        // all rows form one run, `width / stride` apart from row to row, and
        // each row's spare places hold its windows clipped by padding
        let flat = width % cols.stride == 0 && out_width <= width / cols.stride;
        let pitch = if flat { width / cols.stride } else { out_width };
        let len = (high - low) * pitch + out_width;
        self.best.resize(len, input[0]);
        if INDEX {
            self.tap.resize(len, 0);
        }
        let (best, tap) = (&mut self.best[..], &mut self.tap[..]);
        let mut nan = false;
        if !interior.is_empty() {
            let first = cols.windows[interior.start].start;
            let (runs, n) = if flat {
                let cells = (high - low) * width - first;
                (1, (cells - 3) / cols.stride + 1)
            } else {
                (high - low, interior.len())
            };
            for r in 0..runs {
                let (start, at) = ((low + r) * width + first, r * pitch + interior.start);
                let (best, tap) = (
                    &mut best[at..at + n],
                    if INDEX { &mut tap[at..at + n] } else { &mut [] },
                );
                nan |= if cols.stride == 1 {
                    reduce::<T, E, INDEX, 1>(&input[start..], best, tap)
                } else {
                    reduce::<T, E, INDEX, 2>(&input[start..], best, tap)
                };
            }
        }
        let rows = high - low;
        for o in (0..interior.start).chain(interior.end..out_width) {
            let window = &cols.windows[o];
            let start = low * width + window.start;
            let (best, tap) = (&mut best[o..], if INDEX { &mut tap[o..] } else { &mut [] });
            nan |= match window.taps {
                1 => edge::<T, E, INDEX, 1>(&input[start..], width, rows, best, tap, pitch),
                2 => edge::<T, E, INDEX, 2>(&input[start..], width, rows, best, tap, pitch),
                _ => edge::<T, E, INDEX, 3>(&input[start..], width, rows, best, tap, pitch),
            };
        }
        if nan {
            return true;
        }
        combine::<T, E, O, INDEX>(plan, windows, low, pitch, best, tap, out, offsets);
        false
    }
}

/// Reduces the windows' three cells of one row; returns whether the row
/// holds NaN.
#[inline(never)]
fn reduce<T: PoolElement, E: Extremum, const INDEX: bool, const STRIDE: usize>(
    row: &[T],
    best: &mut [T],
    tap: &mut [u8],
) -> bool {
    isa::wide(best.len(), || {
        reduce_in::<T, E, INDEX, STRIDE>(row, best, tap)
    })
}

/// The body of [`reduce`], inlined into each instruction set's copy.
#[inline(always)]
fn reduce_in<T: PoolElement, E: Extremum, const INDEX: bool, const STRIDE: usize>(
    row: &[T],
    best: &mut [T],
    tap: &mut [u8],
) -> bool {
    let n = best.len();
    let row = &row[..STRIDE * (n - 1) + 3];
    let tap = if INDEX { &mut tap[..n] } else { &mut [] };
    let mut nan = false;
    for j in 0..n {
        let (x, y, z) = (row[STRIDE * j], row[STRIDE * j + 1], row[STRIDE * j + 2]);
        // x and y cover every cell but the last
        nan |= x.is_nan() | y.is_nan();
        let (mut b, mut t) = (x, 0);
        let wins = E::beats(y, b);
        b = if wins { y } else { b };
        t = if wins { 1 } else { t };
        let wins = E::beats(z, b);
        b = if wins { z } else { b };
        t = if wins { 2 } else { t };
        best[j] = b;
        if INDEX {
            tap[j] = t;
        }
    }
    nan | row[row.len() - 1].is_nan()
}

/// One window's cells of `rows` consecutive rows of `input`, `width`
/// apart, reduced into `best` and `tap`, `pitch` apart; returns whether a
/// row holds NaN.
#[inline(never)]
fn edge<T: PoolElement, E: Extremum, const INDEX: bool, const TAPS: usize>(
    input: &[T],
    width: usize,
    rows: usize,
    best: &mut [T],
    tap: &mut [u8],
    pitch: usize,
) -> bool {
    let mut nan = false;
    for r in 0..rows {
        let cells: [T; TAPS] = std::array::from_fn(|k| input[r * width + k]);
        let (mut b, mut t) = (cells[0], 0);
        for (k, &value) in cells.iter().enumerate() {
            nan |= value.is_nan();
            if E::beats(value, b) {
                (b, t) = (value, k as u8);
            }
        }
        best[r * pitch] = b;
        if INDEX {
            tap[r * pitch] = t;
        }
    }
    nan
}

/// The output rows `windows`: each the extreme of its (up to three)
/// reduced rows, in row order.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn combine<T: PoolElement, E: Extremum, O: crate::argmax::Offset, const INDEX: bool>(
    plan: &Plan,
    windows: &[AxisWindow],
    low: usize,
    pitch: usize,
    best: &[T],
    tap: &[u8],
    out: &mut [T],
    offsets: &mut [O],
) {
    isa::wide(plan.out_width(), || {
        combine_in::<T, E, O, INDEX>(plan, windows, low, pitch, best, tap, out, offsets)
    })
}

/// The body of [`combine`], inlined into each instruction set's copy.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn combine_in<T: PoolElement, E: Extremum, O: crate::argmax::Offset, const INDEX: bool>(
    plan: &Plan,
    windows: &[AxisWindow],
    low: usize,
    pitch: usize,
    best: &[T],
    tap: &[u8],
    out: &mut [T],
    offsets: &mut [O],
) {
    let (n, step) = (plan.out_width(), plan.rows.dilation);
    for (i, window) in windows.iter().enumerate() {
        // fewer than three rows: the last repeats, and never beats itself
        let rows = [0, 1, 2].map(|k| (window.start - low + k.min(window.taps - 1) * step) * pitch);
        let [b0, b1, b2] = rows.map(|r| &best[r..r + n]);
        let out = &mut out[i * n..(i + 1) * n];
        if INDEX {
            let [t0, t1, t2] = rows.map(|r| &tap[r..r + n]);
            let offsets = &mut offsets[i * n..(i + 1) * n];
            for j in 0..n {
                // every cell loaded and selected, no branch: the loop vectorizes
                let (mut b, mut t) = (b0[j], t0[j]);
                let (v1, u1, v2, u2) = (b1[j], 3 + t1[j], b2[j], 6 + t2[j]);
                let wins = E::beats(v1, b);
                b = if wins { v1 } else { b };
                t = if wins { u1 } else { t };
                let wins = E::beats(v2, b);
                b = if wins { v2 } else { b };
                t = if wins { u2 } else { t };
                out[j] = b;
                offsets[j] = O::from_usize(t as usize);
            }
        } else {
            for j in 0..n {
                let mut b = b0[j];
                if E::beats(b1[j], b) {
                    b = b1[j];
                }
                if E::beats(b2[j], b) {
                    b = b2[j];
                }
                out[j] = b;
            }
        }
    }
}
