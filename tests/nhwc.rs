//! Channels-last pooling is NCHW pooling of the same data, bit for bit:
//! every op, allocating and into a caller's array, over channel counts on
//! both sides of a kernel block, with ties, NaN and signed zeros, and from
//! views that are not in standard layout.

mod common;

use common::geometry;
use ndarray::{Array4, ArrayView4, s};
use ndarray_pooling::{
    MeanDivisor, PoolError, Window2d, max_pool2d, max_pool2d_backward, max_pool2d_nhwc,
    max_pool2d_nhwc_backward, max_pool2d_nhwc_backward_into, max_pool2d_nhwc_into,
    max_pool2d_nhwc_without_indices, max_pool2d_nhwc_without_indices_into, mean_pool2d,
    mean_pool2d_backward, mean_pool2d_nhwc, mean_pool2d_nhwc_backward,
    mean_pool2d_nhwc_backward_into, mean_pool2d_nhwc_into,
};
use proptest::prelude::*;

/// An NHWC image of few distinct inexact values (many ties), some NaN and some
/// negative zero, with channel counts below, at and above the kernels'
/// blocks of 16.
fn image() -> impl Strategy<Value = Array4<f32>> {
    (1usize..3, 1usize..10, 1usize..10, 1usize..41).prop_flat_map(|(n, h, w, c)| {
        proptest::collection::vec(0u8..40, n * h * w * c).prop_map(move |v| {
            let cell = |v: u8| match v {
                0 => f32::NAN,
                1 | 2 => -0.,
                3 | 4 => 0.,
                // thirds: sums in another order round otherwise
                v => (f32::from(v % 9) - 4.) / 3.,
            };
            Array4::from_shape_vec((n, h, w, c), v.into_iter().map(cell).collect()).unwrap()
        })
    })
}

fn to_nchw<T: Clone>(a: ArrayView4<'_, T>) -> Array4<T> {
    a.permuted_axes([0, 3, 1, 2]).to_owned()
}

