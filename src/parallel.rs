//! Splits work over `(n, c)` planes, and over bands of output rows when there
//! are fewer planes than threads. Every output cell is computed by the same
//! code whatever the split, so results do not depend on the thread count.

use std::mem::MaybeUninit;
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
    /// A new output of `len` cells, zeroed first by `calloc`.
    New(&'a mut Vec<A>, usize),
    /// A new gradient of `len` cells, which a backward adds into: on several
    /// threads written by its parts as the work reaches them (see
    /// [`with_whole`]), else as [`New`](Out::New).
    Gradient(&'a mut Vec<A>, usize),
}

impl<'a, A> Out<'a, A> {
    /// A new output of `shape`, its cells pushed onto `cells`.
    pub fn new(cells: &'a mut Vec<A>, shape: [usize; 4]) -> Self {
        Out::New(cells, shape.iter().product())
    }

    /// A new gradient of `shape`, its cells pushed onto `cells`.
    pub fn gradient(cells: &'a mut Vec<A>, shape: [usize; 4]) -> Self {
        Out::Gradient(cells, shape.iter().product())
    }

    /// The output's cells.
    pub fn len(&self) -> usize {
        match self {
            Out::Given(cells) => cells.len(),
            Out::New(_, len) | Out::Gradient(_, len) => *len,
        }
    }
}

/// A task's part of one output: the cells of its rows, which its work
/// reaches in order through [`Part::to`] or [`Part::zeros_to`] (or all at
/// once through [`Part::all`]).
pub(crate) struct Part<'a, A: Zero + Clone> {
    cells: Cells<'a, A>,
    /// Cells below this have been handed to the work.
    reached: usize,
}

enum Cells<'a, A> {
    /// Part of a slice, holding zeros if `zeroed`, else anything.
    Slice { cells: &'a mut [A], zeroed: bool },
    /// Part of a new output not yet written: each cell is written with zero
    /// as the work first reaches it, while in cache just before the work's
    /// own writes, and those never reached when the part is dropped.
    Fresh(&'a mut [MaybeUninit<A>]),
}

impl<'a, A: Zero + Clone> Part<'a, A> {
    #[cfg(test)]
    fn of_slice(cells: &'a mut [A], zeroed: bool) -> Self {
        Part {
            cells: Cells::Slice { cells, zeroed },
            reached: 0,
        }
    }

    fn len(&self) -> usize {
        match &self.cells {
            Cells::Slice { cells, .. } => cells.len(),
            Cells::Fresh(cells) => cells.len(),
        }
    }

    /// Row `i` of the part's rows of `width` cells, for work that writes
    /// each of its cells. Rows are reached in order.
    #[inline(always)]
    pub fn row(&mut self, i: usize, width: usize) -> &mut [A] {
        let (start, end) = (i * width, (i + 1) * width);
        debug_assert!(start <= self.reached);
        &mut self.reach(end, false)[start..]
    }

    /// Runs `each` on every row of `width` cells, in order, with the row's
    /// index, for work that writes each cell.
    #[inline(always)]
    pub fn rows(&mut self, width: usize, mut each: impl FnMut(usize, &mut [A])) {
        for i in 0..self.len().checked_div(width).unwrap_or(0) {
            each(i, self.row(i, width));
        }
    }

    /// Every cell of the part, for work that writes each one.
    #[inline]
    pub fn all(&mut self) -> &mut [A] {
        self.to(self.len())
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
        let reached = self.reached;
        if let Cells::Slice {
            cells,
            zeroed: true,
        } = &mut self.cells
        {
            if end > reached {
                cells[reached..end].fill(A::zero());
            }
        }
        self.reach(end, true)
    }

    /// `zero`: whether to zero the cells of a slice not reached before (the
    /// cells of a fresh part are written with zeros as reached whatever
    /// the work).
    #[allow(unsafe_code)]
    #[inline(always)]
    fn reach(&mut self, end: usize, zero: bool) -> &mut [A] {
        debug_assert!(end <= self.len());
        let reached = self.reached;
        self.reached = reached.max(end);
        match &mut self.cells {
            Cells::Slice { cells, zeroed } => {
                if zero && !*zeroed && end > reached {
                    cells[reached..end].fill(A::zero());
                }
                &mut cells[..end]
            }
            Cells::Fresh(cells) => {
                if end > reached {
                    write_zeros(&mut cells[reached..end]);
                }
                let cells = &mut cells[..end];
                // SAFETY: `MaybeUninit<A>` has the size and alignment of
                // `A`, and every cell below `end` has been written: those
                // below `reached` when first reached, the rest just now.
                unsafe { &mut *(cells as *mut [MaybeUninit<A>] as *mut [A]) }
            }
        }
    }
}

impl<'a, A: Zero + Clone> Part<'a, A> {
    /// The next `len` cells of the rest of an output (a part none of whose
    /// cells were reached), cut off into a part of their own.
    fn split_off(&mut self, len: usize) -> Part<'a, A> {
        debug_assert_eq!(self.reached, 0);
        let cells = match &mut self.cells {
            Cells::Slice { cells, zeroed } => {
                let (part, rest) = std::mem::take(cells).split_at_mut(len);
                *cells = rest;
                Cells::Slice {
                    cells: part,
                    zeroed: *zeroed,
                }
            }
            Cells::Fresh(cells) => {
                let (part, rest) = std::mem::take(cells).split_at_mut(len);
                *cells = rest;
                Cells::Fresh(part)
            }
        };
        Part { cells, reached: 0 }
    }
}

