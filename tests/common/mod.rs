//! A naive reference implementation of pooling: four loops straight from the
//! definition, signed coordinates, nothing precomputed. Slow, simple, correct.

#![allow(dead_code)]

pub mod fixtures;

use ndarray::{Array4, ArrayView4};
use ndarray_pooling::{MeanDivisor, Padding, Window2d};
use num_traits::Float;
use proptest::prelude::*;

/// Output length along one axis, or `None` where the geometry is invalid
/// (window larger than the padded input).
pub fn out_len(
    input: usize,
    size: usize,
    stride: usize,
    pad_begin: usize,
    pad_end: usize,
    dilation: usize,
    ceil: bool,
) -> Option<usize> {
    let padded = (input + pad_begin + pad_end) as i64;
    let extent = (dilation * (size - 1) + 1) as i64;
    if extent > padded {
        return None;
    }
    let stride = stride as i64;
    let span = padded - extent;
    let mut out = if ceil {
        (span + stride - 1) / stride + 1
    } else {
        span / stride + 1
    };
    if ceil && (out - 1) * stride >= (input + pad_begin) as i64 {
        out -= 1;
    }
    Some(out as usize)
}

/// `(out_height, out_width)`, or `None` where the geometry is invalid:
/// a window too large, or some window holding no real input cell.
pub fn out_size(height: usize, width: usize, g: &Window2d) -> Option<(usize, usize)> {
    let p = g.padding;
    let oh = out_len(
        height,
        g.size.height,
        g.stride.height,
        p.top(),
        p.bottom(),
        g.dilation.height,
        g.ceil_mode,
    )?;
    let ow = out_len(
        width,
        g.size.width,
        g.stride.width,
        p.left(),
        p.right(),
        g.dilation.width,
        g.ceil_mode,
    )?;
    if height == 0 || width == 0 {
        return None;
    }
    for i in 0..oh {
        if (0..g.size.height).all(|k| {
            let r = row_of(g, i, k);
            r >= height as i64 || r < 0
        }) {
            return None;
        }
    }
    for j in 0..ow {
        if (0..g.size.width).all(|k| {
            let c = col_of(g, j, k);
            c >= width as i64 || c < 0
        }) {
            return None;
        }
    }
    Some((oh, ow))
}

/// Input row of tap `k` of output row `i`; negative or past the end is padding.
fn row_of(g: &Window2d, i: usize, k: usize) -> i64 {
    (i * g.stride.height + k * g.dilation.height) as i64 - g.padding.top() as i64
}

/// Input column of tap `k` of output column `j`.
fn col_of(g: &Window2d, j: usize, k: usize) -> i64 {
    (j * g.stride.width + k * g.dilation.width) as i64 - g.padding.left() as i64
}

pub fn max_forward<T: Float>(x: ArrayView4<T>, g: &Window2d) -> Option<(Array4<T>, Array4<i64>)> {
    extreme_forward(x, g, false)
}

pub fn min_forward<T: Float>(x: ArrayView4<T>, g: &Window2d) -> Option<(Array4<T>, Array4<i64>)> {
    extreme_forward(x, g, true)
}

/// The largest (or with `smallest`, the smallest) cell of every window: the
/// first of equal ones, the last NaN if there is any.
pub fn extreme_forward<T: Float>(
    x: ArrayView4<T>,
    g: &Window2d,
    smallest: bool,
) -> Option<(Array4<T>, Array4<i64>)> {
    let (n, c, h, w) = x.dim();
    let (oh, ow) = out_size(h, w, g)?;
    let mut y = Array4::zeros((n, c, oh, ow));
    let mut idx = Array4::zeros((n, c, oh, ow));
    for b in 0..n {
        for ch in 0..c {
            for i in 0..oh {
                for j in 0..ow {
                    let mut best: Option<(T, i64)> = None;
                    for ki in 0..g.size.height {
                        for kj in 0..g.size.width {
                            let (r, col) = (row_of(g, i, ki), col_of(g, j, kj));
                            if r < 0 || col < 0 || r >= h as i64 || col >= w as i64 {
                                continue;
                            }
                            let v = x[[b, ch, r as usize, col as usize]];
                            let better = match best {
                                None => true,
                                Some((m, _)) if smallest => v < m || v.is_nan(),
                                Some((m, _)) => v > m || v.is_nan(),
                            };
                            if better {
                                best = Some((v, r * w as i64 + col));
                            }
                        }
                    }
                    let (v, k) = best.expect("out_size rejects empty windows");
                    y[[b, ch, i, j]] = v;
                    idx[[b, ch, i, j]] = k;
                }
            }
        }
    }
    Some((y, idx))
}

pub fn max_backward<T: Float>(
    delta: ArrayView4<T>,
    indices: ArrayView4<i64>,
    input_shape: [usize; 4],
) -> Array4<T> {
    let mut dx = Array4::zeros(input_shape);
    let w = input_shape[3];
    for ((b, ch, i, j), &d) in delta.indexed_iter() {
        let k = indices[[b, ch, i, j]] as usize;
        dx[[b, ch, k / w, k % w]] = dx[[b, ch, k / w, k % w]] + d;
    }
    dx
}

