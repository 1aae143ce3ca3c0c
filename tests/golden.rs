//! The textbook's cases, worked by hand, and every error.

use std::num::NonZeroUsize;

use ndarray::{Array4, array, s};
use ndarray_pooling::{
    MeanDivisor, Padding, Pool2d, Pool2dBuilder, PoolError, PoolMode, Size2d, Window2d, max_pool2d,
    max_pool2d_backward, mean_pool2d, mean_pool2d_backward,
};

fn textbook() -> Array4<f64> {
    array![[[
        [1., 3., 2., 1.],
        [4., 2., 0., 1.],
        [1., 0., 3., 2.],
        [2., 1., 4., 3.],
    ]]]
}

#[test]
fn textbook_max_2x2_stride_2() {
    // W2 = (4 - 2) / 2 + 1 = 2; windows {1,3,4,2} {2,1,0,1} {1,0,2,1} {3,2,4,3}
    let mut pool = Pool2d::new(PoolMode::Max, 2, 2).unwrap();
    let y = pool.forward(&textbook()).unwrap();
    assert_eq!(y, array![[[[4., 2.], [2., 4.]]]]);
    // maxima at (1,0), (0,2), (3,0), (3,2): h * 4 + w
    assert_eq!(pool.indices().unwrap(), array![[[[4, 2], [12, 14]]]]);
    let dx = pool.backward(&array![[[[1., 2.], [3., 4.]]]]).unwrap();
    assert_eq!(
        dx,
        array![[[
            [0., 0., 2., 0.],
            [1., 0., 0., 0.],
            [0., 0., 0., 0.],
            [3., 0., 4., 0.],
        ]]]
    );
}

#[test]
fn textbook_mean_2x2_stride_2() {
    // (1+3+4+2)/4 = 2.5, (2+1+0+1)/4 = 1, (1+0+2+1)/4 = 1, (3+2+4+3)/4 = 3
    let mut pool = Pool2d::new(PoolMode::Mean, 2, 2).unwrap();
    assert_eq!(
        pool.forward(&textbook()).unwrap(),
        array![[[[2.5, 1.], [1., 3.]]]]
    );
    assert!(pool.indices().is_none());
    // each cell of a window receives delta / 4
    let dx = pool.backward(&array![[[[1., 2.], [3., 4.]]]]).unwrap();
    assert_eq!(
        dx,
        array![[[
            [0.25, 0.25, 0.5, 0.5],
            [0.25, 0.25, 0.5, 0.5],
            [0.75, 0.75, 1., 1.],
            [0.75, 0.75, 1., 1.],
        ]]]
    );
}

#[test]
fn textbook_max_2x2_stride_1_overlaps() {
    // W2 = (4 - 2) / 1 + 1 = 3: the 4 at (1,0), the 3 at (2,2) and the 4 at
    // (3,2) each win two windows, so the output repeats them
    let mut pool = Pool2d::new(PoolMode::Max, 2, 1).unwrap();
    let y = pool.forward(&textbook()).unwrap();
    assert_eq!(y, array![[[[4., 3., 2.], [4., 3., 3.], [2., 4., 4.]]]]);
    // overlapping windows accumulate: each repeated winner gets 1 + 1
    let dx = pool.backward(&Array4::<f64>::ones((1, 1, 3, 3))).unwrap();
    assert_eq!(
        dx,
        array![[[
            [0., 1., 1., 0.],
            [2., 0., 0., 0.],
            [0., 0., 2., 0.],
            [1., 0., 2., 0.],
        ]]]
    );
    assert_eq!(dx.sum(), 9.);
}

#[test]
fn textbook_mean_2x2_stride_1_overlaps() {
    let mut pool = Pool2d::new(PoolMode::Mean, 2, 1).unwrap();
    let y = pool.forward(&textbook()).unwrap();
    assert_eq!(
        y,
        array![[[[2.5, 1.75, 1.], [1.75, 1.25, 1.5], [1., 2., 3.]]]]
    );
    // interior cells lie in four windows, edges in two, corners in one
    let dx = pool.backward(&Array4::<f64>::ones((1, 1, 3, 3))).unwrap();
    assert_eq!(
        dx,
        array![[[
            [0.25, 0.5, 0.5, 0.25],
            [0.5, 1., 1., 0.5],
            [0.5, 1., 1., 0.5],
            [0.25, 0.5, 0.5, 0.25],
        ]]]
    );
}