impl<A: Zero + Clone> Drop for Part<'_, A> {
    /// The cells of a fresh part that its work never reached are written
    /// with zeros, so that every cell of a new output is written (the
    /// rest of an output that was never split off included).
    fn drop(&mut self) {
        if let Cells::Fresh(cells) = &mut self.cells {
            write_zeros(&mut cells[self.reached..]);
        }
    }
}

/// Writes zero into every cell of `cells`.
#[inline(always)]
fn write_zeros<A: Zero + Clone>(cells: &mut [MaybeUninit<A>]) {
    for cell in cells {
        cell.write(A::zero());
    }
}

/// Runs `f` on the whole of `out` as one part, which `f` cuts into the
/// parts of its tasks by [`Part::split_off`], for work on `threads` threads. A new
/// gradient below [`FRESH_BLOCK`] bytes, on several threads, is written by
/// its parts, each cell with zero as the work first reaches it, on the
/// thread of its task: `calloc` would hand back a block the allocator has
/// had before and zero it in one serial pass first, and zeroing it in
/// parts on the threads first is a second pass over the output, which the
/// backwards paid for (on the Zen 5 machine, at two threads, the allocating
/// 3x3/s2/p1 max backward of (8, 64, 112, 112) took 0.82 against 1.07–1.15
/// ms, the mean backward 0.75–0.82 against 0.92–0.94). New forward outputs
/// are zeroed first, as the 3x3 max forward without indices took 1.1x the
/// time written so, at two threads and at one; and so is a gradient on one
/// thread, where the backwards gained less than runs differ. From
/// [`FRESH_BLOCK`] bytes on, `calloc` maps fresh pages, zero already.
#[allow(unsafe_code)]
fn with_whole<A: Zero + Clone + Send, R>(
    out: Out<'_, A>,
    threads: usize,
    f: impl FnOnce(Part<'_, A>) -> R,
) -> R {
    match out {
        Out::Given(cells) => f(Part {
            cells: Cells::Slice {
                cells,
                zeroed: false,
            },
            reached: 0,
        }),
        Out::Gradient(cells, len)
            if threads > 1 && len.saturating_mul(size_of::<A>()) < FRESH_BLOCK =>
        {
            cells.clear();
            cells.reserve_exact(len);
            let fresh = Cells::Fresh(&mut cells.spare_capacity_mut()[..len]);
            let result = f(Part {
                cells: fresh,
                reached: 0,
            });
            // SAFETY: the capacity holds `len` cells, and each was written
            // before `f` returned: the whole is cut into parts, in order;
            // each part writes every cell before handing it to the work,
            // and on drop those it never handed out, the rest of the whole
            // among them. The parts borrow the spare capacity for `f`'s call
            // only, so all were dropped when it returned. If `f` unwinds,
            // `cells` stays empty.
            unsafe { cells.set_len(len) };
            result
        }
        Out::New(cells, len) | Out::Gradient(cells, len) => {
            if cells.capacity() >= len {
                cells.clear();
                cells.resize(len, A::zero());
            } else {
                *cells = zeroed(len, threads);
            }
            f(Part {
                cells: Cells::Slice {
                    cells,
                    zeroed: true,
                },
                reached: 0,
            })
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
    with_whole(first, threads, |mut first| {
        with_whole(second, threads, |mut second| {
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
                        first: first.split_off(len * first_row),
                        second: second.split_off(len * second_row),
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
                        first: first.split_off(len * first_row),
                        second: second.split_off(len * second_row),
                    }
                })
                .collect();
            run(tasks, &work);
        })
    });
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

/// `len` zeros, for a new output on `threads` threads. `vec!` leaves the
/// zeroing to `calloc`. That is free for a block of fresh pages from the
/// system, which glibc's allocator hands out for every block of
/// [`FRESH_BLOCK`] bytes or more, but below that it is usually a block the
/// allocator has had before, and `calloc` zeroes it with a serial `memset`
/// on the calling thread. Where the call runs on several threads, they zero
/// such blocks in parts instead.
fn zeroed<T: Zero + Clone + Send>(len: usize, threads: usize) -> Vec<T> {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let bytes = len.saturating_mul(size_of::<T>());
        if bytes < FRESH_BLOCK && threads > 1 {
            return (0..len).into_par_iter().map(|_| T::zero()).collect();
        }
    }
    let _ = threads;
    vec![T::zero(); len]
}

/// The size from which glibc's `malloc` always maps fresh pages
/// (`DEFAULT_MMAP_THRESHOLD_MAX` on 64-bit targets): zero already, so
/// [`zeroed`] and [`with_whole`] leave them to `calloc`.
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
    use super::{Out, Part, with_whole};

    /// A new output's parts write zero into every cell the work reaches
    /// first (whichever way it reaches them) and, when dropped, into every
    /// cell it does not, the rest of the whole among them. So
    /// every cell is written, and the work's own writes stay.
    #[test]
    fn a_new_output_is_written_whole() {
        let mut cells = vec![7.0f32; 3];
        with_whole(Out::Gradient(&mut cells, 40), 2, |mut whole| {
            let mut part = whole.split_off(10);
            part.to(3)[1] = 1.0;
            part.zeros_to(5)[4] = 2.0;
            part.row(2, 2)[0] = 3.0;
            drop(part);
            let mut part = whole.split_off(10);
            part.all()[9] = 4.0;
            // a part the work never reaches, and 20 cells never handed out
            whole.split_off(0);
        });
        let mut expected = vec![0.0f32; 40];
        expected[1] = 1.0;
        expected[4] = 2.0;
        expected[4] = 3.0;
        expected[19] = 4.0;
        assert_eq!(cells, expected);
    }

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
