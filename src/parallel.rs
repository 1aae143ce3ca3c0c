//! Splits work over `(n, c)` planes, and over bands of output rows when there
//! are fewer planes than threads. Every output cell is computed by the same
//! code whatever the split, so results do not depend on the thread count.

use std::ops::Range;

use ndarray::{ArrayRef, Ix4};
use num_traits::Zero;

use crate::layout::{plane_slice, plane_view};

/// Below this many input elements a call stays on the calling thread: forking
/// costs more than it saves.
#[cfg(feature = "rayon")]
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Where a call's output goes.
pub(crate) enum Out<'a, A> {
    /// A caller's array, holding anything: the work overwrites every cell.
    Given(&'a mut [A]),
    /// A new output of `len` cells, zeroed first: by `calloc` on one
    /// thread, in parts on several, as [`zeroed`] does.
    New(&'a mut Vec<A>, usize),
}

impl<'a, A> Out<'a, A> {
    /// A new output of `shape`, its cells pushed onto `cells`.
    pub fn new(cells: &'a mut Vec<A>, shape: [usize; 4]) -> Self {
        Out::New(cells, shape.iter().product())
    }

    /// The output's cells.
    pub fn len(&self) -> usize {
        match self {
            Out::Given(cells) => cells.len(),
            Out::New(_, len) => *len,
        }
    }
}

/// A task's part of one output: the cells of its rows, which its work
/// reaches in order through [`Part::to`] or [`Part::zeros_to`] (or all at
/// once through [`Part::all`]).
pub(crate) struct Part<'a, A: Zero + Clone> {
    cells: &'a mut [A],
    /// Whether `cells` hold zeros (a new output), else anything.
    zeroed: bool,
    /// Cells below this have been handed to the work.
    reached: usize,
}

impl<'a, A: Zero + Clone> Part<'a, A> {
    fn of_slice(cells: &'a mut [A], zeroed: bool) -> Self {
        Part {
            cells,
            zeroed,
            reached: 0,
        }
    }

    /// Row `i` of the part's rows of `width` cells, for work that writes
    /// each of its cells. Rows are reached in order.
    #[inline(always)]
    pub fn row(&mut self, i: usize, width: usize) -> &mut [A] {
        let (start, end) = (i * width, (i + 1) * width);
        debug_assert!(start <= self.reached && end <= self.cells.len());
        self.reached = self.reached.max(end);
        &mut self.cells[start..end]
    }

    /// Runs `each` on every row of `width` cells, in order, with the row's
    /// index, for work that writes each cell.
    #[inline(always)]
    pub fn rows(&mut self, width: usize, mut each: impl FnMut(usize, &mut [A])) {
        for i in 0..self.cells.len().checked_div(width).unwrap_or(0) {
            each(i, self.row(i, width));
        }
    }

    /// Every cell of the part, for work that writes each one.
    #[inline]
    pub fn all(&mut self) -> &mut [A] {
        self.to(self.cells.len())
    }

    /// Cells `..end` of the part, for work that writes each cell it has not
    /// reached before.
    #[inline]
    pub fn to(&mut self, end: usize) -> &mut [A] {
        self.reach(end, false)
    }

    /// Cells `..end` of the part, those not reached before set to zero, for
    /// work that adds into them.
    #[inline]
    pub fn zeros_to(&mut self, end: usize) -> &mut [A] {
        self.reach(end, true)
    }

    /// [`zeros_to`](Self::zeros_to), writing the zeros even into a new
    /// output that holds zeros already: for work that scatters into the
    /// cells, whose first writes would otherwise touch a new output's fresh
    /// pages out of order (the allocating channels-last max backward of
    /// (32, 112, 112, 64) 2x2/s2, one thread, took 1.3x the time without).
    #[inline]
    pub fn written_zeros_to(&mut self, end: usize) -> &mut [A] {
        if self.zeroed && end > self.reached {
            self.cells[self.reached..end].fill(A::zero());
        }
        self.reach(end, true)
    }

    /// `zero`: whether to zero the cells not reached before.
    #[inline(always)]
    fn reach(&mut self, end: usize, zero: bool) -> &mut [A] {
        debug_assert!(end <= self.cells.len());
        let reached = self.reached;
        self.reached = reached.max(end);
        if zero && !self.zeroed && end > reached {
            self.cells[reached..end].fill(A::zero());
        }
        &mut self.cells[..end]
    }
}

/// The rest of an output, cut into parts task by task.
struct Cursor<'a, A> {
    rest: &'a mut [A],
    zeroed: bool,
}

