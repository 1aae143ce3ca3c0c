//! Separable max and min: each input row reduced once, then the rows
//! combined.
//!
//! Each input row is reduced to the extreme of every window's cells in that
//! row (and which of them won); a window's result is then the extreme of its
//! rows' results. Output rows whose windows share input rows (any row
//! stride smaller than the window's height) share their reductions. When the
//! windows fit a whole number of times in a row, the full windows of all
//! rows of a run are reduced in one pass, without a loop per row. Windows
//! three columns wide at stride 1 or 2 take a loop of strided loads; other
//! windows of adjacent cells at stride 1 are reduced by doubling (runs of 2,
//! 4, 8, … cells, each level one pass; see [`double`]); others split the run
//! into its stride phases once, then take one contiguous pass per column
//! tap. Windows clipped by padding are reduced a column at a time over every
//! row of the run, or, where several of adjacent cells share a row's first
//! or last cell, in one walk per row and side ([`edges`]). Output rows of
//! windows taller than three rows, one row apart, are combined by doubling
//! too ([`double_rows`]); other rows of windows taller than three, a pass
//! per window row.
//!
//! The result equals the reference's walk over the window in row-major
//! order: of equal values the first wins in both, since a row's first
//! winning cell is the first in that row, and the first row holding the
//! window's extreme holds its first winning cell. That holds for any order
//! without NaN; when a row holds NaN, the caller takes the output rows
//! again by the exact loop.

use std::any::Any;
use std::cell::Cell;

use crate::argmax::Offset;
use crate::element::{Extremum, PoolElement};
use crate::geometry::{AxisWindow, Plan};
use crate::isa::{self, Isa};
use crate::phases::Phases;

/// Reductions of the input rows under a run of output rows: input row `r`
/// of the run at `best[r * pitch..][..out_width]`, one value per output
/// column.
pub(crate) struct Separable<T> {
    best: Vec<T>,
    /// Which of a row's cells won (its column tap), a byte each: the
    /// kernels store and reload a quarter of what `u32` taps cost them.
    tap: Vec<u8>,
    phases: Phases<T>,
    levels: Levels<T>,
}

/// Buffers for [`double`]: the extremes of runs of adjacent cells, and
/// their column taps, for two levels at a time.
struct Levels<T> {
    values: [Vec<T>; 2],
    taps: [Vec<u8>; 2],
    /// For [`double_rows`]: offsets in the window, `row tap * window width
    /// + column tap`, two `Vec<O>` of the last call's offset type `O`.
    offsets: Option<Box<dyn Any>>,
}

thread_local! {
    /// The calling thread's last [`Separable`], of whatever element type, so
    /// that planes after the first find their buffers allocated.
    static KEPT: Cell<Option<Box<dyn Any>>> = const { Cell::new(None) };
}

impl<T: PoolElement> Separable<T> {
    /// Runs `f` with this thread's buffers for element type `T`.
    pub fn with<R>(f: impl FnOnce(&mut Separable<T>) -> R) -> R {
        let kept = KEPT
            .take()
            .and_then(|kept| kept.downcast::<Separable<T>>().ok());
        let mut separable = kept.unwrap_or_else(|| {
            Box::new(Separable {
                best: Vec::new(),
                tap: Vec::new(),
                phases: Phases::new(),
                levels: Levels {
                    values: [Vec::new(), Vec::new()],
                    taps: [Vec::new(), Vec::new()],
                    offsets: None,
                },
            })
        });
        let result = f(&mut separable);
        KEPT.set(Some(separable));
        result
    }

    /// Whether `plan`'s windows suit [`rows`](Self::rows): regular windows
    /// (not adaptive ones), whose column taps fit a byte.
    pub fn suits(plan: &Plan) -> bool {
        plan.rows.stride != 0 && plan.cols.stride != 0 && plan.cols.size <= 256
    }

