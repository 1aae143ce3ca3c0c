//! ndarray-pooling, candle and burn-flex on the same workloads and data, each
//! op timed as a ratio of the time to copy the same input, the two timed in
//! turns (see [`ratio`]). Threads come from `RAYON_NUM_THREADS` (burn-flex and
//! ndarray-pooling both run on rayon's global pool; candle's pooling is
//! single-threaded). ndarray-pooling's channels-last (NHWC) ops run on the
//! same data laid out `(N, H, W, C)`, beside PyTorch's channels_last in
//! `torch_ort.py`. With the argument `windows`, ndarray-pooling alone on
//! windows without a kernel of their own (see [`windows`]); with `nhwc`,
//! ndarray-pooling alone, NCHW and NHWC, on the workloads.

use std::hint::black_box;
use std::time::Instant;

use burn_backend::TensorData;
use burn_backend::ops::ModuleOps;
use burn_backend::IntDType;
use burn_flex::{Flex, FlexTensor};
use candle_core::{Device, Tensor};
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

/// Seconds per call of `f`, over `calls` calls.
fn batch(f: &mut dyn FnMut(), calls: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_secs_f64() / calls as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `op`'s time as a ratio of `base`'s: the median, over rounds of about
/// 1.5 s in all (at least 5), of the ratio within a round, where each is
/// timed over calls enough for a millisecond, back to back. The load of a
/// shared machine wanders over seconds and weighs on both alike. Each is
/// timed after an untimed call of its own, so that it meets the caches as
/// repeated calls leave them, not as the other left them. The rounds'
/// times of `base` go to `bases`.
fn ratio(base: &mut dyn FnMut(), op: &mut dyn FnMut(), bases: &mut Vec<f64>) -> f64 {
    base();
    op();
    let once = batch(base, 1) + batch(op, 1);
    let calls = (1e-3 / once).ceil().max(1.) as usize;
    let rounds = (0.75 / (once * calls as f64)).clamp(5., 200.) as usize;
    let ratios = (0..rounds)
        .map(|_| {
            base();
            let b = batch(base, calls);
            bases.push(b);
            op();
            batch(op, calls) / b
        })
        .collect();
    median(ratios)
}

struct Workload {
    name: &'static str,
    shape: [usize; 4],
    size: usize,
    stride: usize,
    padding: usize,
}

/// The workloads' input: every cell a small integer, so that sums are exact.
fn input(shape: [usize; 4]) -> Array4<f32> {
    Array4::from_shape_fn(shape, |(a, b, i, j)| ((a * 131 + b * 71 + i * 31 + j * 17) % 97) as f32 - 48.)
}

/// ndarray-pooling's `_into` ops over `x`, each as a ratio of `copy_into`
/// (see [`ratio`]), whose times go to `copies`: max forward with and
/// without indices, mean forward, max and mean backward (of half the
/// forward's output).
fn ours_into(x: &Array4<f32>, window: &Window2d, copy_into: &mut dyn FnMut(), copies: &mut Vec<f64>) -> [f64; 5] {
    let divisor = MeanDivisor::PaddedWindow;
    let (y, argmax) = max_pool2d_argmax(x, window).unwrap();
    let delta = y.mapv(|v| v * 0.5);
    let (mut out, mut am, mut grad) = (Array4::zeros(y.raw_dim()), Argmax::default(), Array4::zeros(x.raw_dim()));
    [
        ratio(copy_into, &mut || max_pool2d_into(x, window, &mut out, &mut am).unwrap(), copies),
        ratio(copy_into, &mut || max_pool2d_without_indices_into(x, window, &mut out).unwrap(), copies),
        ratio(copy_into, &mut || mean_pool2d_into(x, window, divisor, &mut out).unwrap(), copies),
        ratio(copy_into, &mut || max_pool2d_backward_argmax_into(&delta, &argmax, &mut grad).unwrap(), copies),
        ratio(copy_into, &mut || mean_pool2d_backward_into(&delta, window, divisor, &mut grad).unwrap(), copies),
    ]
}

/// ndarray-pooling's NHWC ops over `x` (NCHW, laid out `(N, H, W, C)`
/// here), allocating and `_into`, each as a ratio of copying the NHWC input
/// (`x.to_owned()`, into `copies`, and into an array of its own, into
/// `copies_into`).
fn ours_nhwc(x: &Array4<f32>, window: &Window2d, copies: &mut Vec<f64>, copies_into: &mut Vec<f64>) -> [[f64; 5]; 2] {
    let x = x.view().permuted_axes([0, 2, 3, 1]).as_standard_layout().into_owned();
    let divisor = MeanDivisor::PaddedWindow;
    let shape = x.dim().into();
    let (y, indices) = max_pool2d_nhwc(&x, window).unwrap();
    let delta = y.mapv(|v| v * 0.5);
    let mut copy = || {
        black_box(x.to_owned());
    };
    let allocating = [
        ratio(&mut copy, &mut || { black_box(max_pool2d_nhwc(&x, window).unwrap()); }, copies),
        ratio(&mut copy, &mut || { black_box(max_pool2d_nhwc_without_indices(&x, window).unwrap()); }, copies),
        ratio(&mut copy, &mut || { black_box(mean_pool2d_nhwc(&x, window, divisor).unwrap()); }, copies),
        ratio(&mut copy, &mut || { black_box(max_pool2d_nhwc_backward(&delta, &indices, shape).unwrap()); }, copies),
        ratio(&mut copy, &mut || { black_box(mean_pool2d_nhwc_backward(&delta, shape, window, divisor).unwrap()); }, copies),
    ];
    let mut copy_target = Array4::zeros(x.raw_dim());
    let mut copy_into = || copy_target.assign(black_box(&x));
    let (mut out, mut out_indices, mut grad) = (y.clone(), indices.clone(), x.clone());
    let into = [
        ratio(&mut copy_into, &mut || max_pool2d_nhwc_into(&x, window, &mut out, &mut out_indices).unwrap(), copies_into),
        ratio(&mut copy_into, &mut || max_pool2d_nhwc_without_indices_into(&x, window, &mut out).unwrap(), copies_into),
        ratio(&mut copy_into, &mut || mean_pool2d_nhwc_into(&x, window, divisor, &mut out).unwrap(), copies_into),
        ratio(&mut copy_into, &mut || max_pool2d_nhwc_backward_into(&delta, &indices, &mut grad).unwrap(), copies_into),
        ratio(&mut copy_into, &mut || mean_pool2d_nhwc_backward_into(&delta, window, divisor, &mut grad).unwrap(), copies_into),
    ];
    [allocating, into]
}

/// Windows without a kernel of their own (and 3x3/s2/p1, which has its
/// own, for reference), ndarray-pooling only, `_into`:
/// each op's time as a ratio of copying the same input into an array of
/// its own, and in milliseconds (the ratio times the median copy).
fn windows() {
    let shape = [8, 64, 112, 112];
    let windows = [
        // for reference, a window with kernels of its own
        ("3x3/s2/p1", Window2d::new(3, 2).with_padding(1)),
        ("5x5/s2/p2", Window2d::new(5, 2).with_padding(2)),
        ("7x7/s1/p3", Window2d::new(7, 1).with_padding(3)),
        ("5x5/s1/p2", Window2d::new(5, 1).with_padding(2)),
        ("3x3/s1/p1", Window2d::new(3, 1).with_padding(1)),
        ("2x2/s1", Window2d::new(2, 1)),
        ("4x4/s4", Window2d::new(4, 4)),
        ("3x3/s3", Window2d::new(3, 3)),
    ];
    let x = input(shape);
    let mut copy_target = Array4::zeros(x.raw_dim());
    println!("{shape:?}, `_into`; each cell: median over rounds of the time / the time of copying the same input in the same round, and that times the median copy\n");
    println!("| window | copy | max fwd + indices | max fwd | mean fwd | max bwd | mean bwd |");
    println!("|---|---|---|---|---|---|---|");
    for (name, window) in &windows {
        let mut copies = Vec::new();
        let mut copy_into = || copy_target.assign(black_box(&x));
        let ratios = ours_into(&x, window, &mut copy_into, &mut copies);
        let copy = median(copies) * 1e3;
        let cells = ratios.map(|r| format!("{r:.2}x ({:.1} ms)", r * copy)).join(" | ");
        println!("| {name} | {copy:.2} ms | {cells} |");
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("windows") {
        windows();
        return;
    }
    let only_ours = std::env::args().nth(1).as_deref() == Some("nhwc");
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let workloads = [
        Workload { name: "(32, 64, 112, 112) 2x2/s2", shape: [32, 64, 112, 112], size: 2, stride: 2, padding: 0 },
        Workload { name: "(8, 64, 112, 112) 3x3/s2/p1", shape: [8, 64, 112, 112], size: 3, stride: 2, padding: 1 },
        Workload { name: "(1, 16, 28, 28) 2x2/s2", shape: [1, 16, 28, 28], size: 2, stride: 2, padding: 0 },
    ];
    println!("threads: {threads}; each cell: median over rounds of the time / the time of copying the same input in the same round\n");
    println!("| workload | library | copy | max fwd + indices | max fwd | mean fwd | max bwd | mean bwd |");
    println!("|---|---|---|---|---|---|---|---|");
    for w in &workloads {
        let [n, c, h, wd] = w.shape;
        let x = input(w.shape);
        let data: Vec<f32> = x.iter().copied().collect();
        let mut copy_target = Array4::zeros(x.raw_dim());
        // the baselines: as a user copies, and into an array of its own
        let mut copy = || {
            black_box(x.to_owned());
        };
        let mut copy_into = || copy_target.assign(black_box(&x));
        let (mut copies, mut copies_into) = (Vec::new(), Vec::new());
        let cells = |ratios: &[f64]| ratios.iter().map(|r| format!("{r:.2}x")).collect::<Vec<_>>().join(" | ");
        let millis = |times: &[f64]| format!("{:.3} ms", median(times.to_vec()) * 1e3);

        // ndarray-pooling, as a user calls it and with `_into`
        let window = Window2d::new(w.size, w.stride).with_padding(w.padding);
        let divisor = MeanDivisor::PaddedWindow;
        let (y, argmax) = max_pool2d_argmax(&x, &window).unwrap();
        let delta = y.mapv(|v| v * 0.5);
        let ours = [
            ratio(&mut copy, &mut || { black_box(max_pool2d_argmax(&x, &window).unwrap()); }, &mut copies),
            ratio(&mut copy, &mut || { black_box(max_pool2d_without_indices(&x, &window).unwrap()); }, &mut copies),
            ratio(&mut copy, &mut || { black_box(mean_pool2d(&x, &window, divisor).unwrap()); }, &mut copies),
            ratio(&mut copy, &mut || { black_box(max_pool2d_backward_argmax(&delta, &argmax).unwrap()); }, &mut copies),
            ratio(&mut copy, &mut || { black_box(mean_pool2d_backward(&delta, w.shape, &window, divisor).unwrap()); }, &mut copies),
        ];
        let ours_into = ours_into(&x, &window, &mut copy_into, &mut copies_into);
        let (mut copies_nhwc, mut copies_nhwc_into) = (Vec::new(), Vec::new());
        let [nhwc, nhwc_into] = ours_nhwc(&x, &window, &mut copies_nhwc, &mut copies_nhwc_into);
        let ours_rows = [
            format!("| {} | ndarray-pooling | {} | {} |", w.name, millis(&copies), cells(&ours)),
            format!("| {} | ndarray-pooling `_into` | {} | {} |", w.name, millis(&copies_into), cells(&ours_into)),
            format!("| {} | ndarray-pooling NHWC | {} | {} |", w.name, millis(&copies_nhwc), cells(&nhwc)),
            format!("| {} | ndarray-pooling NHWC `_into` | {} | {} |", w.name, millis(&copies_nhwc_into), cells(&nhwc_into)),
        ]
        .join("\n");
        if only_ours {
            println!("{ours_rows}");
            continue;
        }

        // a floor for any kernel on this machine: plain loops that read each
        // input cell once and write each output cell once, and no more (every
        // shape here pools to a quarter of its cells)
        let (xs, ds) = (x.as_slice().unwrap(), delta.as_slice().unwrap());
        let taps: Vec<u8> = (0..ds.len()).map(|i| (i % 4) as u8).collect();
        let (mut picked, mut picked_taps, mut spread) = (vec![0f32; ds.len()], vec![0u8; ds.len()], vec![0f32; xs.len()]);
        let floor = [
            ratio(&mut copy_into, &mut || {
                for ((o, t), c) in picked.iter_mut().zip(picked_taps.iter_mut()).zip(xs.chunks_exact(4)) {
                    *o = c[0];
                    *t = (c[3] > c[0]) as u8;
                }
                black_box((&picked, &picked_taps));
            }, &mut copies_into),
            ratio(&mut copy_into, &mut || {
                for (o, c) in picked.iter_mut().zip(xs.chunks_exact(4)) {
                    *o = c[0];
                }
                black_box(&picked);
            }, &mut copies_into),
            ratio(&mut copy_into, &mut || {
                for (g, (&d, &t)) in spread.chunks_exact_mut(4).zip(ds.iter().zip(&taps)) {
                    g.fill(if t == 0 { d } else { 0. });
                }
                black_box(&spread);
            }, &mut copies_into),
            ratio(&mut copy_into, &mut || {
                for (g, &d) in spread.chunks_exact_mut(4).zip(ds) {
                    g.fill(d);
                }
                black_box(&spread);
            }, &mut copies_into),
        ];

        // burn-flex through burn-backend's ModuleOps
        let (k, s, p) = ([w.size; 2], [w.stride; 2], [w.padding; 2]);
        let bx = FlexTensor::from_data(TensorData::new(data.clone(), [n, c, h, wd]));
        let with_indices = Flex::max_pool2d_with_indices(bx.clone(), k, s, p, [1, 1], false, IntDType::I64);
        let bdelta = FlexTensor::from_data(TensorData::new(delta.iter().copied().collect::<Vec<f32>>(), y.shape().to_vec()));
        let burn = [
            ratio(&mut copy, &mut || { black_box(Flex::max_pool2d_with_indices(bx.clone(), k, s, p, [1, 1], false, IntDType::I64)); }, &mut copies),
            ratio(&mut copy, &mut || { black_box(Flex::max_pool2d(bx.clone(), k, s, p, [1, 1], false)); }, &mut copies),
            ratio(&mut copy, &mut || { black_box(Flex::avg_pool2d(bx.clone(), k, s, p, true, false)); }, &mut copies),
            ratio(&mut copy, &mut || {
                black_box(Flex::max_pool2d_with_indices_backward(bx.clone(), k, s, p, [1, 1], false, bdelta.clone(), with_indices.indices.clone()));
            }, &mut copies),
            ratio(&mut copy, &mut || { black_box(Flex::avg_pool2d_backward(bx.clone(), bdelta.clone(), k, s, p, true, false)); }, &mut copies),
        ];

        // candle: forward only (no indices, no padding, backward only through autodiff)
        let candle = (w.padding == 0).then(|| {
            let cx = Tensor::from_slice(&data, (n, c, h, wd), &Device::Cpu).unwrap();
            [
                ratio(&mut copy, &mut || { black_box(cx.max_pool2d_with_stride(w.size, w.stride).unwrap()); }, &mut copies),
                ratio(&mut copy, &mut || { black_box(cx.avg_pool2d_with_stride(w.size, w.stride).unwrap()); }, &mut copies),
            ]
        });

        println!("{ours_rows}");
        let [pick_taps, pick, one_hot, fill] = floor;
        println!("| {} | floor: plain read-once, write-once loops | | {pick_taps:.2}x | {pick:.2}x | {pick:.2}x | {one_hot:.2}x | {fill:.2}x |", w.name);
        println!("| {} | burn-flex 0.22 | | {} |", w.name, cells(&burn));
        match candle {
            Some([max, mean]) => println!("| {} | candle 0.11 | | n/a | {max:.2}x | {mean:.2}x | n/a | n/a |", w.name),
            None => println!("| {} | candle 0.11 | | n/a | n/a (no padding) | n/a (no padding) | n/a | n/a |", w.name),
        }
    }
}
