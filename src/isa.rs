//! Run-time choice of instruction set for the kernels.
//!
//! The default x86-64 target stops at SSE2. [`wide`] runs a kernel
//! compiled again for the widest instruction set the CPU has ([`Isa`]):
//! AVX-512 (F, BW, VL and DQ), whose 512-bit vectors hold sixteen `f32`
//! and whose compares yield mask registers, or else AVX2 (x86-64-v3), eight
//! `f32` to a vector. The kernels so compiled are the separable max and min
//! (row reductions, the stride-2 split of long runs, the combine of window
//! rows), the 2x2 max, min and mean, the 3x3 and general mean, the
//! stride-phase splits and the mean backward's gathering passes, the
//! channels-last blocks and the range check of the channels-last max
//! backward's indices (SSE2 has no 64-bit compare). On an earlier AVX-512
//! development machine the AVX-512 copies made those forwards 15–28 %
//! faster, and the 2x2 and 3x3 mean forwards 5–7 % (see the README's
//! Performance section). [`wide_isa`] tells a kernel which set it is
//! compiled for, where the best shape of its loop differs: the 3x3 mean
//! forward and the 3x3/stride-2 mean backward go in blocks of sixteen
//! windows on AVX-512, the mean forward on AVX2 too, and the plain loop
//! elsewhere. [`wide_skipping_avx2`] keeps AVX-512 and skips AVX2 where
//! AVX2 was slower. The max backward's scatter gained nothing from wider
//! vectors, so it stays portable. The closures handed to [`wide`] are
//! `#[inline(always)]`: one left out of line is compiled for SSE2 only,
//! whatever its caller was compiled for.
//!
//! This module holds the crate's `unsafe` code but for the two blocks in
//! `parallel` that let a new gradient's tasks write its cells before its
//! length is set. Two calls run a function
//! compiled for features the CPU has been checked to have, one for each
//! instruction set. The environment variable `NDARRAY_POOLING_ISA`, read
//! before the first call, caps the choice: `portable`, `avx2` or `avx512`
//! (`NDARRAY_POOLING_PORTABLE`, set to anything, is `portable`). The test
//! suite runs under each cap, and all must give the same bits.
//!
//! The third is [`prefetch`]: `_mm_prefetch`, a hint to start loading a
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

/// The instruction sets the kernels are compiled for, from the portable
/// baseline up; each includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    /// The target's baseline: SSE2 on x86-64.
    Portable,
    /// AVX2 (x86-64-v3: with FMA, BMI1, BMI2, LZCNT and POPCNT), eight
    /// `f32` lanes.
    Avx2,
    /// AVX-512 F, BW, VL and DQ, sixteen `f32` lanes and mask registers.
    Avx512,
}

/// Runs `kernel`, compiled for the widest instruction set the CPU has
/// ([`chosen`]), when its loop is `len` elements long or longer.
#[inline(always)]
pub(crate) fn wide<R>(len: usize, kernel: impl FnOnce() -> R) -> R {
    wide_isa(
        len,
        #[inline(always)]
        |_| kernel(),
    )
}

/// Whether [`wide`] runs a loop of `len` elements compiled for more than
/// the portable baseline.
pub(crate) fn widens(len: usize) -> bool {
    cfg!(target_arch = "x86_64") && len >= MIN_LEN && chosen() != Isa::Portable
}

/// [`wide`], but portable instead of AVX2 where `skip`: for kernels that
/// AVX2 made slower on the 2-core development machine (AMD Zen 3). Most store a cell's old value
/// back where a compare fails (`x[j] = if c { v } else { x[j] }`), which
/// LLVM makes a masked store: AVX-512 does that at full speed, AVX2's
/// `vmaskmovps` slowly on AMD's cores (with the per-tap passes of the
/// separable max and the combine of tall windows on AVX2, the max forward
/// of (8, 64, 112, 112) 5x5/s2/p2 took 1.6x the time of the portable
/// kernels, 4x4/s4 1.3x).
#[inline(always)]
pub(crate) fn wide_skipping_avx2<R>(skip: bool, len: usize, kernel: impl FnOnce() -> R) -> R {
    wide_isa(
        len,
        #[inline(always)]
        |isa| match isa {
            Isa::Avx2 if skip => portable(kernel),
            _ => kernel(),
        },
    )
}

/// Runs `kernel` compiled for the portable baseline only, even when its
/// caller was compiled for more.
#[inline(never)]
fn portable<R>(kernel: impl FnOnce() -> R) -> R {
    kernel()
}