    /// How many consecutive output rows [`rows`](Self::rows) takes at once:
    /// about 1 K row reductions, 4 KB of `f32` per thread (a run of 3x3
    /// windows at stride 2 on rows 112 wide covers 9 output rows), so that
    /// a run's reductions and the input rows it reads stay in L1 cache
    /// together. On the 2-core development machine, runs of 4 K made the
    /// 3x3/s2/p1 max forward of (8, 64, 112, 112) 1.45x (without indices) and
    /// 1.55x (with them) as slow, though the smaller runs cost 0–7 % on
    /// inputs that stay in cache.
    pub fn run_length(plan: &Plan) -> usize {
        let per_row = plan.in_width().div_ceil(plan.cols.stride) * plan.rows.stride;
        (1024 / per_row.max(1)).max(1)
    }

    /// The extreme of every window of the output rows `windows` (consecutive
    /// row windows of `plan`) over `input`, a plane; with `INDEX`, each
    /// winner's offset in its window (`row tap * window width + column
    /// tap`, taps counted from the window's first real cell). Returns
    /// whether a row held NaN, in which case `out` and `offsets` are not the
    /// reference's.
    pub fn rows<E: Extremum, O: Offset, const INDEX: bool>(
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
            let span = cols.dilation * (cols.size - 1) + 1;
            let (runs, n) = if flat {
                let cells = (high - low) * width - first;
                (1, (cells - span) / cols.stride + 1)
            } else {
                (high - low, interior.len())
            };
            let three = cols.size == 3 && cols.dilation == 1;
            for r in 0..runs {
                let (start, at) = ((low + r) * width + first, r * pitch + interior.start);
                let row = &input[start..start + cols.stride * (n - 1) + span];
                let (best, tap) = (
                    &mut best[at..at + n],
                    if INDEX { &mut tap[at..at + n] } else { &mut [] },
                );
                nan |= match (three, cols.stride) {
                    (true, 1) => reduce::<T, E, INDEX, 1>(row, best, tap),
                    (true, 2) => reduce::<T, E, INDEX, 2>(row, best, tap),
                    (_, 1) if cols.dilation == 1 && cols.size > 1 => {
                        double::<T, E, INDEX>(row, cols.size, best, tap, &mut self.levels)
                    }
                    _ => {
                        let view = self.phases.split(row, cols.stride);
                        let cells = |t: usize| view.cells(t * cols.dilation, n);
                        reduce_phases::<T, E, INDEX>(cols.size, cells, best, tap)
                    }
                };
            }
        }
        let rows = high - low;
        let base = &input[low * width..];
        // clipped windows of adjacent cells that start at a row's first cell
        // or end at its last, each side's in one walk along the row where
        // it has several
        let side = |o: &usize| cols.dilation == 1 || cols.windows[*o].taps == 1;
        let prefix = |o: &usize| side(o) && cols.windows[*o].start == 0;
        let suffix = |o: &usize| {
            let window = &cols.windows[*o];
            side(o) && window.start + window.taps == width
        };
        // (a side's one window by itself: its walk is the window's cells)
        let shared = |count: usize| if count > 1 { count } else { 0 };
        let (left, right) = if interior.start > 1 || out_width - interior.end > 1 {
            let left = shared((0..interior.start).take_while(prefix).count());
            let right = shared((interior.end..out_width).rev().take_while(suffix).count());
            (left, out_width - right)
        } else {
            (0, out_width)
        };
        if left > 0 || right < out_width {
            let reduced = (&mut best[..], &mut tap[..], pitch);
            nan |= edges::<T, E, INDEX>((base, width, rows), &cols.windows, (left, right), reduced);
        }
        for o in (left..interior.start).chain(interior.end..right) {
            let window = &cols.windows[o];
            let input = &input[low * width + window.start..];
            let (best, tap) = (&mut best[o..], if INDEX { &mut tap[o..] } else { &mut [] });
            let cells = (window.taps, cols.dilation);
            nan |= match cells {
                (1, _) => edge::<T, E, INDEX, 1>(input, width, rows, cells, best, tap, pitch),
                (2, 1) => edge::<T, E, INDEX, 2>(input, width, rows, cells, best, tap, pitch),
                (3, 1) => edge::<T, E, INDEX, 3>(input, width, rows, cells, best, tap, pitch),
                _ => edge::<T, E, INDEX, 0>(input, width, rows, cells, best, tap, pitch),
            };
        }
        if nan {
            return true;
        }
        let (n, rows) = (out_width, &plan.rows);
        if !(rows.size > 3 && rows.stride == 1 && rows.dilation == 1) {
            combine::<T, E, O, INDEX>(plan, windows, low, pitch, best, tap, out, offsets);
            return false;
        }
        // windows of every row at once, by doubling; those clipped by
        // padding, above and below them, a row at a time
        let full = |w: &AxisWindow| w.taps == rows.size;
        let start = windows.iter().position(full).unwrap_or(windows.len());
        let end = start + windows[start..].iter().take_while(|w| full(w)).count();
        let (head, mid, tail) = cut(out, start * n, end * n);
        let (offsets_head, offsets_mid, offsets_tail) = if INDEX {
            cut(offsets, start * n, end * n)
        } else {
            (&mut [][..], &mut [][..], &mut [][..])
        };
        let reached = (low, high - low, pitch);
        combine::<T, E, O, INDEX>(
            plan,
            &windows[..start],
            low,
            pitch,
            best,
            tap,
            head,
            offsets_head,
        );
        double_rows::<T, E, O, INDEX>(
            plan,
            &windows[start..end],
            reached,
            (best, tap),
            (mid, offsets_mid),
            &mut self.levels,
        );
        combine::<T, E, O, INDEX>(
            plan,
            &windows[end..],
            low,
            pitch,
            best,
            tap,
            tail,
            offsets_tail,
        );
        false
    }
}