#[test]
fn output_size_formula() {
    // W2 = (W1 - F) / S + 1
    for (w1, f, s, w2) in [
        (4, 2, 2, 2),
        (224, 2, 2, 112),
        (227, 3, 2, 113),
        (5, 3, 1, 3),
        (7, 3, 3, 2),
    ] {
        let window = Window2d::new(f, s);
        assert_eq!(window.output_shape([1, 1, w1, w1]).unwrap(), [1, 1, w2, w2]);
    }
    // ceil mode: ceil((7 - 3) / 3) + 1 = 3; the third window starts at 6 < 7
    assert_eq!(
        Window2d::new(3, 3)
            .with_ceil_mode(true)
            .output_shape([1, 1, 7, 7])
            .unwrap(),
        [1, 1, 3, 3]
    );
    // ceil mode drops a window starting in the end padding: in 5, pad 1, size 2,
    // stride 2: ceil((7 - 2) / 2) + 1 = 4, but window 3 starts at 6 >= 5 + 1
    let dropped = Window2d::new(2, 2).with_padding(1).with_ceil_mode(true);
    assert_eq!(dropped.output_shape([1, 1, 5, 5]).unwrap(), [1, 1, 3, 3]);
    // dilation 2 makes a 3-tap window span 5 cells: (9 - 5) / 1 + 1 = 5
    assert_eq!(
        Window2d::new(3, 1)
            .with_dilation(2)
            .output_shape([1, 1, 9, 9])
            .unwrap(),
        [1, 1, 5, 5]
    );
}

#[test]
fn ceil_mode_overhang_is_not_in_the_divisor() {
    // in 5, size 2, stride 2, ceil: windows [0,2) [2,4) [4,6); cell 5 hangs
    // past the input and is not padding, so the last window divides by 1
    let pool = Window2d::new((1, 2), (1, 2)).with_ceil_mode(true);
    let x = array![[[[1., 2., 3., 4., 5.]]]];
    let y = mean_pool2d(&x, &pool, MeanDivisor::PaddedWindow).unwrap();
    assert_eq!(y, array![[[[1.5, 3.5, 5.]]]]);
    // with padding 1 on the right, the padding cell counts
    let padded = pool.with_padding(Padding::new(0, 0, 0, 1));
    let y = mean_pool2d(&x, &padded, MeanDivisor::PaddedWindow).unwrap();
    assert_eq!(y, array![[[[1.5, 3.5, 2.5]]]]);
}

#[test]
fn rows_of_three_cells_keep_their_own_padded_divisor() {
    // rows 13, window 4 tall with dilation 3, stride 2, padding 2 below,
    // ceil: windows at rows 0, 2, 4 and 6; the last two hold three input
    // rows each, but the one at 4 reaches row 13 in the padding and the one
    // at 6 reaches row 15, past it; 3 columns, stride 2, padding 2 a side
    let window = Window2d::new((4, 3), 2)
        .with_padding(Padding::new(0, 2, 2, 2))
        .with_dilation((3, 1))
        .with_ceil_mode(true);
    let x = Array4::<f32>::ones((1, 1, 13, 4));
    let y = mean_pool2d(&x, &window, MeanDivisor::PaddedWindow).unwrap();
    // real cells over padded cells: 4 rows by 1, 3, 2 columns, then 3 rows
    // of 4 padded, then 3 rows of 3 padded
    let expected = array![[[
        [4. / 12., 12. / 12., 8. / 12.],
        [4. / 12., 12. / 12., 8. / 12.],
        [3. / 12., 9. / 12., 6. / 12.],
        [3. / 9., 9. / 9., 6. / 9.],
    ]]];
    assert_eq!(y, expected);
}