/// Every NHWC result against NCHW pooling of the same data.
fn check(x: ArrayView4<'_, f32>, window: &Window2d) -> Result<(), TestCaseError> {
    let nchw = to_nchw(x);
    let (n, h, w, c) = x.dim();
    let input_shape = [n, h, w, c];
    let want = match max_pool2d(&nchw, window) {
        Ok(want) => want,
        Err(error) => {
            prop_assert_eq!(max_pool2d_nhwc(&x, window).unwrap_err(), error.clone());
            prop_assert_eq!(
                mean_pool2d_nhwc(&x, window, MeanDivisor::RealCells).unwrap_err(),
                error
            );
            return Ok(());
        }
    };
    let (y, indices) = max_pool2d_nhwc(&x, window).unwrap();
    prop_assert!(common::same(&to_nchw(y.view()), &want.0));
    prop_assert_eq!(to_nchw(indices.view()), want.1.clone());
    let values = max_pool2d_nhwc_without_indices(&x, window).unwrap();
    prop_assert!(common::same(&values, &y));

    // into arrays holding anything, one of them not in standard layout
    let mut out = Array4::from_elem(y.raw_dim(), 7f32);
    let mut out_indices = Array4::from_elem(y.raw_dim(), -3i64);
    max_pool2d_nhwc_into(&x, window, &mut out, &mut out_indices).unwrap();
    prop_assert!(common::same(&out, &y));
    prop_assert_eq!(&out_indices, &indices);
    let mut transposed = Array4::from_elem(to_nchw(y.view()).raw_dim(), 7f32);
    let mut out_t = transposed.view_mut().permuted_axes([0, 2, 3, 1]);
    max_pool2d_nhwc_without_indices_into(&x, window, &mut out_t).unwrap();
    prop_assert!(common::same(&out_t.to_owned(), &y));

    let delta = y.mapv(|v| v + 0.5);
    let want_dx = max_pool2d_backward(&to_nchw(delta.view()), &want.1, nchw.dim().into(), window);
    let dx = max_pool2d_nhwc_backward(&delta, &indices, input_shape).unwrap();
    prop_assert!(common::same(&to_nchw(dx.view()), &want_dx.unwrap()));
    let mut grad = Array4::from_elem(x.raw_dim(), 7f32);
    max_pool2d_nhwc_backward_into(&delta, &indices, &mut grad).unwrap();
    prop_assert!(common::same(&grad, &dx));

    for divisor in [MeanDivisor::PaddedWindow, MeanDivisor::RealCells] {
        let want = mean_pool2d(&nchw, window, divisor).unwrap();
        let mean = mean_pool2d_nhwc(&x, window, divisor).unwrap();
        prop_assert!(common::same(&to_nchw(mean.view()), &want));
        let mut out = Array4::from_elem(mean.raw_dim(), 7f32);
        mean_pool2d_nhwc_into(&x, window, divisor, &mut out).unwrap();
        prop_assert!(common::same(&out, &mean));

        let want = mean_pool2d_backward(&to_nchw(delta.view()), nchw.dim().into(), window, divisor);
        let dmean = mean_pool2d_nhwc_backward(&delta, input_shape, window, divisor).unwrap();
        prop_assert!(common::same(&to_nchw(dmean.view()), &want.unwrap()));
        let mut transposed = Array4::from_elem(nchw.raw_dim(), 7f32);
        let mut grad = transposed.view_mut().permuted_axes([0, 2, 3, 1]);
        mean_pool2d_nhwc_backward_into(&delta, window, divisor, &mut grad).unwrap();
        prop_assert!(common::same(&grad.to_owned(), &dmean));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn nhwc_equals_nchw(x in image(), window in geometry()) {
        check(x.view(), &window)?;
    }

    #[test]
    fn nhwc_views_equal_nchw(x in image(), window in geometry()) {
        // columns in reverse: no image is a contiguous slice
        check(x.slice(s![.., .., ..;-1, ..]), &window)?;
    }
}

/// The shapes of the kernels' edges, with values that differ everywhere:
/// blocks of 1 to 4, 8 and 16 channels exactly, one more and one fewer,
/// the overlapping last blocks of 12 and 40, and the backward's tails of
/// 16 + 8 + 4 and 1, 2 or 3 more.
#[test]
fn block_edges_equal_nchw() {
    let window = Window2d::new(3, 2).with_padding(1);
    for c in [
        1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 28, 29, 30, 31, 32, 40, 64,
    ] {
        let x = Array4::from_shape_fn((2, 9, 11, c), |(n, h, w, ch)| {
            (((n * 131 + ch * 71 + h * 31 + w * 17) % 97) as f32 - 48.) / 7.
        });
        check(x.view(), &window).unwrap();
    }
}

/// Infinities of both signs, and finite values whose sums overflow: the
/// blocks' NaN probes, sums of each lane's values, turn NaN where no value
/// is, and those blocks are taken again exactly.
#[test]
fn infinities_equal_nchw() {
    let values = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        -f32::MAX,
        1.,
        f32::NAN,
    ];
    for c in [3, 8, 16, 40] {
        let x = Array4::from_shape_fn((2, 7, 9, c), |(n, h, w, ch)| {
            values[(n * 5 + ch * 7 + h * 3 + w * 11) % values.len()]
        });
        check(x.view(), &Window2d::new(3, 2).with_padding(1)).unwrap();
        check(x.view(), &Window2d::new(2, 2)).unwrap();
    }
}

/// Other element types through the same blocks: `f64` for every op,
/// `u8` images for max.
#[test]
fn f64_and_u8_equal_nchw() {
    let window = Window2d::new(3, 2).with_padding(1);
    let x = Array4::from_shape_fn((2, 9, 10, 21), |(n, h, w, ch)| {
        (((n * 131 + ch * 71 + h * 31 + w * 17) % 97) as f64 - 48.) / 7.
    });
    let nchw = to_nchw(x.view());
    let (y, indices) = max_pool2d_nhwc(&x, &window).unwrap();
    let (want, want_indices) = max_pool2d(&nchw, &window).unwrap();
    assert_eq!(
        (to_nchw(y.view()), to_nchw(indices.view())),
        (want, want_indices.clone())
    );
    let delta = y.mapv(|v| v / 3.);
    let dx = max_pool2d_nhwc_backward(&delta, &indices, x.dim().into()).unwrap();
    let want = max_pool2d_backward(
        &to_nchw(delta.view()),
        &want_indices,
        nchw.dim().into(),
        &window,
    );
    assert_eq!(to_nchw(dx.view()), want.unwrap());
    for divisor in [MeanDivisor::PaddedWindow, MeanDivisor::RealCells] {
        let mean = mean_pool2d_nhwc(&x, &window, divisor).unwrap();
        assert!(common::same(
            &to_nchw(mean.view()),
            &mean_pool2d(&nchw, &window, divisor).unwrap()
        ));
        let dmean = mean_pool2d_nhwc_backward(&delta, x.dim().into(), &window, divisor).unwrap();
        let want =
            mean_pool2d_backward(&to_nchw(delta.view()), nchw.dim().into(), &window, divisor);
        assert!(common::same(&to_nchw(dmean.view()), &want.unwrap()));
    }
    let image = x.mapv(|v| (v * 7. + 48.) as u8 % 5);
    let (y, indices) = max_pool2d_nhwc(&image, &window).unwrap();
    let (want, want_indices) = max_pool2d(&to_nchw(image.view()), &window).unwrap();
    assert_eq!(
        (to_nchw(y.view()), to_nchw(indices.view())),
        (want, want_indices)
    );
    let values = max_pool2d_nhwc_without_indices(&image, &window).unwrap();
    assert_eq!(values, y);
}