/// The divisor of window `(i, j)`, counted cell by cell.
fn divisor(h: usize, w: usize, g: &Window2d, i: usize, j: usize, divisor: MeanDivisor) -> usize {
    let p = g.padding;
    let mut real = 0;
    let mut padded = 0;
    for ki in 0..g.size.height {
        for kj in 0..g.size.width {
            let (r, col) = (row_of(g, i, ki), col_of(g, j, kj));
            if r >= 0 && col >= 0 && r < h as i64 && col < w as i64 {
                real += 1;
            }
            if r < (h + p.bottom()) as i64 && col < (w + p.right()) as i64 {
                padded += 1;
            }
        }
    }
    match divisor {
        MeanDivisor::PaddedWindow => padded,
        MeanDivisor::RealCells => real,
        MeanDivisor::Fixed(d) => d.get(),
    }
}

pub fn mean_forward<T: Float>(
    x: ArrayView4<T>,
    g: &Window2d,
    div: MeanDivisor,
) -> Option<Array4<T>> {
    let (n, c, h, w) = x.dim();
    let (oh, ow) = out_size(h, w, g)?;
    let mut y = Array4::zeros((n, c, oh, ow));
    for b in 0..n {
        for ch in 0..c {
            for i in 0..oh {
                for j in 0..ow {
                    let mut sum = T::zero();
                    for ki in 0..g.size.height {
                        for kj in 0..g.size.width {
                            let (r, col) = (row_of(g, i, ki), col_of(g, j, kj));
                            if r >= 0 && col >= 0 && r < h as i64 && col < w as i64 {
                                sum = sum + x[[b, ch, r as usize, col as usize]];
                            }
                        }
                    }
                    y[[b, ch, i, j]] = sum / T::from(divisor(h, w, g, i, j, div)).unwrap();
                }
            }
        }
    }
    Some(y)
}

pub fn mean_backward<T: Float>(
    delta: ArrayView4<T>,
    input_shape: [usize; 4],
    g: &Window2d,
    div: MeanDivisor,
) -> Array4<T> {
    let [_, _, h, w] = input_shape;
    let mut dx = Array4::zeros(input_shape);
    for ((b, ch, i, j), &d) in delta.indexed_iter() {
        let share = d / T::from(divisor(h, w, g, i, j, div)).unwrap();
        for ki in 0..g.size.height {
            for kj in 0..g.size.width {
                let (r, col) = (row_of(g, i, ki), col_of(g, j, kj));
                if r >= 0 && col >= 0 && r < h as i64 && col < w as i64 {
                    let cell = &mut dx[[b, ch, r as usize, col as usize]];
                    *cell = *cell + share;
                }
            }
        }
    }
    dx
}

/// Equal element for element, NaN equal to NaN.
pub fn same<T: Float>(a: &Array4<T>, b: &Array4<T>) -> bool {
    a.shape() == b.shape()
        && a.iter().zip(b).all(|(&x, &y)| {
            // bit for bit: -0 and +0 differ; any NaN matches any NaN
            (x == y && x.is_sign_negative() == y.is_sign_negative()) || (x.is_nan() && y.is_nan())
        })
}

/// `(Σ |x|ᵖ)^(1/p)` over each window's real cells, four loops.
pub fn lp_forward(x: ArrayView4<f64>, g: &Window2d, p: f64) -> Option<Array4<f64>> {
    let (n, c, h, w) = x.dim();
    let (oh, ow) = out_size(h, w, g)?;
    let mut y = Array4::zeros((n, c, oh, ow));
    for ((b, ch, i, j), out) in y.indexed_iter_mut() {
        let mut sum = 0.;
        for ki in 0..g.size.height {
            for kj in 0..g.size.width {
                let (r, col) = (row_of(g, i, ki), col_of(g, j, kj));
                if r >= 0 && col >= 0 && r < h as i64 && col < w as i64 {
                    sum += x[[b, ch, r as usize, col as usize]].abs().powf(p);
                }
            }
        }
        *out = sum.powf(1. / p);
    }
    Some(y)
}

/// Small windows of every kind: sizes and strides 1–3, padding 0 or 1 on
/// each side, dilation 1 or 2, floor or ceil mode.
pub fn geometry() -> impl Strategy<Value = Window2d> {
    (
        (1usize..4, 1usize..4),
        (1usize..3, 1usize..3),
        (0usize..2, 0usize..2, 0usize..2, 0usize..2),
        (1usize..3, 1usize..3),
        any::<bool>(),
    )
        .prop_map(|(size, stride, (t, b, l, r), dilation, ceil)| {
            Window2d::new(size, stride)
                .with_padding(Padding::new(t, b, l, r))
                .with_dilation(dilation)
                .with_ceil_mode(ceil)
        })
}