#[test]
fn asymmetric_padding_and_divisors() {
    // 3x3 ones, padding top 1, bottom 0, left 0, right 2, window 2x2 stride 2
    let x = Array4::<f64>::ones((1, 1, 3, 3));
    let window = Window2d::new(2, 2).with_padding(Padding::new(1, 0, 0, 2));
    // rows: padded 4 -> windows [-1,1) [1,3); cols: padded 5 -> [0,2) [2,4)
    let padded = mean_pool2d(&x, &window, MeanDivisor::PaddedWindow).unwrap();
    assert_eq!(padded, array![[[[0.5, 0.25], [1., 0.5]]]]);
    let real = mean_pool2d(&x, &window, MeanDivisor::RealCells).unwrap();
    assert_eq!(real, Array4::ones((1, 1, 2, 2)));
    let fixed = mean_pool2d(
        &x,
        &window,
        MeanDivisor::Fixed(NonZeroUsize::new(8).unwrap()),
    )
    .unwrap();
    assert_eq!(fixed, array![[[[0.25, 0.125], [0.5, 0.25]]]]);
    // padding wider than half the window, as ONNX allows: every window still
    // holds a real cell
    let wide = Window2d::new(3, 3).with_padding(2);
    let (y, idx) = max_pool2d(&x, &wide).unwrap();
    assert_eq!(y.dim(), (1, 1, 2, 2));
    assert_eq!(idx, array![[[[0, 1], [3, 4]]]]);
}

#[test]
fn ties_go_to_the_first_cell_and_nan_propagates() {
    let x = array![[[[2., 2.], [2., 2.]]]];
    let (_, idx) = max_pool2d(&x, &Window2d::new(2, 2)).unwrap();
    assert_eq!(idx, array![[[[0]]]]);
    let x = array![[[[1., f64::NAN], [f64::NAN, 9.]]]];
    let (y, idx) = max_pool2d(&x, &Window2d::new(2, 2)).unwrap();
    assert!(y[[0, 0, 0, 0]].is_nan());
    assert_eq!(idx, array![[[[2]]]]); // the last NaN, as PyTorch
    let x = array![[[[f64::NEG_INFINITY, f64::NEG_INFINITY]]]];
    let (y, idx) = max_pool2d(&x, &Window2d::new((1, 2), 1)).unwrap();
    assert_eq!((y[[0, 0, 0, 0]], idx[[0, 0, 0, 0]]), (f64::NEG_INFINITY, 0));
}

#[test]
fn empty_batch_and_channels_give_empty_output() {
    for shape in [(0, 3, 4, 4), (2, 0, 4, 4)] {
        let mut pool = Pool2d::new(PoolMode::Max, 2, 2).unwrap();
        let y = pool.forward(&Array4::<f32>::zeros(shape)).unwrap();
        assert_eq!(y.dim(), (shape.0, shape.1, 2, 2));
        let dx = pool.backward(&y).unwrap();
        assert_eq!(dx.dim(), shape);
        let mut mean = Pool2d::new(PoolMode::Mean, 2, 2).unwrap();
        let y = mean.forward(&Array4::<f32>::zeros(shape)).unwrap();
        assert_eq!(mean.backward(&y).unwrap().dim(), shape);
    }
}

#[test]
fn non_contiguous_inputs() {
    let base = Array4::from_shape_fn((2, 3, 6, 8), |(n, c, h, w)| {
        ((n * 7 + c * 5 + h * 3 + w) % 11) as f32
    });
    let sliced = base.slice(s![.., 1.., ..;2, 1..;3]);
    let owned = sliced.to_owned();
    let mut a = Pool2d::new(PoolMode::Max, 2, 1).unwrap();
    let mut b = a.clone();
    assert_eq!(a.forward(&sliced).unwrap(), b.forward(&owned).unwrap());
    assert_eq!(a.indices(), b.indices());
    let permuted = base.view().permuted_axes([1, 0, 3, 2]);
    let mut mean = Pool2d::new(PoolMode::Mean, 3, 2).unwrap();
    assert_eq!(
        mean.forward(&permuted).unwrap(),
        mean.forward(&permuted.as_standard_layout()).unwrap()
    );
}

