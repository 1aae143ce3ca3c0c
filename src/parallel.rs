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
    /// A new output of `len` cells. On one thread, from [`GROW_FROM`] bytes
    /// on, the vector grows as the work reaches its cells, so their zeros
    /// are written while in cache, just before the work overwrites them;
    /// `calloc` would zero a reused block in one pass beforehand, a second
    /// write of an output too large to stay in cache. On several threads it
    /// is zeroed in parts first, as [`zeroed`] does.
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
    cells: Cells<'a, A>,
    len: usize,
    /// Cells below this have been handed to the work.
    reached: usize,
}

enum Cells<'a, A> {
    /// Part of a slice, holding zeros if `zeroed`, else anything.
    Slice { cells: &'a mut [A], zeroed: bool },
    /// The end of a vector, from `base` on, grown as the work reaches it.
    Grow { cells: &'a mut Vec<A>, base: usize },
}

impl<'a, A: Zero + Clone> Part<'a, A> {
    fn of_slice(cells: &'a mut [A], zeroed: bool) -> Self {
        let len = cells.len();
        Part {
            cells: Cells::Slice { cells, zeroed },
            len,
            reached: 0,
        }
    }

    fn of_vec(cells: &'a mut Vec<A>, len: usize) -> Self {
        let base = cells.len();
        Part {
            cells: Cells::Grow { cells, base },
            len,
            reached: 0,
        }
    }

    /// Row `i` of the part's rows of `width` cells, for work that writes
    /// each of its cells. Rows are reached in order.
    // The growth is written out here as in `reach`: taking the row from
    // `reach`, or both from one helper, made the mean forward of
    // (1, 16, 28, 28) 6 % slower (5.1 against 5.4 us).
    #[inline(always)]
    pub fn row(&mut self, i: usize, width: usize) -> &mut [A] {
        let (start, end) = (i * width, (i + 1) * width);
        debug_assert!(start <= self.reached && end <= self.len);
        self.reached = self.reached.max(end);
        match &mut self.cells {
            Cells::Slice { cells, .. } => &mut cells[start..end],
            Cells::Grow { cells, base } => {
                if cells.len() < *base + end {
                    grow(cells, *base + end, *base + self.len);
                }
                &mut cells[*base + start..*base + end]
            }
        }
    }

    /// How many rows of `width` cells work should reach at a time: all of
    /// them in a slice, as many as one step of growth holds in a growing
    /// part.
    pub fn rows_per_step(&self, width: usize) -> usize {
        match self.cells {
            Cells::Slice { .. } => usize::MAX,
            Cells::Grow { .. } => (GROW_BYTES / (width * std::mem::size_of::<A>()).max(1)).max(1),
        }
    }

    /// Runs `each` on every row of `width` cells, in order, with the row's
    /// index, for work that writes each cell.
    #[inline(always)]
    pub fn rows(&mut self, width: usize, mut each: impl FnMut(usize, &mut [A])) {
        for i in 0..self.len.checked_div(width).unwrap_or(0) {
            each(i, self.row(i, width));
        }
    }

    /// Every cell of the part, for work that writes each one.
    #[inline]
    pub fn all(&mut self) -> &mut [A] {
        self.to(self.len)
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

    /// [`zeros_to`](Self::zeros_to), writing the zeros even into a new output that holds zeros already: for work that
    /// scatters into the cells, whose first writes would otherwise touch a
    /// new output's fresh pages out of order (the allocating channels-last
    /// max backward of (32, 112, 112, 64) 2x2/s2, one thread, took 1.3x the
    /// time without).
    #[inline]
    pub fn written_zeros_to(&mut self, end: usize) -> &mut [A] {
        if let Cells::Slice {
            cells,
            zeroed: true,
        } = &mut self.cells
        {
            if end > self.reached {
                cells[self.reached..end].fill(A::zero());
            }
        }
        self.reach(end, true)
    }

    /// `zero`: whether to zero the cells not reached before.
    #[inline(always)]
    fn reach(&mut self, end: usize, zero: bool) -> &mut [A] {
        debug_assert!(end <= self.len);
        let reached = self.reached;
        self.reached = reached.max(end);
        match &mut self.cells {
            Cells::Slice { cells, zeroed } => {
                if zero && !*zeroed && end > reached {
                    cells[reached..end].fill(A::zero());
                }
                &mut cells[..end]
            }
            Cells::Grow { cells, base } => {
                if cells.len() < *base + end {
                    grow(cells, *base + end, *base + self.len);
                }
                &mut cells[*base..*base + end]
            }
        }
    }
}

/// `cells` grown with zeros to at least `len` cells, and by at least
/// [`GROW_BYTES`] while below `most`: few calls, zeros still in L1 cache
/// when the work writes over them.
#[inline(never)]
fn grow<A: Zero + Clone>(cells: &mut Vec<A>, len: usize, most: usize) {
    let step = GROW_BYTES / std::mem::size_of::<A>().max(1);
    cells.resize(len.max(most.min(cells.len() + step)), A::zero());
}

/// Whether a new output of `bytes` grows with the work on one thread.
/// Below [`GROW_FROM`] it is zeroed first, by `calloc`'s `memset` at full
/// speed, and stays in cache for the work's writes; from [`FRESH_BLOCK`]
/// on, `calloc` hands out fresh pages, zero already, and writing zeros into
/// them first costs more than it saves (the allocating 2x2 max backward of
/// (32, 64, 112, 112) took 52 ms against 42).
fn grows(bytes: usize) -> bool {
    (GROW_FROM..FRESH_BLOCK).contains(&bytes)
}

/// See [`grows`]. On the 2-core development machine (32 MiB of L3 shared
/// with other guests), at one thread, outputs of 6.4 MB zeroed first made
/// the allocating 3x3/s2/p1 forwards of (8, 64, 112, 112) faster than
/// growing (with indices 0.87x the time, mean 0.88x, and `_into`'s argmax
/// storage 0.95x), while gradients of 12.8 MB and more still grow (the max
/// backward of (4, 64, 112, 112) took 1.2x the time zeroed first).
const GROW_FROM: usize = 8 << 20;

/// How far a growing part grows at least, in bytes. On the 2-core
/// development machine, at one thread, steps of 2 KiB made the allocating
/// 3x3/s2/p1 backwards of (8, 64, 112, 112) and the 2x2 mean forward of
/// (32, 64, 112, 112) 4–9 % faster than steps of 4 KiB; steps of 16 KiB and
/// more were 4–30 % slower, and of 1 KiB the max backward 8–16 %.
const GROW_BYTES: usize = 2 << 10;

impl<A: Zero + Clone> Drop for Part<'_, A> {
    /// A grown part is completed with zeros if its work stopped short, so the
    /// next part starts where it should.
    fn drop(&mut self) {
        if let Cells::Grow { cells, base } = &mut self.cells {
            cells.resize(*base + self.len, A::zero());
        }
    }
}

/// The rest of an output, cut into parts task by task.
enum Cursor<'a, A> {
    Slice { rest: &'a mut [A], zeroed: bool },
    Grow(&'a mut Vec<A>),
}

impl<'a, A: Zero + Clone> Cursor<'a, A> {
    /// A cursor over `out`. A new output grows only where `grow` (the call
    /// runs on one thread); elsewhere it is zeroed first.
    fn new(out: Out<'a, A>, grow: bool) -> Self
    where
        A: Send,
    {
        match out {
            Out::Given(rest) => Cursor::Slice {
                rest,
                zeroed: false,
            },
            Out::New(cells, len) if grow && grows(len.saturating_mul(std::mem::size_of::<A>())) => {
                cells.clear();
                cells.reserve_exact(len);
                Cursor::Grow(cells)
            }
            Out::New(cells, len) => {
                if cells.capacity() >= len {
                    cells.clear();
                    cells.resize(len, A::zero());
                } else {
                    *cells = zeroed(len);
                }
                Cursor::Slice {
                    rest: cells,
                    zeroed: true,
                }
            }
        }
    }

    /// The next `len` cells.
    fn part(&mut self, len: usize) -> Part<'_, A> {
        match self {
            Cursor::Slice { .. } => self.split(len),
            Cursor::Grow(cells) => Part::of_vec(cells, len),
        }
    }

    /// The next `len` cells, for a task that may run on another thread.
    fn split(&mut self, len: usize) -> Part<'a, A> {
        match self {
            Cursor::Slice { rest, zeroed } => {
                let (part, after) = std::mem::take(rest).split_at_mut(len);
                *rest = after;
                Part::of_slice(part, *zeroed)
            }
            Cursor::Grow(_) => unreachable!("new outputs grow only on one thread"),
        }
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
    let mut first = Cursor::new(first, threads == 1);
    let mut second = Cursor::new(second, threads == 1);
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
                first: first.split(len * first_row),
                second: second.split(len * second_row),
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

/// `len` zeros, for a new output on several threads. `vec!` leaves the
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
        drop(part);
        let mut expected = [7.0f32; 20];
        expected[..9].fill(0.0);
        expected[0] = 1.0;
        expected[3] = 2.0;
        assert_eq!(cells, expected);
    }
}