/// `cells` cut into `..a`, `a..b` and `b..`.
fn cut<A>(cells: &mut [A], a: usize, b: usize) -> (&mut [A], &mut [A], &mut [A]) {
    let (head, rest) = cells.split_at_mut(a);
    let (mid, tail) = rest.split_at_mut(b - a);
    (head, mid, tail)
}

/// Reduces the windows' three cells of one row; returns whether the row
/// holds NaN.
#[inline(never)]
fn reduce<T: PoolElement, E: Extremum, const INDEX: bool, const STRIDE: usize>(
    row: &[T],
    best: &mut [T],
    tap: &mut [u8],
) -> bool {
    isa::wide(
        best.len(),
        #[inline(always)]
        || reduce_in::<T, E, INDEX, STRIDE>(row, best, tap),
    )
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

/// Reduces windows of `size` adjacent cells, one apart, by doubling: the
/// extremes of every 2, 4, 8, … adjacent cells, each level from two runs
/// of the level before, then each window from the two runs of the largest
/// power of two that cover it, overlapping unless `size` is that power. So
/// ⌈log2 size⌉ passes over the row, not `size` (three, not five, for 5x5
/// windows; three, not seven, for 7x7). Of two runs, the later wins only
/// if it beats the earlier, so the tap is the first winning cell as in the
/// reference's walk: when the earlier run holds the extreme, its first
/// winner comes first; when it does not, the later run's first winner lies
/// past the overlap. Returns whether a cell is NaN.
fn double<T: PoolElement, E: Extremum, const INDEX: bool>(
    row: &[T],
    size: usize,
    best: &mut [T],
    tap: &mut [u8],
    levels: &mut Levels<T>,
) -> bool {
    let n = best.len();
    // the runs of `m` cells that start at every cell where one fits
    let runs = |m: usize| n + size - m;
    if size == 2 {
        return pair_row::<T, E, INDEX>(row, best, tap);
    }
    let [mut values, mut other] = std::mem::take(&mut levels.values);
    let [mut taps, mut other_taps] = std::mem::take(&mut levels.taps);
    values.resize(runs(2), row[0]);
    if INDEX {
        taps.resize(runs(2), 0);
    }
    let nan = pair_row::<T, E, INDEX>(row, &mut values, &mut taps);
    let levels_of = ([&mut values, &mut other], [&mut taps, &mut other_taps]);
    let m = climb::<T, E, u8, INDEX>(levels_of, (size, 1, 1), runs);
    let gap = size - m;
    isa::wide(
        n,
        #[inline(always)]
        || pair::<T, E, u8, u8, INDEX>((&values, &taps), gap, (|t| t, gap as u8), (best, tap)),
    );
    levels.values = [values, other];
    levels.taps = [taps, other_taps];
    nan
}

/// The output rows `windows`, every one `size` rows tall (`plan.rows.size`,
/// one row apart), from the reduced rows `best` of the rows `low..low +
/// rows`, `pitch` apart, by doubling as [`double`] does along a row: the
/// extremes of every 2, 4, 8, … adjacent rows, each level in one pass over
/// all rows, then each window from two runs of rows. So about ⌈log2 size⌉
/// passes over the rows, not `size` passes per output row.
#[allow(clippy::type_complexity)]
#[inline(never)]
fn double_rows<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool>(
    plan: &Plan,
    windows: &[AxisWindow],
    (low, rows, pitch): (usize, usize, usize),
    (best, tap): (&[T], &[u8]),
    (out, offsets): (&mut [T], &mut [O]),
    levels: &mut Levels<T>,
) {
    if windows.is_empty() {
        return;
    }
    let (n, size, width) = (plan.out_width(), plan.rows.size, plan.cols.size);
    // the cells of the runs of `m` rows that start at every row where one fits
    let span = |m: usize| (rows - m) * pitch + n;
    let [mut values, mut other] = std::mem::take(&mut levels.values);
    let mut kept: Box<[Vec<O>; 2]> = (levels.offsets.take())
        .and_then(|kept| kept.downcast().ok())
        .unwrap_or_default();
    let [at, other_at] = &mut *kept;
    values.resize(span(2), best[0]);
    if INDEX {
        at.resize(span(2), O::zero());
    }
    let level = (&mut values[..], &mut at[..]);
    isa::wide(
        span(2),
        #[inline(always)]
        || {
            let (offset, later) = (|t: u8| O::from_usize(t as usize), O::from_usize(width));
            pair::<T, E, u8, O, INDEX>((best, tap), pitch, (offset, later), level)
        },
    );
    let levels_of = ([&mut values, &mut other], [&mut *at, &mut *other_at]);
    let m = climb::<T, E, O, INDEX>(levels_of, (size, pitch, width), span);
    let gap = size - m;
    let later = O::from_usize(gap * width);
    // rows of reductions as wide as the output's, and windows one row
    // apart: all output rows in one pass
    if pitch == n {
        debug_assert!(windows.windows(2).all(|w| w[1].start == w[0].start + 1));
        let r = (windows[0].start - low) * pitch;
        let run = (&values[r..], if INDEX { &at[r..] } else { &[] });
        let out = &mut out[..windows.len() * n];
        let offsets = if INDEX {
            &mut offsets[..windows.len() * n]
        } else {
            &mut []
        };
        isa::wide(
            out.len(),
            #[inline(always)]
            || pair::<T, E, O, O, INDEX>(run, gap * pitch, (|t| t, later), (out, offsets)),
        );
        levels.values = [values, other];
        levels.offsets = Some(kept);
        return;
    }
    isa::wide(
        n,
        #[inline(always)]
        || {
            for (i, window) in windows.iter().enumerate() {
                let r = (window.start - low) * pitch;
                let run = (&values[r..], if INDEX { &at[r..] } else { &[] });
                let out = &mut out[i * n..(i + 1) * n];
                let offsets = if INDEX {
                    &mut offsets[i * n..(i + 1) * n]
                } else {
                    &mut []
                };
                pair::<T, E, O, O, INDEX>(run, gap * pitch, (|t| t, later), (out, offsets));
            }
        },
    );
    levels.values = [values, other];
    levels.offsets = Some(kept);
}

/// The levels of [`double`] and [`double_rows`] after the first: from runs
/// of 2 cells or rows in `values` and `taps` (runs `step` apart, a tap
/// counted in `unit`s per cell or row), each level's runs of twice the
/// length at the `span(m)` starts where runs of `m` fit, while they stay
/// shorter than `size`. Returns the length reached, whose runs end in
/// `values` and `taps`: the largest power of two not above `size`, or half
/// of it when `size` is that power.
fn climb<T: PoolElement, E: Extremum, A: Offset, const INDEX: bool>(
    ([values, other], [taps, other_taps]): ([&mut Vec<T>; 2], [&mut Vec<A>; 2]),
    (size, step, unit): (usize, usize, usize),
    span: impl Fn(usize) -> usize,
) -> usize {
    let top = 1 << size.ilog2();
    let mut m = 2;
    while 2 * m <= top && 2 * m < size {
        let len = span(2 * m);
        other.resize(len, values[0]);
        if INDEX {
            other_taps.resize(len, A::zero());
        }
        let level = (&mut other[..], &mut other_taps[..]);
        isa::wide(
            len,
            #[inline(always)]
            || {
                let later = A::from_usize(m * unit);
                pair::<T, E, A, A, INDEX>((values, taps), m * step, (|t| t, later), level)
            },
        );
        std::mem::swap(values, other);
        std::mem::swap(taps, other_taps);
        m *= 2;
    }
    m
}

/// The first level of [`double`]: the extreme of every two adjacent cells
/// of `row` into `out`, and with `INDEX` which of the two (0 or 1); returns
/// whether a cell is NaN.
#[inline(never)]
fn pair_row<T: PoolElement, E: Extremum, const INDEX: bool>(
    row: &[T],
    out: &mut [T],
    out_taps: &mut [u8],
) -> bool {
    isa::wide(
        out.len(),
        #[inline(always)]
        || {
            let n = out.len();
            let (low, high) = (&row[..n], &row[1..n + 1]);
            let out_taps = if INDEX { &mut out_taps[..n] } else { &mut [] };
            let mut nan = false;
            for c in 0..n {
                nan |= low[c].is_nan();
                let wins = E::beats(high[c], low[c]);
                out[c] = if wins { high[c] } else { low[c] };
                if INDEX {
                    out_taps[c] = wins as u8;
                }
            }
            nan | row[n].is_nan()
        },
    )
}

/// A level of [`double`] or [`double_rows`] from the one before: `out[c]`
/// the extreme of the runs at `c` and `c + gap`, the earlier on a tie, and
/// with `INDEX` its tap in `out_taps`: `tap(taps[c])`, or
/// `tap(taps[c + gap]) + later` for the later run.
#[inline(always)]
fn pair<T: PoolElement, E: Extremum, A: Copy, B: Offset, const INDEX: bool>(
    (values, taps): (&[T], &[A]),
    gap: usize,
    (tap, later): (impl Fn(A) -> B, B),
    (out, out_taps): (&mut [T], &mut [B]),
) {
    let n = out.len();
    let (low, high) = (&values[..n], &values[gap..gap + n]);
    if INDEX {
        let (low_taps, high_taps) = (&taps[..n], &taps[gap..gap + n]);
        let out_taps = &mut out_taps[..n];
        for c in 0..n {
            let wins = E::beats(high[c], low[c]);
            out[c] = if wins { high[c] } else { low[c] };
            out_taps[c] = B::pick(wins, tap(high_taps[c]) + later, tap(low_taps[c]));
        }
    } else {
        for c in 0..n {
            out[c] = if E::beats(high[c], low[c]) {
                high[c]
            } else {
                low[c]
            };
        }
    }
}

/// Reduces `size` column taps of one run, tap `t`'s cells of every window
/// given by `cells(t)`; returns whether a cell is NaN. By [`reduce_blocks`],
/// or, on AVX-512, where a pass over the run per tap was measured best
/// (see the README), by such passes.
#[inline(never)]
fn reduce_phases<'a, T: PoolElement, E: Extremum, const INDEX: bool>(
    size: usize,
    cells: impl Fn(usize) -> &'a [T],
    best: &mut [T],
    tap: &mut [u8],
) -> bool {
    let n = best.len();
    if size <= MAX_BLOCK_TAPS && n >= 16 && isa::chosen() != Isa::Avx512 {
        let mut taps = [&[][..]; MAX_BLOCK_TAPS];
        for (t, cells_of) in taps.iter_mut().zip((0..size).map(&cells)) {
            *t = &cells_of[..n];
        }
        return isa::wide(
            n,
            #[inline(always)]
            || reduce_blocks::<T, E, INDEX, 16>(&taps[..size], best, tap),
        );
    }
    let first = cells(0);
    let mut nan = isa::wide(
        n,
        #[inline(always)]
        || first_tap::<T, INDEX>(first, best, tap),
    );
    for t in 1..size {
        let cells = cells(t);
        nan |= isa::wide(
            n,
            #[inline(always)]
            || reduce_tap::<T, E, INDEX>(cells, t as u8, best, tap),
        );
    }
    nan
}

