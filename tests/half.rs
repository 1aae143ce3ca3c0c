//! `f16` and `bf16` elements (the `half` feature): max and min exact, mean
//! and LP accumulated in f32.
#![cfg(feature = "half")]

use half::{bf16, f16};
use ndarray::Array4;
use ndarray_pooling::{
    MeanDivisor, Pool2d, PoolMode, Window2d, lp_pool2d, max_pool2d, max_pool2d_nhwc, mean_pool2d,
    mean_pool2d_backward, min_pool2d,
};

fn input() -> Array4<f32> {
    Array4::from_shape_fn((2, 3, 9, 8), |(n, c, h, w)| {
        ((n * 5 + c * 3 + h * 7 + w * 11) % 23) as f32 - 11.5
    })
}

#[test]
fn max_and_min_are_exact() {
    let x = input();
    let window = Window2d::new(3, 2).with_padding(1).with_ceil_mode(true);
    let (want, want_idx) = max_pool2d(&x, &window).unwrap();
    let (y, idx) = max_pool2d(&x.mapv(f16::from_f32), &window).unwrap();
    assert_eq!(y.mapv(f16::to_f32), want);
    assert_eq!(idx, want_idx);
    let (y, idx) = min_pool2d(&x.mapv(bf16::from_f32), &window).unwrap();
    let (want, want_idx) = min_pool2d(&x, &window).unwrap();
    assert_eq!(y.mapv(bf16::to_f32), want);
    assert_eq!(idx, want_idx);
}

/// Channels last too, NaN included: the blocks' NaN probe of `f16` tests
/// each value, as `f16` sums are slow.
#[test]
fn max_channels_last_is_exact() {
    let mut x = Array4::from_shape_fn((2, 9, 8, 20), |(n, h, w, c)| {
        ((n * 5 + c * 3 + h * 7 + w * 11) % 23) as f32 - 11.5
    });
    x[[1, 4, 4, 17]] = f32::NAN;
    let window = Window2d::new(3, 2).with_padding(1);
    let (want, want_idx) = max_pool2d_nhwc(&x, &window).unwrap();
    let (y, idx) = max_pool2d_nhwc(&x.mapv(f16::from_f32), &window).unwrap();
    assert!(y[[1, 2, 2, 17]].is_nan());
    let same = |a: f32, b: f32| a == b || (a.is_nan() && b.is_nan());
    assert!(y.iter().zip(&want).all(|(y, &w)| same(y.to_f32(), w)));
    assert_eq!(idx, want_idx);
}

#[test]
fn mean_and_lp_accumulate_in_f32() {
    let x = input();
    let window = Window2d::new(3, 2).with_padding(1);
    let divisor = MeanDivisor::RealCells;
    let want = mean_pool2d(&x, &window, divisor).unwrap();
    let y = mean_pool2d(&x.mapv(f16::from_f32), &window, divisor).unwrap();
    assert_eq!(
        y,
        want.mapv(f16::from_f32),
        "one rounding, after an f32 mean"
    );
    let delta = want.mapv(|v| v / 3.);
    let dx =
        mean_pool2d_backward(&delta.mapv(bf16::from_f32), [2, 3, 9, 8], &window, divisor).unwrap();
    let want_dx = mean_pool2d_backward(
        &delta.mapv(|v| bf16::from_f32(v).to_f32()),
        [2, 3, 9, 8],
        &window,
        divisor,
    )
    .unwrap();
    assert_eq!(dx, want_dx.mapv(bf16::from_f32));
    let lp = lp_pool2d(&x.mapv(f16::from_f32), &window, 2.).unwrap();
    assert_eq!(lp, lp_pool2d(&x, &window, 2.).unwrap().mapv(f16::from_f32));

    // a sum f16 could not hold: 2048 + 1 + 1 + 1 is 2051 in f32, 2048 in f16
    let wide = Array4::from_shape_vec((1, 1, 1, 4), vec![2048f32, 1., 1., 1.]).unwrap();
    let sum = Window2d::new((1, 4), 1);
    let y = mean_pool2d(
        &wide.mapv(f16::from_f32),
        &sum,
        MeanDivisor::Fixed(1.try_into().unwrap()),
    )
    .unwrap();
    assert_eq!(y[[0, 0, 0, 0]], f16::from_f32(2051.));
}

#[test]
fn layers_take_half_elements() {
    let x = input().mapv(f16::from_f32);
    for mode in [
        PoolMode::Max,
        PoolMode::Min,
        PoolMode::Mean,
        PoolMode::Lp(2.),
    ] {
        let mut pool = Pool2d::new(mode, 2, 2).unwrap();
        let y = pool.forward(&x).unwrap();
        let dx = pool.backward(&y).unwrap();
        assert_eq!(dx.dim(), x.dim());
    }
}
