//! Results are bit-identical for every thread count, over planes and over
//! bands of rows (fewer planes than threads).
#![cfg(feature = "rayon")]

mod common;

use ndarray::Array4;
use ndarray_pooling::{
    MeanDivisor, Padding, Window2d, max_pool2d, max_pool2d_argmax, max_pool2d_backward_argmax,
    max_pool2d_nhwc, max_pool2d_nhwc_backward, max_pool2d_without_indices, mean_pool2d,
    mean_pool2d_backward, mean_pool2d_nhwc, mean_pool2d_nhwc_backward,
};

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Every result of every op, for one input and window.
fn all_results(x: &Array4<f32>, window: &Window2d) -> Vec<Array4<f32>> {
    let (y, argmax) = max_pool2d_argmax(x, window).unwrap();
    let dx = max_pool2d_backward_argmax(&y, &argmax).unwrap();
    let (_, indices) = max_pool2d(x, window).unwrap();
    let values = max_pool2d_without_indices(x, window).unwrap();
    let divisor = MeanDivisor::RealCells;
    let mean = mean_pool2d(x, window, divisor).unwrap();
    let dmean = mean_pool2d_backward(&mean, x.dim().into(), window, divisor).unwrap();
    // the same data channels last, back in NCHW to compare
    let nhwc = x
        .view()
        .permuted_axes([0, 2, 3, 1])
        .as_standard_layout()
        .into_owned();
    let nchw = |a: Array4<f32>| a.permuted_axes([0, 3, 1, 2]);
    let (y_nhwc, indices_nhwc) = max_pool2d_nhwc(&nhwc, window).unwrap();
    let dx_nhwc = max_pool2d_nhwc_backward(&y_nhwc, &indices_nhwc, nhwc.dim().into()).unwrap();
    let mean_nhwc = mean_pool2d_nhwc(&nhwc, window, divisor).unwrap();
    let dmean_nhwc =
        mean_pool2d_nhwc_backward(&mean_nhwc, nhwc.dim().into(), window, divisor).unwrap();
    vec![
        y,
        dx,
        indices.mapv(|i| i as f32),
        values,
        mean,
        dmean,
        nchw(y_nhwc),
        nchw(indices_nhwc.mapv(|i| i as f32)),
        nchw(dx_nhwc),
        nchw(mean_nhwc),
        nchw(dmean_nhwc),
    ]
}

#[test]
fn thread_count_does_not_change_results() {
    let shapes = [
        (1, 1, 301, 299),
        (1, 3, 130, 257),
        // outputs large enough to be zeroed by the threads
        (2, 4, 130, 257),
        (4, 5, 64, 65),
        (2, 2, 16, 16),
        // channels enough for the channels-last kernels' blocks
        (2, 40, 40, 41),
        (1, 24, 64, 65),
    ];
    let windows = [
        Window2d::new(2, 2),
        Window2d::new(3, 2).with_padding(1),
        Window2d::new(3, 1)
            .with_padding(Padding::new(2, 0, 1, 2))
            .with_ceil_mode(true),
        Window2d::new((2, 3), (3, 2)).with_dilation(2),
    ];
    for shape in shapes {
        let x = Array4::from_shape_fn(shape, |(n, c, h, w)| {
            ((n * 131 + c * 71 + h * 31 + w * 17) % 23) as f32 - 11.
        });
        for window in &windows {
            let single = in_pool(1, || all_results(&x, window));
            let reference = common::max_forward(x.view(), window).unwrap();
            assert!(
                common::same(&single[0], &reference.0),
                "{shape:?} {window:?}"
            );
            for threads in [2, 3, 7] {
                let multi = in_pool(threads, || all_results(&x, window));
                for (a, b) in single.iter().zip(&multi) {
                    assert!(
                        common::same(a, b),
                        "{threads} threads, {shape:?}, {window:?}"
                    );
                }
            }
        }
    }
}

/// On one thread, new outputs from 8 MiB to 32 MiB grow in step with the
/// kernels, which write each part's zeros just before their own values:
/// every op against the reference on such outputs, with windows that
/// overlap and windows that do not, and a row holding NaN; the
/// channels-last ops on the same data too.
#[test]
fn outputs_growing_with_the_work_match_the_reference() {
    let cases = [
        // forward outputs and gradients of 8.8 MB, overlapping windows
        ((1, 2, 1100, 1001), Window2d::new(3, 1).with_padding(1)),
        // gradients of 8.8 MB, windows that do not overlap, and dilated ones
        ((1, 2, 1100, 1001), Window2d::new(2, 2)),
        (
            (1, 2, 1100, 1001),
            Window2d::new((2, 3), (1, 2)).with_dilation(2),
        ),
        // mean backward deltas of 1.4 MB, large enough that the gathering
        // pass prefetches the next plane's
        ((1, 4, 600, 601), Window2d::new(3, 2).with_padding(1)),
    ];
    for (shape, window) in cases {
        let mut x = Array4::from_shape_fn(shape, |(n, c, h, w)| {
            ((n * 131 + c * 71 + h * 31 + w * 17) % 23) as f32 - 11.
        });
        x[[0, 1, 7, 9]] = f32::NAN;
        let results: [Array4<f32>; 11] =
            in_pool(1, || all_results(&x, &window)).try_into().unwrap();
        let [y, dx, indices, values, mean, dmean, nhwc @ ..] = results;
        let [y_nhwc, indices_nhwc, dx_nhwc, mean_nhwc, dmean_nhwc] = nhwc;
        let (y_ref, indices_ref) = common::max_forward(x.view(), &window).unwrap();
        let input_shape = x.dim().into();
        let dx_ref = common::max_backward(y_ref.view(), indices_ref.view(), input_shape);
        let divisor = MeanDivisor::RealCells;
        let mean_ref = common::mean_forward(x.view(), &window, divisor).unwrap();
        let dmean_ref = common::mean_backward(mean_ref.view(), input_shape, &window, divisor);
        let context = format!("{shape:?} {window:?}");
        assert!(common::same(&y, &y_ref), "max forward, {context}");
        assert!(common::same(&values, &y_ref), "max values, {context}");
        assert_eq!(
            indices,
            indices_ref.mapv(|i| i as f32),
            "indices, {context}"
        );
        assert!(common::same(&dx, &dx_ref), "max backward, {context}");
        assert!(common::same(&mean, &mean_ref), "mean forward, {context}");
        assert!(common::same(&dmean, &dmean_ref), "mean backward, {context}");
        assert!(common::same(&y_nhwc, &y_ref), "NHWC max forward, {context}");
        assert_eq!(indices_nhwc, indices, "NHWC indices, {context}");
        assert!(
            common::same(&dx_nhwc, &dx_ref),
            "NHWC max backward, {context}"
        );
        assert!(common::same(&mean_nhwc, &mean_ref), "NHWC mean, {context}");
        assert!(
            common::same(&dmean_nhwc, &dmean_ref),
            "NHWC mean backward, {context}"
        );
    }
}