/// The most column taps [`reduce_blocks`] takes.
const MAX_BLOCK_TAPS: usize = 16;

/// [`reduce_phases`] in blocks of `L` windows (`L` or more in all), each
/// block's extremes and taps held in local arrays (in registers) over every
/// tap and written once, the last block overlapping the one before. The
/// per-tap passes store each window's extreme back where a tap loses,
/// which on AVX2 becomes a slow masked store (see
/// [`isa::wide_skipping_avx2`]); here no cell is kept in memory.
#[inline(always)]
fn reduce_blocks<T: PoolElement, E: Extremum, const INDEX: bool, const L: usize>(
    taps: &[&[T]],
    best: &mut [T],
    tap: &mut [u8],
) -> bool {
    let n = best.len();
    debug_assert!(n >= L);
    let mut nan = false;
    let mut done = 0;
    while done < n {
        let at = done.min(n - L);
        let mut values: [T; L] = [T::zero(); L];
        let mut winners = [0u8; L];
        values.copy_from_slice(&taps[0][at..at + L]);
        for &value in &values {
            nan |= value.is_nan();
        }
        for (t, cells) in taps.iter().enumerate().skip(1) {
            let cells = &cells[at..at + L];
            for ((b, w), &value) in values.iter_mut().zip(&mut winners).zip(cells) {
                nan |= value.is_nan();
                let wins = E::beats(value, *b);
                *b = if wins { value } else { *b };
                *w = u8::pick(wins, t as u8, *w);
            }
        }
        best[at..at + L].copy_from_slice(&values);
        if INDEX {
            tap[at..at + L].copy_from_slice(&winners);
        }
        done = at + L;
    }
    nan
}