#[test]
fn builder_defaults_are_pytorchs() {
    let pool = Pool2d::builder(PoolMode::Mean)
        .size((3, 2))
        .build()
        .unwrap();
    let w = pool.window();
    assert_eq!(
        (w.size, w.stride, w.dilation),
        (Size2d::new(3, 2), Size2d::new(3, 2), Size2d::square(1))
    );
    assert_eq!((w.padding, w.ceil_mode), (Padding::zero(), false));
    assert_eq!(pool.divisor(), MeanDivisor::PaddedWindow);
    let pool = Pool2d::builder(PoolMode::Mean)
        .count_include_pad(false)
        .divisor_override(3)
        .build()
        .unwrap();
    assert_eq!(
        pool.divisor(),
        MeanDivisor::Fixed(NonZeroUsize::new(3).unwrap())
    );
}

#[test]
fn error_zero_parameters() {
    let zero = |b: Pool2dBuilder| b.build().unwrap_err();
    assert_eq!(
        zero(Pool2d::builder(PoolMode::Max).size((0, 2))),
        PoolError::ZeroParameter {
            parameter: "size",
            height: 0,
            width: 2
        }
    );
    assert_eq!(
        zero(Pool2d::builder(PoolMode::Max).stride((2, 0))).to_string(),
        "stride must be at least 1 in each dimension, got 2x0"
    );
    assert_eq!(
        zero(Pool2d::builder(PoolMode::Max).dilation(0)),
        PoolError::ZeroParameter {
            parameter: "dilation",
            height: 0,
            width: 0
        }
    );
    assert_eq!(
        zero(Pool2d::builder(PoolMode::Mean).divisor_override(0)),
        PoolError::ZeroDivisor
    );
    assert_eq!(
        PoolError::ZeroDivisor.to_string(),
        "divisor_override must be at least 1, got 0"
    );
    // the stateless functions validate too
    let bad = Window2d::new(2, 0);
    assert!(matches!(
        max_pool2d(&Array4::<f32>::zeros((1, 1, 4, 4)), &bad),
        Err(PoolError::ZeroParameter {
            parameter: "stride",
            ..
        })
    ));
}

#[test]
fn error_window_too_large() {
    let mut pool = Pool2d::new(PoolMode::Max, 3, 1).unwrap();
    let err = pool
        .forward(&Array4::<f32>::zeros((1, 1, 2, 7)))
        .unwrap_err();
    assert_eq!(
        err,
        PoolError::WindowTooLarge {
            window: (3, 3),
            padded_input: (2, 7)
        }
    );
    assert_eq!(err.to_string(), "window 3x3 does not fit padded input 2x7");
    // dilation widens the window: 2 taps 4 apart span 5 cells
    let dilated = Window2d::new(2, 1).with_dilation((1, 4));
    assert_eq!(
        dilated.output_shape([1, 1, 4, 4]).unwrap_err().to_string(),
        "window 2x5 does not fit padded input 4x4"
    );
    // a failed forward leaves the layer as it was
    assert_eq!(
        pool.backward(&Array4::<f32>::zeros((1, 1, 1, 1))),
        Err(PoolError::BackwardBeforeForward)
    );
}

