//! ndarray-pooling, candle and burn-flex on the same workloads and data, each
//! op timed as a ratio of the time to copy the same input, measured in the
//! same run. Threads come from `RAYON_NUM_THREADS` (burn-flex and
//! ndarray-pooling both run on rayon's global pool; candle's pooling is
//! single-threaded).

use std::hint::black_box;
use std::time::{Duration, Instant};

use burn_backend::TensorData;
use burn_backend::ops::ModuleOps;
use burn_backend::IntDType;
use burn_flex::{Flex, FlexTensor};
use candle_core::{Device, Tensor};
use ndarray::Array4;
use ndarray_pooling::{
    Argmax, MeanDivisor, Window2d, max_pool2d_argmax, max_pool2d_backward_argmax,
    max_pool2d_backward_argmax_into, max_pool2d_into, max_pool2d_without_indices,
    max_pool2d_without_indices_into, mean_pool2d, mean_pool2d_backward, mean_pool2d_backward_into,
    mean_pool2d_into,
};

/// Median time of `f` over enough runs to take about a second (at least 5).
fn time(mut f: impl FnMut()) -> Duration {
    f();
    let once = {
        let start = Instant::now();
        f();
        start.elapsed()
    };
    let runs = (Duration::from_secs(1).as_secs_f64() / once.as_secs_f64().max(1e-6)).clamp(5., 200.) as usize;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

struct Workload {
    name: &'static str,
    shape: [usize; 4],
    size: usize,
    stride: usize,
    padding: usize,
}

fn main() {
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let workloads = [
        Workload { name: "(32, 64, 112, 112) 2x2/s2", shape: [32, 64, 112, 112], size: 2, stride: 2, padding: 0 },
        Workload { name: "(8, 64, 112, 112) 3x3/s2/p1", shape: [8, 64, 112, 112], size: 3, stride: 2, padding: 1 },
        Workload { name: "(1, 16, 28, 28) 2x2/s2", shape: [1, 16, 28, 28], size: 2, stride: 2, padding: 0 },
    ];
    println!("threads: {threads}; each cell: median time / median time of copying the same input\n");
    println!("| workload | library | copy | max fwd + indices | max fwd | mean fwd | max bwd | mean bwd |");
    println!("|---|---|---|---|---|---|---|---|");
    for w in &workloads {
        let [n, c, h, wd] = w.shape;
        let x = Array4::from_shape_fn(w.shape, |(a, b, i, j)| ((a * 131 + b * 71 + i * 31 + j * 17) % 97) as f32 - 48.);
        let data: Vec<f32> = x.iter().copied().collect();
        let copy = time(|| {
            black_box(x.to_owned());
        });
        let mut copy_target = Array4::zeros(x.raw_dim());
        let copy_into = time(|| copy_target.assign(black_box(&x)));
        let ratio = |d: Duration, base: Duration| format!("{:.2}x", d.as_secs_f64() / base.as_secs_f64());
        let millis = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);

        // ndarray-pooling, as a user calls it and with `_into`
        let window = Window2d::new(w.size, w.stride).with_padding(w.padding);
        let divisor = MeanDivisor::PaddedWindow;
        let (y, argmax) = max_pool2d_argmax(&x, &window).unwrap();
        let delta = y.mapv(|v| v * 0.5);
        let ours = [
            time(|| { black_box(max_pool2d_argmax(&x, &window).unwrap()); }),
            time(|| { black_box(max_pool2d_without_indices(&x, &window).unwrap()); }),
            time(|| { black_box(mean_pool2d(&x, &window, divisor).unwrap()); }),
            time(|| { black_box(max_pool2d_backward_argmax(&delta, &argmax).unwrap()); }),
            time(|| { black_box(mean_pool2d_backward(&delta, w.shape, &window, divisor).unwrap()); }),
        ];
        println!("| {} | ndarray-pooling | {} | {} |", w.name, millis(copy),
            ours.iter().map(|&d| ratio(d, copy)).collect::<Vec<_>>().join(" | "));
        let (mut out, mut am, mut grad) = (Array4::zeros(y.raw_dim()), Argmax::default(), Array4::zeros(x.raw_dim()));
        let ours_into = [
            time(|| max_pool2d_into(&x, &window, &mut out, &mut am).unwrap()),
            time(|| max_pool2d_without_indices_into(&x, &window, &mut out).unwrap()),
            time(|| mean_pool2d_into(&x, &window, divisor, &mut out).unwrap()),
            time(|| max_pool2d_backward_argmax_into(&delta, &argmax, &mut grad).unwrap()),
            time(|| mean_pool2d_backward_into(&delta, &window, divisor, &mut grad).unwrap()),
        ];
        println!("| {} | ndarray-pooling `_into` | {} | {} |", w.name, millis(copy_into),
            ours_into.iter().map(|&d| ratio(d, copy_into)).collect::<Vec<_>>().join(" | "));

        // burn-flex through burn-backend's ModuleOps
        let (k, s, p) = ([w.size; 2], [w.stride; 2], [w.padding; 2]);
        let bx = FlexTensor::from_data(TensorData::new(data.clone(), [n, c, h, wd]));
        let with_indices = Flex::max_pool2d_with_indices(bx.clone(), k, s, p, [1, 1], false, IntDType::I64);
        let bdelta = FlexTensor::from_data(TensorData::new(delta.iter().copied().collect::<Vec<f32>>(), y.shape().to_vec()));
        let burn = [
            time(|| { black_box(Flex::max_pool2d_with_indices(bx.clone(), k, s, p, [1, 1], false, IntDType::I64)); }),
            time(|| { black_box(Flex::max_pool2d(bx.clone(), k, s, p, [1, 1], false)); }),
            time(|| { black_box(Flex::avg_pool2d(bx.clone(), k, s, p, true, false)); }),
            time(|| {
                black_box(Flex::max_pool2d_with_indices_backward(bx.clone(), k, s, p, [1, 1], false, bdelta.clone(), with_indices.indices.clone()));
            }),
            time(|| { black_box(Flex::avg_pool2d_backward(bx.clone(), bdelta.clone(), k, s, p, true, false)); }),
        ];
        println!("| {} | burn-flex 0.22 | | {} |", w.name, burn.iter().map(|&d| ratio(d, copy)).collect::<Vec<_>>().join(" | "));

        // candle: forward only (no indices, no padding, backward only through autodiff)
        if w.padding == 0 {
            let cx = Tensor::from_slice(&data, (n, c, h, wd), &Device::Cpu).unwrap();
            let candle = [
                time(|| { black_box(cx.max_pool2d_with_stride(w.size, w.stride).unwrap()); }),
                time(|| { black_box(cx.avg_pool2d_with_stride(w.size, w.stride).unwrap()); }),
            ];
            println!("| {} | candle 0.11 | | n/a | {} | {} | n/a | n/a |", w.name, ratio(candle[0], copy), ratio(candle[1], copy));
        } else {
            println!("| {} | candle 0.11 | | n/a | n/a (no padding) | n/a (no padding) | n/a | n/a |", w.name);
        }
    }
}