/// The first column tap of [`reduce_phases`], inlined into each
/// instruction set's copy.
#[inline(always)]
fn first_tap<T: PoolElement, const INDEX: bool>(
    cells: &[T],
    best: &mut [T],
    tap: &mut [u8],
) -> bool {
    let n = best.len();
    let cells = &cells[..n];
    if INDEX {
        tap[..n].fill(0);
    }
    let mut nan = false;
    for j in 0..n {
        nan |= cells[j].is_nan();
        best[j] = cells[j];
    }
    nan
}

/// One column tap of [`reduce_phases`], inlined into each instruction
/// set's copy.
#[inline(always)]
fn reduce_tap<T: PoolElement, E: Extremum, const INDEX: bool>(
    cells: &[T],
    t: u8,
    best: &mut [T],
    tap: &mut [u8],
) -> bool {
    let n = best.len();
    let cells = &cells[..n];
    let tap = if INDEX { &mut tap[..n] } else { &mut [] };
    let mut nan = false;
    for j in 0..n {
        let (value, b) = (cells[j], best[j]);
        nan |= value.is_nan();
        let wins = E::beats(value, b);
        best[j] = if wins { value } else { b };
        if INDEX {
            tap[j] = u8::pick(wins, t, tap[j]);
        }
    }
    nan
}

