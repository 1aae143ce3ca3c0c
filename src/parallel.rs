//! Splits work over `(n, c)` planes, and over bands of output rows when there
//! are fewer planes than threads. Every output cell is computed by the same
//! code whatever the split, so results do not depend on the thread count.

use std::ops::Range;

use ndarray::{Array4, ArrayRef, Ix4};
use num_traits::Zero;

use crate::layout::{plane_slice, plane_view};

/// Below this many input elements a call stays on the calling thread: forking
/// costs more than it saves.
#[cfg(feature = "rayon")]
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// One unit of work: output rows `rows` of plane `plane`, with the parts of
/// the two output buffers that hold those rows.
pub(crate) struct Task<'a, A, B> {
    pub plane: usize,
    pub rows: Range<usize>,
    pub first: &'a mut [A],
    pub second: &'a mut [B],
}

/// Cuts `first` and `second` (each `planes * rows` rows of equal length, or
/// `second` empty) into tasks and runs `work` on each, in parallel when the
/// `rayon` feature is on and `elements` is large.
pub(crate) fn for_each_band<A: Send, B: Send>(
    first: &mut [A],
    second: &mut [B],
    planes: usize,
    rows: usize,
    elements: usize,
    bands_allowed: bool,
    work: impl Fn(Task<'_, A, B>) + Sync,
) {
    if planes == 0 || rows == 0 {
        return;
    }
    let threads = threads(elements);
    let bands = if bands_allowed && planes < threads {
        threads.div_ceil(planes).min(rows)
    } else {
        1
    };
    let band_rows = rows.div_ceil(bands);
    let first_row = first.len() / (planes * rows);
    let second_row = second.len() / (planes * rows);
    let mut tasks = Vec::with_capacity(planes * bands);
    let (mut first, mut second) = (first, second);
    for plane in 0..planes {
        let mut start = 0;
        while start < rows {
            let end = (start + band_rows).min(rows);
            let (a, rest_a) = first.split_at_mut((end - start) * first_row);
            let (b, rest_b) = second.split_at_mut((end - start) * second_row);
            tasks.push(Task {
                plane,
                rows: start..end,
                first: a,
                second: b,
            });
            (first, second) = (rest_a, rest_b);
            start = end;
        }
    }
    run(tasks, threads, work);
}

/// [`for_each_band`] over the `(n, c)` planes of `x`: `work` gets the plane's
/// index, the plane as a row-major slice (copied once per task if `x` is not
/// laid out so), the cells a kernel may prefetch (see [`plane_and_next`];
/// none when `x` is small enough to stay in cache, or not laid out so, as
/// the copy is in cache already), the task's rows and its parts of `first`
/// and `second`.
pub(crate) fn for_each_plane_band<T: Copy + Sync, A: Send, B: Send>(
    x: &ArrayRef<T, Ix4>,
    first: &mut [A],
    second: &mut [B],
    rows: usize,
    bands_allowed: bool,
    work: impl Fn(usize, &[T], &[T], Range<usize>, &mut [A], &mut [B]) + Sync,
) {
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
pub(crate) fn for_each_plane<T: Copy + Sync, A: Send>(
    x: &ArrayRef<T, Ix4>,
    out: &mut [A],
    rows: usize,
    bands_allowed: bool,
    work: impl Fn(usize, &[T], &[T], Range<usize>, &mut [A]) + Sync,
) {
    let none: &mut [u8] = &mut [];
    for_each_plane_band(
        x,
        out,
        none,
        rows,
        bands_allowed,
        |plane, input, ahead, rows, out, _| work(plane, input, ahead, rows, out),
    );
}

/// An array of zeros of `shape`, for an allocating call to write into.
///
/// `Array4::zeros` leaves the zeroing to `calloc`. That is free for a block
/// of fresh pages from the system, which glibc's allocator hands out for
/// every block of [`FRESH_BLOCK`] bytes or more, but below that it is
/// usually a block the allocator has had before, and `calloc` zeroes it with
/// a serial `memset` on the calling thread. Where the call runs on several
/// threads, they zero such blocks in parts instead.
pub(crate) fn zeros<T: Zero + Clone + Send>(shape: [usize; 4]) -> Array4<T> {
    let len = shape.iter().try_fold(1usize, |len, &d| len.checked_mul(d));
    len.and_then(|len| Array4::from_shape_vec(shape, zeroed(len)).ok())
        .unwrap_or_else(|| Array4::zeros(shape))
}

/// `len` zeros, zeroed as [`zeros`] does.
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
/// [`zeros`] leaves them to `calloc`.
#[cfg(feature = "rayon")]
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

#[cfg(feature = "rayon")]
fn run<T: Send>(tasks: Vec<T>, threads: usize, work: impl Fn(T) + Sync) {
    use rayon::prelude::*;
    if threads > 1 {
        tasks.into_par_iter().for_each(&work);
    } else {
        tasks.into_iter().for_each(work);
    }
}

#[cfg(not(feature = "rayon"))]
fn run<T: Send>(tasks: Vec<T>, _threads: usize, work: impl Fn(T) + Sync) {
    tasks.into_iter().for_each(work);
}
