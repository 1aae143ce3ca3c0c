//! Forward allocates its output and its argmax and nothing input-sized: no
//! padded or contiguous copy of the input. Measured with a counting
//! allocator: the peak of live bytes during each call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::Array4;
use ndarray_pooling::{
    MeanDivisor, Window2d, max_pool2d_argmax, max_pool2d_backward_argmax,
    max_pool2d_without_indices, mean_pool2d,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Tests in this file measure one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: forwards every call to the system allocator unchanged and only
// counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak of `f`, beyond what was live before it.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let result = f();
    (result, PEAK.load(Ordering::SeqCst) - before)
}

#[test]
fn forward_allocates_only_its_output_and_argmax() {
    let _serial = SERIAL.lock().unwrap();
    for (shape, window) in [
        ([4, 32, 64, 64], Window2d::new(2, 2)),
        ([2, 16, 65, 63], Window2d::new(3, 2).with_padding(1)),
        (
            [1, 1, 256, 256],
            Window2d::new(3, 1).with_dilation(2).with_ceil_mode(true),
        ),
    ] {
        let x = Array4::from_shape_fn(shape, |(n, c, h, w)| (n + c + h * w) as f32);
        let input_bytes = x.len() * 4;
        let out_len: usize = window.output_shape(shape).unwrap().iter().product();
        // rows of scratch per task and small geometry tables, far below the input
        let slack = input_bytes / 16 + (64 << 10);

        let (_, peak) = peak_during(|| max_pool2d_without_indices(&x, &window).unwrap());
        assert!(
            peak <= out_len * 4 + slack,
            "{shape:?}: max forward peaked at {peak} bytes"
        );
        let ((y, argmax), peak) = peak_during(|| max_pool2d_argmax(&x, &window).unwrap());
        assert!(
            peak <= out_len * 5 + slack,
            "{shape:?}: argmax forward peaked at {peak} bytes"
        );
        let (_, peak) =
            peak_during(|| mean_pool2d(&x, &window, MeanDivisor::PaddedWindow).unwrap());
        assert!(
            peak <= out_len * 4 + slack,
            "{shape:?}: mean forward peaked at {peak} bytes"
        );
        let (_, peak) = peak_during(|| max_pool2d_backward_argmax(&y, &argmax).unwrap());
        assert!(
            peak <= input_bytes + slack,
            "{shape:?}: backward peaked at {peak} bytes"
        );
    }
}