/// The clipped windows `..left` of every row, which start at its first
/// cell, and `right..`, which end at its last (of adjacent cells; `windows`
/// in order, the taps of the first growing, the starts of the second), of
/// `rows` consecutive rows of `input`, `width` apart, reduced into `best`
/// and `tap`, `pitch` apart: a row's first cells walked once forward for
/// the first, its last cells once backward for the second, each window
/// taken where the walk has covered its cells. Of equal values the earlier
/// cell wins both walks, as in [`edge`]. Returns whether a cell walked is
/// NaN.
#[inline(never)]
fn edges<T: PoolElement, E: Extremum, const INDEX: bool>(
    (input, width, rows): (&[T], usize, usize),
    windows: &[AxisWindow],
    (left, right): (usize, usize),
    (best, tap, pitch): (&mut [T], &mut [u8], usize),
) -> bool {
    let mut nan = false;
    let (lefts, rights) = (&windows[..left], &windows[right..]);
    for r in 0..rows {
        let row = &input[r * width..][..width];
        let best = &mut best[r * pitch..];
        let tap: &mut [u8] = if INDEX {
            &mut tap[r * pitch..]
        } else {
            &mut []
        };
        if !lefts.is_empty() {
            let (mut b, mut t, mut k) = (row[0], 0, 1);
            nan |= b.is_nan();
            for (o, window) in lefts.iter().enumerate() {
                while k < window.taps {
                    let value = row[k];
                    nan |= value.is_nan();
                    if E::beats(value, b) {
                        (b, t) = (value, k);
                    }
                    k += 1;
                }
                best[o] = b;
                if INDEX {
                    tap[o] = t as u8;
                }
            }
        }
        if let Some(last) = rights.last() {
            let mut k = width - 1;
            let (mut b, mut w) = (row[k], k);
            nan |= b.is_nan();
            for (o, window) in rights.iter().enumerate().rev() {
                while k > window.start {
                    k -= 1;
                    let value = row[k];
                    nan |= value.is_nan();
                    // the earlier cell wins a tie
                    if !E::beats(b, value) {
                        (b, w) = (value, k);
                    }
                }
                best[right + o] = b;
                if INDEX {
                    tap[right + o] = (w - window.start) as u8;
                }
            }
            debug_assert!(last.start + last.taps == width);
        }
    }
    nan
}

