//! Run-time choice of instruction set for the kernels.
//!
//! The default x86-64 target stops at SSE2. Where the CPU has AVX-512 (F,
//! BW, VL and DQ), [`wide`] runs a kernel compiled a second time for it:
//! 512-bit vectors hold sixteen `f32`, and compares yield mask registers, so
//! the separable max and min (row reductions, the stride-2 split of long
//! runs, the combine of window rows), the 2x2 max and min and their argmax
//! taps take fewer instructions. On the 2-core development machine this made
//! those forwards 15–28 % faster (see the README's Performance section).
//! The 2x2 and 3x3 mean forwards gained 5–7 % once their sums were
//! multiplied by an exact reciprocal where the divisor is a power of two
//! and the 3x3 loop went in blocks of sixteen windows ([`wide_or`] picks
//! that shape for AVX-512 and keeps the plain loop portable). The mean
//! backward's gathering passes take it too, the 3x3/stride-2 ones in blocks
//! of sixteen. AVX2 alone gained nothing measurable, and the max backward
//! was slower with it, so it stays portable.
//!
//! This module holds the crate's two `unsafe` blocks. One calls a function
//! compiled for features the CPU has been checked to have. Setting the
//! environment variable `NDARRAY_POOLING_PORTABLE` (to anything) before the
//! first call keeps every kernel on the portable path; the test suite runs
//! once each way, and both must give the same bits.
//!
//! The other is [`prefetch`]: `_mm_prefetch`, a hint to start loading a
//! cache line, which is `unsafe` only because it is an SSE instruction, and
//! every x86-64 CPU has SSE. The 2x2 forwards and the mean forward prefetch
//! the input rows they read a few rows later; on the 2-core development
//! machine that made the 2x2 forwards 17–45 % faster, where the hardware
//! prefetchers leave a plain read of a large input at about half the speed
//! of a prefetched one. The gathering mean backward prefetches the next
//! plane's deltas, which it reads in one burst as that plane starts. The
//! separable max and the max backward, prefetching, were slower, so they
//! do not.

/// Loops shorter than this stay portable: sixteen-lane vectors leave most
/// of a short row to the scalar remainder, four-lane ones little of it.
const MIN_LEN: usize = 32;

/// Runs `kernel`, compiled for AVX-512 when the CPU has it and its loop is
/// `len` elements long or longer.
#[inline(always)]
pub(crate) fn wide<R>(len: usize, kernel: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if len >= MIN_LEN && avx512() {
        return x86::wide(kernel);
    }
    kernel()
}

/// Runs `wide` on `args`, compiled for AVX-512, when the CPU has it and the
/// loop is `len` elements long or longer; else `portable`. For kernels whose
/// best shape differs between sixteen lanes and four.
#[inline(always)]
pub(crate) fn wide_or<A, R>(
    len: usize,
    args: A,
    wide: impl FnOnce(A) -> R,
    portable: impl FnOnce(A) -> R,
) -> R {
    #[cfg(target_arch = "x86_64")]
    if len >= MIN_LEN && avx512() {
        return x86::wide(|| wide(args));
    }
    let _ = wide;
    portable(args)
}

/// Asks the CPU to start loading `cells` into its caches, a cache line at a
/// time, without waiting for them: a hint, which changes no result. Out of
/// line, so that the kernels' loops around it stay as they were.
#[inline(never)]
pub(crate) fn prefetch<T>(cells: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let per_line = (64 / std::mem::size_of::<T>().max(1)).max(1);
        for line in cells.chunks(per_line) {
            x86::prefetch(line);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = cells;
}

/// Whether to take the AVX-512 path: the CPU has it and
/// `NDARRAY_POOLING_PORTABLE` is not set. Checked once.
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    use std::sync::OnceLock;
    static CHOICE: OnceLock<bool> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        std::env::var_os("NDARRAY_POOLING_PORTABLE").is_none()
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq")
    })
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    /// Runs `kernel` inside [`avx512`], where it is inlined and compiled
    /// for AVX-512. Only called after [`super::avx512`] returned true.
    #[inline(always)]
    pub(super) fn wide<R>(kernel: impl FnOnce() -> R) -> R {
        // SAFETY: `avx512` requires AVX-512F, BW, VL and DQ, which the
        // caller checked with `is_x86_feature_detected!`; it has no other
        // precondition.
        unsafe { avx512(kernel) }
    }

    /// Prefetches the cache line that holds `line`'s first element into
    /// every level of the cache.
    #[inline(always)]
    pub(super) fn prefetch<T>(line: &[T]) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has; it
        // is a hint that neither reads nor writes memory as far as the
        // program can tell, and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn avx512<R>(kernel: impl FnOnce() -> R) -> R {
        kernel()
    }
}
