//! Separable max and min over full windows three columns wide.
//!
//! For windows of three columns with stride 1 or 2 and no column dilation,
//! each input row is reduced once to the extreme of every window's three
//! cells (and which of the three won); a window's result is then the
//! extreme of its rows' results. Consecutive window rows that share an
//! input row (stride 2 over three rows shares one; stride 1 shares two)
//! reuse its reduction.
//!
//! The result equals the reference's walk over the window in row-major
//! order: of equal values the first wins in both, since a row's first
//! winning cell is the first in that row, and the first row holding the
//! window's extreme holds its first winning cell. That holds for any order
//! without NaN; a row holding NaN is flagged and its window row taken again
//! by the exact loop.

use crate::element::{Extremum, PoolElement};
use crate::geometry::AxisPlan;

/// One input row reduced to the extreme of each window's three cells.
struct Reduced<T> {
    row: Option<usize>,
    best: Vec<T>,
    tap: Vec<u32>,
    nan: bool,
}

impl<T> Default for Reduced<T> {
    fn default() -> Self {
        Reduced {
            row: None,
            best: Vec::new(),
            tap: Vec::new(),
            nan: false,
        }
    }
}

/// The reductions of the last three input rows of one plane, each computed
/// once.
pub(crate) struct Triples<T> {
    slots: [Reduced<T>; 3],
}

impl<T: PoolElement> Triples<T> {
    pub fn new() -> Self {
        Triples {
            slots: Default::default(),
        }
    }

    /// Whether the columns of `cols` (size, stride, dilation) suit
    /// [`window_row`](Self::window_row).
    pub fn suits(size: usize, stride: usize, dilation: usize) -> bool {
        size == 3 && dilation == 1 && (stride == 1 || stride == 2)
    }

    /// The extreme of every window of one output row, over the input rows
    /// `rows` (one to three) of `input` (a plane of `cols.input` columns),
    /// columns as `cols` says; with `INDEX`, each winner's offset in the
    /// window (`row tap * 3 + column tap`, taps counted from the window's
    /// first real cell). Returns whether a row held NaN, in which case `out`
    /// and `offsets` are not the reference's.
    #[inline(always)]
    pub fn window_row<E: Extremum, O: crate::argmax::Offset, const INDEX: bool>(
        &mut self,
        input: &[T],
        cols: &AxisPlan,
        rows: &[usize],
        out: &mut [T],
        offsets: &mut [O],
    ) -> bool {
        let (width, n) = (cols.input, out.len());
        debug_assert!((1..=3).contains(&rows.len()));
        for &h in rows {
            if self.slots.iter().any(|slot| slot.row == Some(h)) {
                continue;
            }
            let slot = self
                .slots
                .iter_mut()
                .find(|slot| slot.row.is_none_or(|row| !rows.contains(&row)))
                .expect("three slots for three rows");
            let row = &input[h * width..(h + 1) * width];
            slot.row = Some(h);
            slot.best.resize(n, row[0]);
            if INDEX {
                slot.tap.resize(n, 0);
            }
            slot.nan = reduce_row::<T, E, INDEX>(row, cols, &mut slot.best, &mut slot.tap);
        }
        let reduced = |tap: usize| {
            let h = rows[tap.min(rows.len() - 1)];
            self.slots
                .iter()
                .find(|slot| slot.row == Some(h))
                .expect("reduced above")
        };
        // fewer than three rows: the last repeats, and never beats itself
        let [r0, r1, r2] = [0, 1, 2].map(reduced);
        if r0.nan || r1.nan || r2.nan {
            return true;
        }
        combine::<T, E, O, INDEX>([r0, r1, r2], out, offsets);
        false
    }
}

/// Reduces every window's cells of one input row: full windows by
/// [`reduce`], windows clipped by padding one by one. Returns whether the
/// row holds NaN.
#[inline(always)]
fn reduce_row<T: PoolElement, E: Extremum, const INDEX: bool>(
    row: &[T],
    cols: &AxisPlan,
    best: &mut [T],
    tap: &mut [u32],
) -> bool {
    let interior = cols.interior();
    let mut nan = false;
    if !interior.is_empty() {
        let first = cols.windows[interior.start].start;
        let (best, tap) = (
            &mut best[interior.clone()],
            if INDEX {
                &mut tap[interior.clone()]
            } else {
                &mut []
            },
        );
        nan = if cols.stride == 1 {
            reduce::<T, E, INDEX, 1>(&row[first..], best, tap)
        } else {
            reduce::<T, E, INDEX, 2>(&row[first..], best, tap)
        };
    }
    for o in (0..interior.start).chain(interior.end..cols.windows.len()) {
        let window = &cols.windows[o];
        let cells = &row[window.start..window.start + window.taps];
        let (mut b, mut t) = (cells[0], 0);
        for (k, &value) in cells.iter().enumerate() {
            nan |= value.is_nan();
            if E::beats(value, b) {
                (b, t) = (value, k as u32);
            }
        }
        best[o] = b;
        if INDEX {
            tap[o] = t;
        }
    }
    nan
}

/// Reduces the windows' three cells of one row; returns whether the row
/// holds NaN.
#[inline(never)]
fn reduce<T: PoolElement, E: Extremum, const INDEX: bool, const STRIDE: usize>(
    row: &[T],
    best: &mut [T],
    tap: &mut [u32],
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

/// The extreme of three reduced rows, in row order.
#[inline(never)]
fn combine<T: PoolElement, E: Extremum, O: crate::argmax::Offset, const INDEX: bool>(
    rows: [&Reduced<T>; 3],
    out: &mut [T],
    offsets: &mut [O],
) {
    let n = out.len();
    let [b0, b1, b2] = rows.map(|r| &r.best[..n]);
    if INDEX {
        let [t0, t1, t2] = rows.map(|r| &r.tap[..n]);
        let offsets = &mut offsets[..n];
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