/// [`wide`] for kernels whose best shape differs with the width of the
/// vectors: `kernel` learns the instruction set it is compiled for.
#[inline(always)]
pub(crate) fn wide_isa<R>(len: usize, kernel: impl FnOnce(Isa) -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if len >= MIN_LEN {
        match chosen() {
            Isa::Avx512 => {
                return x86::avx512(
                    #[inline(always)]
                    || kernel(Isa::Avx512),
                );
            }
            Isa::Avx2 => {
                return x86::avx2(
                    #[inline(always)]
                    || kernel(Isa::Avx2),
                );
            }
            Isa::Portable => {}
        }
    }
    kernel(Isa::Portable)
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

/// The instruction set the kernels run: the widest the CPU has, at most
/// the one `NDARRAY_POOLING_ISA` names (`portable`, `avx2` or `avx512`;
/// `NDARRAY_POOLING_PORTABLE`, set to anything, is `portable`). Checked once.
pub(crate) fn chosen() -> Isa {
    use std::sync::OnceLock;
    static CHOICE: OnceLock<Isa> = OnceLock::new();
    *CHOICE.get_or_init(|| detected().min(cap()))
}

/// The widest instruction set that the environment allows.
fn cap() -> Isa {
    let portable = std::env::var_os("NDARRAY_POOLING_PORTABLE").is_some();
    cap_from(
        portable,
        std::env::var("NDARRAY_POOLING_ISA").ok().as_deref(),
    )
}

/// The cap that `NDARRAY_POOLING_PORTABLE` (set or not) and
/// `NDARRAY_POOLING_ISA` (its value, in any case) ask for; a value that
/// names no instruction set asks for none.
fn cap_from(portable: bool, isa: Option<&str>) -> Isa {
    if portable {
        return Isa::Portable;
    }
    match isa.map(str::to_ascii_lowercase).as_deref() {
        Some("portable") => Isa::Portable,
        Some("avx2") => Isa::Avx2,
        _ => Isa::Avx512,
    }
}

/// The widest instruction set the CPU has.
fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq") {
            return Isa::Avx512;
        }
        if has!("avx2")
            && has!("fma")
            && has!("bmi1")
            && has!("bmi2")
            && has!("lzcnt")
            && has!("popcnt")
        {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    /// Runs `kernel` inside [`avx512_body`], where it is inlined and
    /// compiled for AVX-512. Only called where [`super::chosen`] returned
    /// [`super::Isa::Avx512`].
    #[inline(always)]
    pub(super) fn avx512<R>(kernel: impl FnOnce() -> R) -> R {
        // SAFETY: `avx512_body` requires AVX-512F, BW, VL and DQ, which
        // `chosen` checked with `is_x86_feature_detected!`; it has no other
        // precondition.
        unsafe { avx512_body(kernel) }
    }

    /// Runs `kernel` inside [`avx2_body`], where it is inlined and compiled
    /// for AVX2. Only called where [`super::chosen`] returned
    /// [`super::Isa::Avx2`] (or would have returned more).
    #[inline(always)]
    pub(super) fn avx2<R>(kernel: impl FnOnce() -> R) -> R {
        // SAFETY: `avx2_body` requires AVX2, FMA, BMI1, BMI2, LZCNT and
        // POPCNT, which `chosen` checked with `is_x86_feature_detected!`; it
        // has no other precondition.
        unsafe { avx2_body(kernel) }
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
    unsafe fn avx512_body<R>(kernel: impl FnOnce() -> R) -> R {
        kernel()
    }

    #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    unsafe fn avx2_body<R>(kernel: impl FnOnce() -> R) -> R {
        kernel()
    }
}

#[cfg(test)]
mod tests {
    use super::{Isa, cap_from};

    #[test]
    fn the_environment_caps_the_instruction_set() {
        assert_eq!(cap_from(false, None), Isa::Avx512);
        assert_eq!(cap_from(true, None), Isa::Portable);
        assert_eq!(cap_from(true, Some("avx512")), Isa::Portable);
        assert_eq!(cap_from(false, Some("portable")), Isa::Portable);
        assert_eq!(cap_from(false, Some("avx2")), Isa::Avx2);
        assert_eq!(cap_from(false, Some("AVX2")), Isa::Avx2);
        assert_eq!(cap_from(false, Some("avx512")), Isa::Avx512);
        assert_eq!(cap_from(false, Some("sse9")), Isa::Avx512);
    }

    #[test]
    fn the_chosen_set_is_within_the_cap() {
        assert!(super::chosen() <= super::cap());
        assert!(super::chosen() <= super::detected());
    }
}
