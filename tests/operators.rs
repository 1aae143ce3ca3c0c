//! Min, LP and global pooling and integer elements, against the reference
//! and by their defining identities.

mod common;

use approx::assert_relative_eq;
use common::geometry;
use ndarray::{Array4, array};
use ndarray_pooling::{
    MeanDivisor, Padding, Pool2d, PoolError, PoolMode, Window2d, lp_pool2d, lp_pool2d_backward,
    max_pool2d, max_pool2d_backward_argmax, max_pool2d_without_indices, mean_pool2d, min_pool2d,
    min_pool2d_argmax, min_pool2d_without_indices,
};
use proptest::prelude::*;

fn image() -> impl Strategy<Value = Array4<i32>> {
    (1usize..3, 1usize..3, 1usize..9, 1usize..9).prop_flat_map(|(n, c, h, w)| {
        proptest::collection::vec(-300i32..300, n * c * h * w)
            .prop_map(move |v| Array4::from_shape_vec((n, c, h, w), v).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Integer images pool exactly as their values do in f64.
    #[test]
    fn integer_max_and_min_match_reference(x in image(), window in geometry()) {
        let as_f64 = x.mapv(f64::from);
        let (max_ref, min_ref) = (
            common::max_forward(as_f64.view(), &window),
            common::min_forward(as_f64.view(), &window),
        );
        match (max_pool2d(&x, &window), max_ref) {
            (Ok((y, idx)), Some((want, want_idx))) => {
                prop_assert_eq!(y.mapv(f64::from), want);
                prop_assert_eq!(idx, want_idx);
            }
            (Err(_), None) => {}
            (got, want) => prop_assert!(false, "{:?} vs {:?}", got.map(|r| r.0), want.map(|r| r.0)),
        }
        if let (Ok((y, idx)), Some((want, want_idx))) = (min_pool2d(&x, &window), min_ref) {
            prop_assert_eq!(y.mapv(f64::from), want);
            prop_assert_eq!(idx, want_idx);
        }
        let small = x.mapv(|v| (v.rem_euclid(256)) as u8);
        if let (Ok(y), Ok(y_wide)) = (max_pool2d_without_indices(&small, &window), max_pool2d_without_indices(&small.mapv(i32::from), &window)) {
            prop_assert_eq!(y.mapv(i32::from), y_wide);
        }
    }

    /// Min pooling of x is minus max pooling of minus x, indices included.
    #[test]
    fn min_is_negated_max_of_negation(x in image(), window in geometry()) {
        let x = x.mapv(|v| v as f32 / 4.);
        if let (Ok((min, min_idx)), Ok((max, max_idx))) = (min_pool2d(&x, &window), max_pool2d(&x.mapv(|v| -v), &window)) {
            prop_assert_eq!(min, max.mapv(|v| -v));
            prop_assert_eq!(min_idx, max_idx);
        }
    }

    #[test]
    fn lp_matches_reference(x in image(), window in geometry(), p in prop_oneof![Just(1.), Just(2.), Just(3.), 0.5f64..6.]) {
        let x = x.mapv(|v| v as f64 / 32.);
        match (lp_pool2d(&x, &window, p), common::lp_forward(x.view(), &window, p)) {
            (Ok(y), Some(want)) => {
                for (a, b) in y.iter().zip(&want) {
                    assert_relative_eq!(*a, *b, max_relative = 1e-12, epsilon = 1e-12);
                }
            }
            (Err(_), None) => {}
            (got, want) => prop_assert!(false, "{got:?} vs {want:?}"),
        }
    }

    #[test]
    fn lp_gradient_matches_finite_differences(x in image(), window in geometry(), p in prop_oneof![Just(1.), Just(2.), Just(3.), 1.5f64..5.]) {
        // keep cells away from zero, where |x|ᵖ has a kink
        let x = x.mapv(|v| if v >= 0 { v as f64 / 32. + 0.5 } else { v as f64 / 32. - 0.5 });
        if let Ok(y) = lp_pool2d(&x, &window, p) {
            let g = y.mapv(|v| (v * 7.).sin());
            let dx = lp_pool2d_backward(&g, &x, &window, p).unwrap();
            let loss = |x: &Array4<f64>| -> f64 {
                lp_pool2d(x, &window, p).unwrap().iter().zip(&g).map(|(a, b)| a * b).sum()
            };
            let step = 1e-6;
            for (cell, &analytic) in dx.indexed_iter() {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[cell] += step;
                down[cell] -= step;
                let numeric = (loss(&up) - loss(&down)) / (2. * step);
                prop_assert!((numeric - analytic).abs() < 1e-5 * (1. + analytic.abs()), "{cell:?}: {numeric} vs {analytic}");
            }
        }
    }
}

#[test]
fn lp_extremes_are_sum_and_max() {
    let x = array![[[[1f64, -2.], [3., 0.5]]]];
    let window = Window2d::new(2, 2);
    // p = 1: sum of magnitudes
    assert_eq!(lp_pool2d(&x, &window, 1.).unwrap()[[0, 0, 0, 0]], 6.5);
    // large p approaches the largest magnitude
    let large = lp_pool2d(&x, &window, 200.).unwrap()[[0, 0, 0, 0]];
    assert!((large - 3.).abs() < 1e-2, "{large}");
    for bad in [0., -1., f64::NAN, f64::INFINITY] {
        let err = lp_pool2d(&x, &window, bad).unwrap_err();
        assert!(matches!(err, PoolError::InvalidPower { .. }), "{bad}");
        assert!(Pool2d::builder(PoolMode::Lp(bad)).build().is_err());
    }
    assert_eq!(
        PoolError::InvalidPower { p: "-1".into() }.to_string(),
        "LP pooling needs a finite, positive power, got -1"
    );
}

#[test]
fn pool2d_min_and_lp_layers() {
    let x = array![[[
        [1f32, 3., 2., 1.],
        [4., 2., 0., 1.],
        [1., 0., 3., 2.],
        [2., 1., 4., 3.]
    ]]];
    let mut min = Pool2d::new(PoolMode::Min, 2, 2).unwrap();
    assert_eq!(min.forward(&x).unwrap(), array![[[[1., 0.], [0., 2.]]]]);
    assert_eq!(min.indices().unwrap(), array![[[[0, 6], [9, 11]]]]);
    let dx = min.backward(&array![[[[1f32, 2.], [3., 4.]]]]).unwrap();
    assert_eq!(dx[[0, 0, 0, 0]], 1.);
    assert_eq!(dx[[0, 0, 1, 2]], 2.);
    assert_eq!(min.infer(&x).unwrap(), array![[[[1., 0.], [0., 2.]]]]);

    let mut lp = Pool2d::new(PoolMode::Lp(2.), 2, 2).unwrap();
    let y = lp.forward(&x).unwrap();
    assert_relative_eq!(y[[0, 0, 0, 0]], 30f32.sqrt());
    let dy = Array4::ones(y.raw_dim());
    let dx = lp.backward(&dy).unwrap();
    assert_eq!(
        dx,
        lp_pool2d_backward(&dy, &x, &Window2d::new(2, 2), 2.).unwrap()
    );
    // the kept input is f32: an f64 delta is refused
    assert_eq!(
        lp.backward(&Array4::<f64>::ones((1, 1, 2, 2))),
        Err(PoolError::ElementTypeMismatch)
    );
}

#[test]
fn global_pooling_covers_the_whole_plane() {
    let x = Array4::from_shape_fn((2, 3, 5, 7), |(n, c, h, w)| {
        ((n * 7 + c * 3 + h * 5 + w * 11) % 13) as f64
    });
    for mode in [
        PoolMode::Max,
        PoolMode::Min,
        PoolMode::Mean,
        PoolMode::Lp(3.),
    ] {
        let mut global = Pool2d::global(mode).unwrap();
        assert!(global.is_global());
        assert_eq!(global.output_shape([2, 3, 5, 7]).unwrap(), [2, 3, 1, 1]);
        let y = global.forward(&x).unwrap();
        let mut plain = Pool2d::builder(mode).size((5, 7)).build().unwrap();
        assert_eq!(y, plain.forward(&x).unwrap(), "{mode:?}");
        let delta = Array4::from_elem((2, 3, 1, 1), 2.);
        assert_eq!(
            global.backward(&delta).unwrap(),
            plain.backward(&delta).unwrap(),
            "{mode:?}"
        );
        // any plane size, one window
        assert_eq!(
            global
                .forward(&Array4::<f64>::ones((1, 2, 3, 9)))
                .unwrap()
                .dim(),
            (1, 2, 1, 1)
        );
    }
    let mut gap = Pool2d::global(PoolMode::Mean).unwrap();
    let y = gap.forward(&x).unwrap();
    assert_relative_eq!(
        y[[1, 2, 0, 0]],
        x.slice(ndarray::s![1, 2, .., ..]).mean().unwrap()
    );
    assert_eq!(
        mean_pool2d(&x, &Window2d::new((5, 7), 1), MeanDivisor::default()).unwrap(),
        y
    );
}

#[test]
fn min_pooling_backward_goes_to_the_minimum() {
    let x = array![[[[5f64, 3.], [4., 8.]]]];
    let (_, argmin) = min_pool2d_argmax(&x, &Window2d::new(2, 2)).unwrap();
    let dx = max_pool2d_backward_argmax(&array![[[[1f64]]]], &argmin).unwrap();
    assert_eq!(dx, array![[[[0., 1.], [0., 0.]]]]);
    let ink = array![[[[250u8, 250, 12, 250], [250, 250, 250, 250]]]];
    assert_eq!(
        min_pool2d_without_indices(&ink, &Window2d::new(2, 2)).unwrap(),
        array![[[[250u8, 12]]]]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// SAME padding is the explicit padding it resolves to, and gives
    /// `ceil(input / stride)` outputs with the odd cell where it belongs.
    #[test]
    fn same_padding_resolves_as_onnx(x in image(), size in (1usize..5, 1usize..5), stride in (1usize..4, 1usize..4), upper in any::<bool>()) {
        let x = x.mapv(|v| v as f64);
        let (_, _, h, w) = x.dim();
        let same = if upper { Padding::same_upper() } else { Padding::same_lower() };
        let window = Window2d::new(size, stride).with_padding(same);
        let resolved = window.resolved_padding(h, w);
        let explicit = window.with_padding(resolved);
        let (pad_h, pad_w) = (resolved.top() + resolved.bottom(), resolved.left() + resolved.right());
        let (begin_h, begin_w) = if upper { (pad_h / 2, pad_w / 2) } else { (pad_h - pad_h / 2, pad_w - pad_w / 2) };
        prop_assert_eq!((resolved.top(), resolved.left()), (begin_h, begin_w));
        match (max_pool2d(&x, &window), max_pool2d(&x, &explicit)) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.0.dim(), (x.dim().0, x.dim().1, h.div_ceil(stride.0), w.div_ceil(stride.1)));
                prop_assert_eq!(a, b);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
        }
        if let (Ok(a), Ok(b)) = (mean_pool2d(&x, &window, MeanDivisor::RealCells), mean_pool2d(&x, &explicit, MeanDivisor::RealCells)) {
            prop_assert_eq!(a, b);
        }
    }
}

#[test]
fn batchless_input_as_pytorch() {
    let chw = Array4::from_shape_fn((1, 3, 6, 5), |(_, c, h, w)| {
        (c * 31 + h * 7 + w) as f32 % 11.
    })
    .index_axis_move(ndarray::Axis(0), 0);
    for mode in [
        PoolMode::Max,
        PoolMode::Min,
        PoolMode::Mean,
        PoolMode::Lp(2.),
    ] {
        let mut pool = Pool2d::new(mode, 2, 2).unwrap();
        let mut batched = pool.clone();
        let y = pool.forward(&chw).unwrap();
        assert_eq!(y.ndim(), 3);
        let y4 = batched
            .forward(&chw.clone().insert_axis(ndarray::Axis(0)))
            .unwrap();
        assert_eq!(y, y4.index_axis(ndarray::Axis(0), 0));
        let dx = pool.backward(&y).unwrap();
        assert_eq!(dx.dim(), chw.dim());
        assert_eq!(pool.infer(&chw).unwrap(), y);
    }
    let mut pool = Pool2d::new(PoolMode::Max, 2, 2).unwrap();
    let err = pool
        .forward(&ndarray::Array2::<f32>::zeros((4, 4)))
        .unwrap_err();
    assert_eq!(err, PoolError::UnsupportedRank { ndim: 2 });
    assert_eq!(
        err.to_string(),
        "expected an NCHW (4-D) or CHW (3-D) array, got 2-D"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn index_formats_round_trip(x in image(), window in geometry(), batch in any::<bool>()) {
        if let Ok((y, indices)) = max_pool2d(&x, &window) {
            let shape = [x.dim().0, x.dim().1, x.dim().2, x.dim().3];
            for order in [ndarray_pooling::StorageOrder::RowMajor, ndarray_pooling::StorageOrder::ColumnMajor] {
                let onnx = ndarray_pooling::indices_to_onnx(&indices, shape, order).unwrap();
                prop_assert_eq!(ndarray_pooling::indices_from_onnx(&onnx, shape, order).unwrap(), indices.clone());
            }
            let tf = ndarray_pooling::indices_to_tensorflow(&indices, shape, batch).unwrap();
            prop_assert_eq!(tf.dim(), (y.dim().0, y.dim().2, y.dim().3, y.dim().1));
            // every TensorFlow index names the NHWC cell that holds the value
            let nhwc = x.view().permuted_axes([0, 2, 3, 1]).as_standard_layout().into_owned();
            let image_len = shape[1] * shape[2] * shape[3];
            for ((b, i, j, c), &flat) in tf.indexed_iter() {
                let flat = flat as usize + if batch { 0 } else { b * image_len };
                prop_assert_eq!(nhwc.as_slice().unwrap()[flat], y[[b, c, i, j]]);
            }
            prop_assert_eq!(ndarray_pooling::indices_from_tensorflow(&tf, shape, batch).unwrap(), indices.clone());

            // unpooling puts every maximum back where it was
            let unpooled = ndarray_pooling::max_unpool2d(&y, &indices, (shape[2], shape[3])).unwrap();
            for ((b, c, i, j), &k) in indices.indexed_iter() {
                let k = k as usize;
                prop_assert_eq!(unpooled[[b, c, k / shape[3], k % shape[3]]], y[[b, c, i, j]]);
            }
            prop_assert_eq!(unpooled.iter().filter(|&&v| v != 0).count() <= y.len(), true);
            // its backward gathers by the same indices
            let delta = x.mapv(|v| v * 3);
            let back = ndarray_pooling::max_unpool2d_backward(&delta, &indices).unwrap();
            for ((b, c, i, j), &k) in indices.indexed_iter() {
                let k = k as usize;
                prop_assert_eq!(back[[b, c, i, j]], delta[[b, c, k / shape[3], k % shape[3]]]);
            }
        }
    }
}

#[test]
fn unpool_errors_and_default_size() {
    let values = array![[[[1f32, 2.]]]];
    let err = ndarray_pooling::max_unpool2d(&values, &array![[[[0i64, 4]]]], (2, 2)).unwrap_err();
    assert_eq!(
        err,
        PoolError::IndexOutOfBounds {
            index: 4,
            plane_len: 4
        }
    );
    let err = ndarray_pooling::max_unpool2d(&values, &array![[[[0i64]]]], (2, 2)).unwrap_err();
    assert!(matches!(
        err,
        PoolError::ShapeMismatch {
            what: "indices",
            ..
        }
    ));
    let err = ndarray_pooling::indices_from_tensorflow(&array![[[[1i64]]]], [1, 2, 2, 2], false)
        .unwrap_err();
    assert!(
        matches!(err, PoolError::IndexOutOfBounds { index: 1, .. }),
        "channel 0 cannot hold an odd index"
    );
    assert_eq!(
        ndarray_pooling::max_unpool2d_size(&Window2d::new(2, 2), 28, 28).unwrap(),
        (56, 56)
    );
    assert!(
        ndarray_pooling::max_unpool2d_size(&Window2d::new(1, 1).with_padding(3), 1, 1).is_err()
    );
}

/// PyTorch's adaptive windows, by the formula, four loops.
fn adaptive_reference(x: &Array4<f64>, (oh, ow): (usize, usize), max: bool) -> Array4<f64> {
    let (n, c, h, w) = x.dim();
    Array4::from_shape_fn((n, c, oh, ow), |(b, ch, i, j)| {
        let (h0, h1) = (i * h / oh, ((i + 1) * h).div_ceil(oh));
        let (w0, w1) = (j * w / ow, ((j + 1) * w).div_ceil(ow));
        let cells = (h0..h1).flat_map(|r| (w0..w1).map(move |q| (r, q)));
        let values: Vec<f64> = cells.map(|(r, q)| x[[b, ch, r, q]]).collect();
        if max {
            values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn adaptive_matches_reference(x in image(), oh in 1usize..7, ow in 1usize..7) {
        let x = x.mapv(|v| v as f64 / 8.);
        let (y, indices) = ndarray_pooling::adaptive_max_pool2d(&x, (oh, ow)).unwrap();
        prop_assert_eq!(&y, &adaptive_reference(&x, (oh, ow), true));
        let w = x.dim().3;
        for ((b, c, i, j), &k) in indices.indexed_iter() {
            prop_assert_eq!(x[[b, c, k as usize / w, k as usize % w]], y[[b, c, i, j]]);
        }
        let mean = ndarray_pooling::adaptive_mean_pool2d(&x, (oh, ow)).unwrap();
        let want = adaptive_reference(&x, (oh, ow), false);
        for (a, b) in mean.iter().zip(&want) {
            assert_relative_eq!(*a, *b, epsilon = 1e-12);
        }
        // adjoint: <mean(x), g> = <x, meanᵀ(g)>
        let g = mean.mapv(|v| v.cos());
        let dx = ndarray_pooling::adaptive_mean_pool2d_backward(&g, [x.dim().0, x.dim().1, x.dim().2, x.dim().3]).unwrap();
        let (lhs, rhs): (f64, f64) = (mean.iter().zip(&g).map(|(a, b)| a * b).sum(), x.iter().zip(&dx).map(|(a, b)| a * b).sum());
        prop_assert!((lhs - rhs).abs() < 1e-9 * (1. + lhs.abs()));
    }
}