#[test]
fn error_window_over_padding_only() {
    // PyTorch's out-of-bounds geometry: input 2x7, size 2, stride (1, 3),
    // padding 1, dilation (3, 1): rows -1 and 2 of the only window row are
    // both padding
    let window = Window2d::new(2, (1, 3))
        .with_padding(1)
        .with_dilation((3, 1));
    let err = window.output_shape([1, 1, 2, 7]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "window 0 along the height covers only padding (input 2, padding 1+1, dilation 3)"
    );
    // padding of a whole window at the start
    let err = Window2d::new(2, 2)
        .with_padding(Padding::new(0, 0, 2, 0))
        .output_shape([1, 1, 4, 4]);
    assert!(matches!(
        err,
        Err(PoolError::EmptyWindow {
            axis: "width",
            output_index: 0,
            ..
        })
    ));
    // zero-sized planes hold no real cell at all
    let x = Array4::<f32>::zeros((1, 1, 0, 4));
    let err = mean_pool2d(&x, &Window2d::new(1, 1), MeanDivisor::default());
    assert!(matches!(
        err,
        Err(PoolError::WindowTooLarge {
            padded_input: (0, 4),
            ..
        })
    ));
    let err = mean_pool2d(
        &x,
        &Window2d::new(1, 1).with_padding(1),
        MeanDivisor::default(),
    );
    assert!(matches!(
        err,
        Err(PoolError::EmptyWindow { axis: "height", .. })
    ));
}

#[test]
fn error_backward_before_forward_and_shape_mismatch() {
    let mut pool = Pool2d::new(PoolMode::Mean, 2, 2).unwrap();
    let delta = Array4::<f32>::ones((1, 1, 2, 2));
    let err = pool.backward(&delta).unwrap_err();
    assert_eq!(err, PoolError::BackwardBeforeForward);
    assert_eq!(err.to_string(), "backward called before any forward");
    pool.forward(&Array4::<f32>::ones((1, 1, 6, 4))).unwrap();
    let err = pool.backward(&delta).unwrap_err();
    assert_eq!(
        err,
        PoolError::ShapeMismatch {
            what: "delta",
            expected: [1, 1, 3, 2],
            found: [1, 1, 2, 2]
        }
    );
    assert_eq!(
        err.to_string(),
        "delta has shape [1, 1, 2, 2], expected [1, 1, 3, 2]"
    );
    let window = Window2d::new(2, 2);
    let indices = Array4::<i64>::zeros((1, 1, 2, 1));
    let err = max_pool2d_backward(&delta, &indices, [1, 1, 4, 4], &window).unwrap_err();
    assert!(matches!(
        err,
        PoolError::ShapeMismatch {
            what: "indices",
            ..
        }
    ));
    assert!(mean_pool2d_backward(&delta, [1, 1, 4, 5], &window, MeanDivisor::default()).is_ok());
}

#[test]
fn error_index_out_of_bounds() {
    let window = Window2d::new(2, 2);
    let delta = Array4::<f32>::ones((1, 1, 1, 1));
    for index in [-1, 4] {
        let err =
            max_pool2d_backward(&delta, &array![[[[index]]]], [1, 1, 2, 2], &window).unwrap_err();
        assert_eq!(
            err,
            PoolError::IndexOutOfBounds {
                index,
                plane_len: 4
            }
        );
    }
    assert_eq!(
        PoolError::IndexOutOfBounds {
            index: 16,
            plane_len: 16
        }
        .to_string(),
        "index 16 lies outside its plane of 16 cells"
    );
}

#[test]
fn error_overflow() {
    let huge = Window2d::new(2, 1).with_padding(Padding::new(usize::MAX, 1, 0, 0));
    assert_eq!(
        huge.output_shape([1, 1, 4, 4]),
        Err(PoolError::Overflow {
            what: "padded input extent"
        })
    );
    let wide = Window2d::new((1, usize::MAX), 1).with_dilation(2);
    assert_eq!(
        wide.output_shape([1, 1, 4, 4]),
        Err(PoolError::Overflow {
            what: "dilated window extent"
        })
    );
    let many = Window2d::new(1, 1);
    let err = many.output_shape([usize::MAX, 2, 4, 4]).unwrap_err();
    assert_eq!(err.to_string(), "output element count overflows usize");
}

#[test]
fn public_types_are_clone_debug_send_sync() {
    fn check<T: Clone + std::fmt::Debug + Send + Sync>() {}
    check::<Pool2d>();
    check::<PoolMode>();
    check::<Padding>();
    check::<PoolError>();
    check::<Window2d>();
    check::<MeanDivisor>();
    check::<Pool2dBuilder>();
    let _: &dyn std::error::Error = &PoolError::ZeroDivisor;
}
