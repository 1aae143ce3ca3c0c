//! Every op beside a copy of the same input, measured in the same run, so
//! that results read as ratios: as a user calls it (output allocated by the
//! call) against `x.to_owned()`, and with the `_into` variants (no
//! allocation) against `out.assign(&x)`; at one thread and at two. The
//! channels-last ops (`nhwc_*`) run on the same data laid out `(N, H, W, C)`,
//! against the same copies (of as many bytes).
//!
//! ```text
//! cargo bench --bench pooling
//! python3 benches/ratios.py
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use ndarray::Array4;
use ndarray_pooling::{
    Argmax, MeanDivisor, Window2d, max_pool2d_argmax, max_pool2d_backward_argmax,
    max_pool2d_backward_argmax_into, max_pool2d_into, max_pool2d_nhwc, max_pool2d_nhwc_backward,
    max_pool2d_nhwc_backward_into, max_pool2d_nhwc_into, max_pool2d_nhwc_without_indices,
    max_pool2d_nhwc_without_indices_into, max_pool2d_without_indices,
    max_pool2d_without_indices_into, mean_pool2d, mean_pool2d_backward, mean_pool2d_backward_into,
    mean_pool2d_into, mean_pool2d_nhwc, mean_pool2d_nhwc_backward, mean_pool2d_nhwc_backward_into,
    mean_pool2d_nhwc_into,
};

struct Workload {
    name: &'static str,
    shape: [usize; 4],
    window: Window2d,
}

fn workloads() -> [Workload; 3] {
    [
        Workload {
            name: "32x64x112x112_2x2s2",
            shape: [32, 64, 112, 112],
            window: Window2d::new(2, 2),
        },
        Workload {
            name: "8x64x112x112_3x3s2p1",
            shape: [8, 64, 112, 112],
            window: Window2d::new(3, 2).with_padding(1),
        },
        Workload {
            name: "1x16x28x28_2x2s2",
            shape: [1, 16, 28, 28],
            window: Window2d::new(2, 2),
        },
    ]
}

fn run(
    group: &mut BenchmarkGroup<'_, WallTime>,
    threads: usize,
    name: &str,
    mut f: impl FnMut() + Send,
) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    group.bench_function(name, |b| pool.install(|| b.iter(&mut f)));
}

fn pooling(c: &mut Criterion) {
    let threads = std::env::var("POOL_BENCH_THREADS").unwrap_or_else(|_| "1,2".into());
    let threads: Vec<usize> = threads
        .split(',')
        .map(|t| t.trim().parse().unwrap())
        .collect();
    for workload in workloads() {
        let Workload {
            name,
            shape,
            window,
        } = workload;
        let x = Array4::from_shape_fn(shape, |(n, c, h, w)| {
            ((n * 131 + c * 71 + h * 31 + w * 17) % 97) as f32 - 48.
        });
        let (y, argmax) = max_pool2d_argmax(&x, &window).unwrap();
        let delta = y.mapv(|v| v * 0.5);
        let divisor = MeanDivisor::PaddedWindow;
        let mut out = Array4::zeros(y.raw_dim());
        let mut grad = Array4::zeros(x.raw_dim());
        let mut copy = Array4::zeros(x.raw_dim());
        let mut argmax_into = Argmax::default();
        // the same data channels last
        let x_nhwc = x
            .view()
            .permuted_axes([0, 2, 3, 1])
            .as_standard_layout()
            .into_owned();
        let shape_nhwc = x_nhwc.dim().into();
        let (y_nhwc, indices) = max_pool2d_nhwc(&x_nhwc, &window).unwrap();
        let delta_nhwc = y_nhwc.mapv(|v| v * 0.5);
        let (mut out_nhwc, mut indices_into) = (y_nhwc.clone(), indices.clone());
        let mut grad_nhwc = x_nhwc.clone();

        for &t in &threads {
            let mut group = c.benchmark_group(format!("{name}/t{t}"));
            if shape[0] > 1 {
                group
                    .sample_size(10)
                    .measurement_time(Duration::from_secs(4));
            }
            run(&mut group, t, "copy", || {
                black_box(x.to_owned());
            });
            run(&mut group, t, "copy_into", || copy.assign(black_box(&x)));
            run(&mut group, t, "max_forward", || {
                black_box(max_pool2d_argmax(&x, &window).unwrap());
            });
            run(&mut group, t, "max_forward_into", || {
                max_pool2d_into(&x, &window, &mut out, &mut argmax_into).unwrap()
            });
            run(&mut group, t, "max_forward_no_indices", || {
                black_box(max_pool2d_without_indices(&x, &window).unwrap());
            });
            run(&mut group, t, "max_forward_no_indices_into", || {
                max_pool2d_without_indices_into(&x, &window, &mut out).unwrap()
            });
            run(&mut group, t, "mean_forward", || {
                black_box(mean_pool2d(&x, &window, divisor).unwrap());
            });
            run(&mut group, t, "mean_forward_into", || {
                mean_pool2d_into(&x, &window, divisor, &mut out).unwrap()
            });
            run(&mut group, t, "max_backward", || {
                black_box(max_pool2d_backward_argmax(&delta, &argmax).unwrap());
            });
            run(&mut group, t, "max_backward_into", || {
                max_pool2d_backward_argmax_into(&delta, &argmax, &mut grad).unwrap()
            });
            run(&mut group, t, "mean_backward", || {
                black_box(mean_pool2d_backward(&delta, shape, &window, divisor).unwrap());
            });
            run(&mut group, t, "mean_backward_into", || {
                mean_pool2d_backward_into(&delta, &window, divisor, &mut grad).unwrap()
            });
            run(&mut group, t, "nhwc_max_forward", || {
                black_box(max_pool2d_nhwc(&x_nhwc, &window).unwrap());
            });
            run(&mut group, t, "nhwc_max_forward_into", || {
                max_pool2d_nhwc_into(&x_nhwc, &window, &mut out_nhwc, &mut indices_into).unwrap()
            });
            run(&mut group, t, "nhwc_max_forward_no_indices", || {
                black_box(max_pool2d_nhwc_without_indices(&x_nhwc, &window).unwrap());
            });
            run(&mut group, t, "nhwc_max_forward_no_indices_into", || {
                max_pool2d_nhwc_without_indices_into(&x_nhwc, &window, &mut out_nhwc).unwrap()
            });
            run(&mut group, t, "nhwc_mean_forward", || {
                black_box(mean_pool2d_nhwc(&x_nhwc, &window, divisor).unwrap());
            });
            run(&mut group, t, "nhwc_mean_forward_into", || {
                mean_pool2d_nhwc_into(&x_nhwc, &window, divisor, &mut out_nhwc).unwrap()
            });
            run(&mut group, t, "nhwc_max_backward", || {
                black_box(max_pool2d_nhwc_backward(&delta_nhwc, &indices, shape_nhwc).unwrap());
            });
            run(&mut group, t, "nhwc_max_backward_into", || {
                max_pool2d_nhwc_backward_into(&delta_nhwc, &indices, &mut grad_nhwc).unwrap()
            });
            run(&mut group, t, "nhwc_mean_backward", || {
                black_box(
                    mean_pool2d_nhwc_backward(&delta_nhwc, shape_nhwc, &window, divisor).unwrap(),
                );
            });
            run(&mut group, t, "nhwc_mean_backward_into", || {
                mean_pool2d_nhwc_backward_into(&delta_nhwc, &window, divisor, &mut grad_nhwc)
                    .unwrap()
            });
            group.finish();
        }
    }
}

criterion_group!(benches, pooling);
criterion_main!(benches);
