//! A row split into its stride phases, so that the kernels read strided
//! windows from contiguous memory.
//!
//! With windows `stride` apart and dilation `dilation`, cell `t` of window
//! `j` is `row[stride * j + dilation * t]`: element `j + offset / stride` of
//! phase `offset % stride`, where `offset = dilation * t`. For every `t` the
//! windows' cells then form one contiguous slice, and a loop over windows
//! vectorizes.

/// Rows split into this many pairs or more take the AVX-512 copy of the
/// split, where the CPU has it.
const LONG: usize = 256;

/// Reusable buffers for the phases of one row.
pub(crate) struct Phases<T> {
    buffers: Vec<Vec<T>>,
}

impl<T> Default for Phases<T> {
    fn default() -> Self {
        Phases {
            buffers: Vec::new(),
        }
    }
}

/// The phases of one row, borrowed from the row itself (stride 1) or from
/// [`Phases`].
pub(crate) struct PhaseView<'a, T> {
    stride: usize,
    row: &'a [T],
    buffers: &'a [Vec<T>],
}

impl<T: Copy> Phases<T> {
    pub fn new() -> Self {
        Phases {
            buffers: Vec::new(),
        }
    }

    /// Splits `row` into `stride` phases.
    pub fn split<'a>(&'a mut self, row: &'a [T], stride: usize) -> PhaseView<'a, T> {
        self.fill(row, stride);
        self.view(row, stride)
    }

    /// The phases of `row`, after [`fill`](Self::fill) with the same row.
    pub fn view<'a>(&'a self, row: &'a [T], stride: usize) -> PhaseView<'a, T> {
        PhaseView {
            stride,
            row,
            buffers: &self.buffers,
        }
    }

    /// Copies `row`'s phases into the buffers (nothing for stride 1).
    pub fn fill(&mut self, row: &[T], stride: usize) {
        if stride > 1 {
            self.buffers.resize_with(stride, Vec::new);
            if stride == 2 {
                let (evens, odds) = self.buffers.split_at_mut(1);
                let (evens, odds) = (&mut evens[0], &mut odds[0]);
                if let Some(&fill) = row.first() {
                    evens.resize(row.len().div_ceil(2), fill);
                    odds.resize(row.len() / 2, fill);
                }
                let pairs = row.chunks_exact(2);
                if let [last] = pairs.remainder() {
                    evens[row.len() / 2] = *last;
                }
                let n = row.len() / 2;
                // sixteen-lane vectors pay on long runs (the separable
                // kernels' many rows at once), not on one row of a few
                // dozen windows, which they leave mostly to the remainder
                if n >= LONG {
                    let (evens, odds) = (&mut evens[..n], &mut odds[..n]);
                    crate::isa::wide(
                        n,
                        #[inline(always)]
                        || deinterleave(&row[..2 * n], evens, odds),
                    );
                } else {
                    for ((even, odd), pair) in evens.iter_mut().zip(odds.iter_mut()).zip(pairs) {
                        *even = pair[0];
                        *odd = pair[1];
                    }
                }
            } else {
                for (phase, buffer) in self.buffers.iter_mut().enumerate() {
                    let len = row.len().saturating_sub(phase).div_ceil(stride);
                    buffer.truncate(len);
                    if let Some(&fill) = row.first() {
                        buffer.resize(len, fill);
                    }
                    copy_phase(row, stride, phase, buffer);
                }
            }
        }
    }
}

impl<T: Copy> Phases<T> {
    /// Copies `row` into the buffers, split into `stride` phases (one phase
    /// for stride 1), for [`cells_mut`](Self::cells_mut) and
    /// [`store`](Self::store).
    pub fn load(&mut self, row: &[T], stride: usize) {
        if stride == 1 {
            self.buffers.resize_with(1, Vec::new);
            self.buffers[0].clear();
            self.buffers[0].extend_from_slice(row);
        } else {
            let _ = self.split(row, stride);
        }
    }

    /// As [`PhaseView::cells`], writable, after [`load`](Self::load).
    #[inline]
    pub fn cells_mut(&mut self, offset: usize, n: usize) -> &mut [T] {
        let stride = self.buffers.len();
        let start = offset / stride;
        &mut self.buffers[offset % stride][start..start + n]
    }

    /// Interleaves the phases back into `row`.
    pub fn store(&self, row: &mut [T]) {
        let stride = self.buffers.len();
        if stride == 2 {
            let (evens, odds) = (&self.buffers[0], &self.buffers[1]);
            let mut pairs = row.chunks_exact_mut(2);
            for ((pair, &even), &odd) in (&mut pairs).zip(evens).zip(odds) {
                pair[0] = even;
                pair[1] = odd;
            }
            if let [last] = pairs.into_remainder() {
                *last = evens[evens.len() - 1];
            }
        } else {
            for (phase, buffer) in self.buffers.iter().enumerate() {
                for (cell, &value) in row.iter_mut().skip(phase).step_by(stride).zip(buffer) {
                    *cell = value;
                }
            }
        }
    }
}

/// `row` split into its `stride` phases, one after another in `out`, each
/// `out.len() / stride` cells long: phase `p` holds `row[p]`,
/// `row[p + stride]`, and so on. Cells past a phase's end keep what they
/// held.
pub(crate) fn split_into<T: Copy>(row: &[T], stride: usize, out: &mut [T]) {
    let phase_len = out.len() / stride;
    debug_assert!(row.len() <= out.len());
    if stride == 2 {
        let (evens, odds) = out.split_at_mut(phase_len);
        let n = row.len() / 2;
        let (evens, odds) = (&mut evens[..row.len().div_ceil(2)], &mut odds[..n]);
        crate::isa::wide(
            n,
            #[inline(always)]
            || deinterleave(&row[..2 * n], &mut evens[..n], odds),
        );
        if row.len() % 2 == 1 {
            evens[n] = row[2 * n];
        }
    } else {
        for (p, phase) in out.chunks_exact_mut(phase_len).enumerate() {
            copy_phase(row, stride, p, phase);
        }
    }
}

/// Phase `p` of `row` at stride `stride` into the first cells of `out`: a
/// plain strided copy, one pass.
fn copy_phase<T: Copy>(row: &[T], stride: usize, p: usize, out: &mut [T]) {
    let chunks = row.chunks_exact(stride);
    let (whole, rest) = (row.len() / stride, chunks.remainder());
    for (cell, chunk) in out.iter_mut().zip(chunks) {
        *cell = chunk[p];
    }
    if let Some(&last) = rest.get(p) {
        out[whole] = last;
    }
}

/// `evens[j] = row[2j]`, `odds[j] = row[2j + 1]`; inlined into each
/// instruction set's copy.
#[inline(always)]
fn deinterleave<T: Copy>(row: &[T], evens: &mut [T], odds: &mut [T]) {
    let n = evens.len();
    let (row, odds) = (&row[..2 * n], &mut odds[..n]);
    for j in 0..n {
        evens[j] = row[2 * j];
        odds[j] = row[2 * j + 1];
    }
}

impl<'a, T> PhaseView<'a, T> {
    /// Cell `offset` (in input cells from each window's first cell) of `n`
    /// consecutive windows.
    #[inline]
    pub fn cells(&self, offset: usize, n: usize) -> &'a [T] {
        let start = offset / self.stride;
        if self.stride == 1 {
            &self.row[start..start + n]
        } else {
            &self.buffers[offset % self.stride][start..start + n]
        }
    }
}
