//! Max and mean pooling, forward and backward, each group beside a copy of
//! the same input so that results read as ratios.
//!
//! ```text
//! cargo bench --bench pooling
//! python3 benches/ratios.py
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array4;
use ndarray_pooling::{
    MeanDivisor, Window2d, max_pool2d, max_pool2d_backward, mean_pool2d, mean_pool2d_backward,
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

fn pooling(c: &mut Criterion) {
    for Workload {
        name,
        shape,
        window,
    } in workloads()
    {
        let x = Array4::from_shape_fn(shape, |(n, c, h, w)| {
            ((n * 131 + c * 71 + h * 31 + w * 17) % 97) as f32 - 48.
        });
        let (y, indices) = max_pool2d(&x, &window).unwrap();
        let delta = y.mapv(|v| v * 0.5);
        let divisor = MeanDivisor::PaddedWindow;

        let mut group = c.benchmark_group(name);
        if shape[0] > 1 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(5));
        }
        group.bench_function("copy", |b| b.iter(|| black_box(x.to_owned())));
        group.bench_function("max_forward", |b| {
            b.iter(|| black_box(max_pool2d(black_box(&x), &window).unwrap()))
        });
        group.bench_function("max_backward", |b| {
            b.iter(|| black_box(max_pool2d_backward(&delta, &indices, shape, &window).unwrap()))
        });
        group.bench_function("mean_forward", |b| {
            b.iter(|| black_box(mean_pool2d(black_box(&x), &window, divisor).unwrap()))
        });
        group.bench_function("mean_backward", |b| {
            b.iter(|| black_box(mean_pool2d_backward(&delta, shape, &window, divisor).unwrap()))
        });
        group.finish();
    }
}

criterion_group!(benches, pooling);
criterion_main!(benches);