/// One window's cells (`cells`: how many, how far apart) of `rows`
/// consecutive rows of `input`, `width` apart, reduced into `best` and
/// `tap`, `pitch` apart; returns whether a row holds NaN.
#[inline(never)]
fn edge<T: PoolElement, E: Extremum, const INDEX: bool, const TAPS: usize>(
    input: &[T],
    width: usize,
    rows: usize,
    (taps, dilation): (usize, usize),
    best: &mut [T],
    tap: &mut [u8],
    pitch: usize,
) -> bool {
    let mut nan = false;
    // a constant count of adjacent cells, when `TAPS` is not 0
    let (taps, dilation) = if TAPS > 0 {
        (TAPS, 1)
    } else {
        (taps, dilation)
    };
    for r in 0..rows {
        let row = &input[r * width..];
        let (mut b, mut t) = (row[0], 0);
        for k in 0..taps {
            let value = row[k * dilation];
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

/// The output rows `windows`: each the extreme of its reduced rows, in row
/// order.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn combine<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool>(
    plan: &Plan,
    windows: &[AxisWindow],
    low: usize,
    pitch: usize,
    best: &[T],
    tap: &[u8],
    out: &mut [T],
    offsets: &mut [O],
) {
    // taller windows fold a row at a time into the output, keeping cells
    isa::wide_skipping_avx2(
        plan.rows.size > 3,
        plan.out_width(),
        #[inline(always)]
        || combine_in::<T, E, O, INDEX>(plan, windows, low, pitch, best, tap, out, offsets),
    )
}

/// The body of [`combine`], inlined into each instruction set's copy:
/// windows up to three rows tall in one pass, taller ones a pass per row.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn combine_in<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool>(
    plan: &Plan,
    windows: &[AxisWindow],
    low: usize,
    pitch: usize,
    best: &[T],
    tap: &[u8],
    out: &mut [T],
    offsets: &mut [O],
) {
    let (n, size) = (plan.out_width(), plan.cols.size);
    let rows =
        |window: &AxisWindow, k: usize| (window.start - low + k * plan.rows.dilation) * pitch;
    for (i, window) in windows.iter().enumerate() {
        let out = &mut out[i * n..(i + 1) * n];
        let offsets: &mut [O] = if INDEX {
            &mut offsets[i * n..(i + 1) * n]
        } else {
            &mut []
        };
        if plan.rows.size <= 3 {
            // fewer than three rows: the last repeats, and never beats itself
            let taps = [0, 1, 2].map(|k| k.min(window.taps - 1));
            let rows = taps.map(|k| rows(window, k));
            let best = rows.map(|r| &best[r..r + n]);
            let tap = rows.map(|r| if INDEX { &tap[r..r + n] } else { &[] });
            // each row's first offset: below the window's cell count
            let bases = taps.map(|k| O::from_usize(k * size));
            combine_3::<T, E, O, INDEX>(best, tap, bases, out, offsets);
        } else {
            let r = rows(window, 0);
            out.copy_from_slice(&best[r..r + n]);
            if INDEX {
                for (offset, &t) in offsets.iter_mut().zip(&tap[r..r + n]) {
                    *offset = O::from_usize(t as usize);
                }
            }
            for k in 1..window.taps {
                let r = rows(window, k);
                let (best, tap) = (&best[r..r + n], if INDEX { &tap[r..r + n] } else { &[] });
                fold_row::<T, E, O, INDEX>(best, tap, k * size, out, offsets);
            }
        }
    }
}

/// One output row of windows three rows tall, from its rows' reductions
/// `best` and column taps `tap`, `bases` the offsets of the rows' first
/// cells in their windows.
#[inline(always)]
fn combine_3<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool>(
    [b0, b1, b2]: [&[T]; 3],
    [t0, t1, t2]: [&[u8]; 3],
    [base0, base1, base2]: [O; 3],
    out: &mut [T],
    offsets: &mut [O],
) {
    let n = out.len();
    let (b0, b1, b2) = (&b0[..n], &b1[..n], &b2[..n]);
    if INDEX {
        let (t0, t1, t2, offsets) = (&t0[..n], &t1[..n], &t2[..n], &mut offsets[..n]);
        let tap = |t: u8| O::from_usize(t as usize);
        for j in 0..n {
            // every cell loaded and selected, no branch: the loop vectorizes
            let (mut b, mut t) = (b0[j], base0 + tap(t0[j]));
            let (v1, u1) = (b1[j], base1 + tap(t1[j]));
            let (v2, u2) = (b2[j], base2 + tap(t2[j]));
            let wins = E::beats(v1, b);
            b = if wins { v1 } else { b };
            t = if wins { u1 } else { t };
            let wins = E::beats(v2, b);
            b = if wins { v2 } else { b };
            t = if wins { u2 } else { t };
            out[j] = b;
            offsets[j] = t;
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

/// One more row of a window taller than three: its reductions `best` and
/// column taps `tap` into `out` and `offsets`, the row's first cell at
/// offset `base`.
#[inline(always)]
fn fold_row<T: PoolElement, E: Extremum, O: Offset, const INDEX: bool>(
    best: &[T],
    tap: &[u8],
    base: usize,
    out: &mut [T],
    offsets: &mut [O],
) {
    let n = out.len();
    let best = &best[..n];
    if INDEX {
        let (tap, offsets) = (&tap[..n], &mut offsets[..n]);
        for j in 0..n {
            let wins = E::beats(best[j], out[j]);
            out[j] = if wins { best[j] } else { out[j] };
            offsets[j] = O::pick(wins, O::from_usize(base + tap[j] as usize), offsets[j]);
        }
    } else {
        // a store every cell: as a store only where the row wins, the
        // portable build branched on every cell
        for j in 0..n {
            let (b, o) = (best[j], out[j]);
            out[j] = if E::beats(b, o) { b } else { o };
        }
    }
}