impl<'a, A: Zero + Clone> Cursor<'a, A> {
    /// A cursor over `out`, a new output zeroed first.
    fn new(out: Out<'a, A>) -> Self
    where
        A: Send,
    {
        match out {
            Out::Given(rest) => Cursor {
                rest,
                zeroed: false,
            },
            Out::New(cells, len) => {
                if cells.capacity() >= len {
                    cells.clear();
                    cells.resize(len, A::zero());
                } else {
                    *cells = zeroed(len);
                }
                Cursor {
                    rest: cells,
                    zeroed: true,
                }
            }
        }
    }

    /// The next `len` cells.
    fn part(&mut self, len: usize) -> Part<'a, A> {
        let (part, after) = std::mem::take(&mut self.rest).split_at_mut(len);
        self.rest = after;
        Part::of_slice(part, self.zeroed)
    }
}

/// One unit of work: output rows `rows` of plane `plane`, with the parts of
/// the two outputs that hold those rows.
pub(crate) struct Task<'a, A: Zero + Clone, B: Zero + Clone> {
    pub plane: usize,
    pub rows: Range<usize>,
    pub first: Part<'a, A>,
    pub second: Part<'a, B>,
}

/// Cuts `first` and `second` (each `planes * rows` rows of equal length, or
/// `second` empty) into tasks and runs `work` on each, in parallel when the
/// `rayon` feature is on and `elements` is large. `bands_allowed` lets a
/// plane's rows be cut into bands.
pub(crate) fn for_each_band<A: Zero + Clone + Send, B: Zero + Clone + Send>(
    first: Out<'_, A>,
    second: Out<'_, B>,
    planes: usize,
    rows: usize,
    elements: usize,
    bands_allowed: bool,
    work: impl Fn(Task<'_, A, B>) + Sync,
) {
    let threads = threads(elements);
    let (first_len, second_len) = (first.len(), second.len());
    // a new output is sized here, so an empty one is complete
    let mut first = Cursor::new(first);
    let mut second = Cursor::new(second);
    let plane_rows = planes * rows;
    if plane_rows == 0 {
        return;
    }
    let (first_row, second_row) = (first_len / plane_rows, second_len / plane_rows);
    let bands = if bands_allowed && planes < threads {
        threads.div_ceil(planes).min(rows)
    } else {
        1
    };
    let band_rows = rows.div_ceil(bands);
    let bands_of = |plane| {
        (0..rows)
            .step_by(band_rows)
            .map(move |start| (plane, start..(start + band_rows).min(rows)))
    };
    if threads == 1 {
        for (plane, rows) in (0..planes).flat_map(bands_of) {
            let len = rows.len();
            work(Task {
                plane,
                rows,
                first: first.part(len * first_row),
                second: second.part(len * second_row),
            });
        }
        return;
    }
    let tasks: Vec<_> = (0..planes)
        .flat_map(bands_of)
        .map(|(plane, rows)| {
            let len = rows.len();
            Task {
                plane,
                rows,
                first: first.part(len * first_row),
                second: second.part(len * second_row),
            }
        })
        .collect();
    run(tasks, work);
}

/// [`for_each_band`] over the `(n, c)` planes of `x`: `work` gets the plane's
/// index, the plane as a row-major slice (copied once per task if `x` is not
/// laid out so), the cells a kernel may prefetch (see [`plane_and_next`];
/// none when `x` is small enough to stay in cache, or not laid out so, as
/// the copy is in cache already), the task's rows and its parts of `first`
/// and `second`.
pub(crate) fn for_each_plane_band<T, A, B>(
    x: &ArrayRef<T, Ix4>,
    first: Out<'_, A>,
    second: Out<'_, B>,
    rows: usize,
    bands_allowed: bool,
    work: impl Fn(usize, &[T], &[T], Range<usize>, Part<'_, A>, Part<'_, B>) + Sync,
) where
    T: Copy + Sync,
    A: Zero + Clone + Send,
    B: Zero + Clone + Send,
{
    let channels = x.shape()[1];
    let planes = x.shape()[0] * channels;
    let elements = x.len().max(first.len());
    let cached = x.len().saturating_mul(std::mem::size_of::<T>()) < PREFETCH_FROM;
    let whole = x.as_slice().filter(|_| !cached);
    for_each_band(
        first,
        second,
        planes,
        rows,
        elements,
        bands_allowed,
        |task| {
            let mut scratch = Vec::new();
            let plane = plane_slice(plane_view(x, task.plane, channels), &mut scratch);
            let ahead = whole.map_or(&[][..], |whole| {
                plane_and_next(whole, task.plane, plane.len())
            });
            work(task.plane, plane, ahead, task.rows, task.first, task.second);
        },
    );
}

/// The cells of plane `plane` of `whole`, a standard-layout input of
/// `plane_len`-cell planes, and those of the plane after it: a task's plane
/// is usually followed by the next, so a kernel nearing the end of one can
/// prefetch the rows of the next at the same distance.
fn plane_and_next<T>(whole: &[T], plane: usize, plane_len: usize) -> &[T] {
    let start = plane * plane_len;
    &whole[start..(start + 2 * plane_len).min(whole.len())]
}

/// How far ahead of what they read kernels prefetch, in cells: on the
/// 2-core development machine, whose hardware prefetchers leave a plain
/// read of a large input at half the speed of a prefetched one.
pub(crate) const AHEAD: usize = 2048;

/// Inputs smaller than this many bytes are not prefetched: they are in
/// cache after the first call.
const PREFETCH_FROM: usize = 1 << 20;

/// Prefetches cells `start..start + len` of `ahead` (as far as it holds
/// them): the rows a kernel reads next, so that they arrive in cache by the
/// time it does.
#[inline]
pub(crate) fn prefetch<T>(ahead: &[T], start: usize, len: usize) {
    if start < ahead.len() {
        let end = start.saturating_add(len).min(ahead.len());
        crate::isa::prefetch(&ahead[start..end]);
    }
}

/// [`for_each_plane_band`] with one output.
pub(crate) fn for_each_plane<T: Copy + Sync, A: Zero + Clone + Send>(
    x: &ArrayRef<T, Ix4>,
    out: Out<'_, A>,
    rows: usize,
    bands_allowed: bool,
    work: impl Fn(usize, &[T], &[T], Range<usize>, Part<'_, A>) + Sync,
) {
    for_each_plane_band(
        x,
        out,
        Out::<u8>::Given(&mut []),
        rows,
        bands_allowed,
        |plane, input, ahead, rows, out, _| work(plane, input, ahead, rows, out),
    );
}

/// `len` zeros, for a new output. `vec!` leaves the
/// zeroing to `calloc`. That is free for a block of fresh pages from the
/// system, which glibc's allocator hands out for every block of
/// [`FRESH_BLOCK`] bytes or more, but below that it is usually a block the
/// allocator has had before, and `calloc` zeroes it with a serial `memset`
/// on the calling thread. Where the call runs on several threads, they zero
/// such blocks in parts instead.
pub(crate) fn zeroed<T: Zero + Clone + Send>(len: usize) -> Vec<T> {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let bytes = len.saturating_mul(std::mem::size_of::<T>());
        if bytes < FRESH_BLOCK && threads(len) > 1 {
            return (0..len).into_par_iter().map(|_| T::zero()).collect();
        }
    }
    vec![T::zero(); len]
}

/// The size from which glibc's `malloc` always maps fresh pages
/// (`DEFAULT_MMAP_THRESHOLD_MAX` on 64-bit targets): zero already, so
/// [`zeroed`] leaves them to `calloc`.
const FRESH_BLOCK: usize = 32 << 20;

#[cfg(feature = "rayon")]
fn threads(elements: usize) -> usize {
    if elements < PARALLEL_MIN_ELEMENTS {
        1
    } else {
        rayon::current_num_threads()
    }
}

#[cfg(not(feature = "rayon"))]
fn threads(_elements: usize) -> usize {
    1
}

/// Runs `work` on every task, on rayon's threads.
#[cfg(feature = "rayon")]
fn run<T: Send>(tasks: Vec<T>, work: impl Fn(T) + Sync) {
    use rayon::prelude::*;
    tasks.into_par_iter().for_each(&work);
}

#[cfg(not(feature = "rayon"))]
fn run<T: Send>(tasks: Vec<T>, work: impl Fn(T) + Sync) {
    tasks.into_iter().for_each(work);
}

#[cfg(test)]
mod tests {
    use super::Part;

    /// A part of a caller's array zeroes what the work reaches for the
    /// first time, no further, and leaves what the work wrote.
    #[test]
    fn zeros_what_the_work_reaches() {
        let mut cells = [7.0f32; 20];
        let mut part = Part::of_slice(&mut cells, false);
        let first = part.zeros_to(3);
        assert_eq!(first, &[0.0; 3]);
        first[0] = 1.0;
        part.zeros_to(4)[3] = 2.0;
        // reaching less than before zeroes nothing
        part.zeros_to(2);
        part.zeros_to(9);
        let mut expected = [7.0f32; 20];
        expected[..9].fill(0.0);
        expected[0] = 1.0;
        expected[3] = 2.0;
        assert_eq!(cells, expected);
    }
}