/// No channels, or a batch of none: empty results, no panic.
#[test]
fn empty_arrays() {
    let window = Window2d::new(2, 2);
    for shape in [(1, 4, 4, 0), (0, 4, 4, 3)] {
        let x = Array4::<f32>::zeros(shape);
        check(x.view(), &window).unwrap();
    }
}

#[test]
fn bad_shapes_and_indices_are_errors() {
    let x = Array4::<f32>::zeros((1, 4, 4, 3));
    let window = Window2d::new(2, 2);
    let (y, mut indices) = max_pool2d_nhwc(&x, &window).unwrap();
    let mut wrong = Array4::zeros((1, 2, 2, 4));
    assert_eq!(
        max_pool2d_nhwc_without_indices_into(&x, &window, &mut wrong),
        Err(PoolError::ShapeMismatch {
            what: "output",
            expected: [1, 2, 2, 3],
            found: [1, 2, 2, 4],
        })
    );
    let mut wrong_indices = Array4::zeros((1, 2, 3, 3));
    let mut out = y.clone();
    assert_eq!(
        max_pool2d_nhwc_into(&x, &window, &mut out, &mut wrong_indices),
        Err(PoolError::ShapeMismatch {
            what: "indices",
            expected: [1, 2, 2, 3],
            found: [1, 2, 3, 3],
        })
    );
    let mut grad = Array4::from_elem((1, 4, 4, 3), 5f32);
    indices[[0, 1, 0, 2]] = 16;
    assert_eq!(
        max_pool2d_nhwc_backward_into(&y, &indices, &mut grad),
        Err(PoolError::IndexOutOfBounds {
            index: 16,
            plane_len: 16,
        })
    );
    indices[[0, 1, 0, 1]] = -1;
    assert_eq!(
        max_pool2d_nhwc_backward(&y, &indices, [1, 4, 4, 3]),
        Err(PoolError::IndexOutOfBounds {
            index: -1,
            plane_len: 16,
        })
    );
    for extreme in [i64::MIN, i64::MAX] {
        indices[[0, 1, 0, 1]] = extreme;
        assert_eq!(
            max_pool2d_nhwc_backward(&y, &indices, [1, 4, 4, 3]),
            Err(PoolError::IndexOutOfBounds {
                index: extreme,
                plane_len: 16,
            })
        );
    }
    // the first offending index in standard order, whatever the threads
    let big = Array4::<f32>::zeros((3, 64, 64, 16));
    let (big_y, mut big_indices) = max_pool2d_nhwc(&big, &window).unwrap();
    big_indices[[2, 0, 0, 0]] = 1 << 40;
    big_indices[[1, 5, 3, 7]] = -8;
    big_indices[[1, 9, 0, 0]] = 4096;
    assert_eq!(
        max_pool2d_nhwc_backward(&big_y, &big_indices, [3, 64, 64, 16]),
        Err(PoolError::IndexOutOfBounds {
            index: -8,
            plane_len: 4096,
        })
    );
    let mut wrong_grad = Array4::zeros((1, 6, 4, 3));
    assert_eq!(
        mean_pool2d_nhwc_backward_into(&y, &window, MeanDivisor::default(), &mut wrong_grad),
        Err(PoolError::ShapeMismatch {
            what: "delta",
            expected: [1, 3, 2, 3],
            found: [1, 2, 2, 3],
        })
    );
}
