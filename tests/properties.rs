//! The crate against the naive reference over random shapes, geometry,
//! element types and layouts.

mod common;

use std::num::NonZeroUsize;
use std::ops::Range;

use ndarray::ShapeBuilder;
use ndarray::{Array4, ArrayRef, ArrayView4, Ix4, s};
use ndarray_pooling::{
    Argmax, MeanDivisor, MeanElement, Padding, PoolElement, PoolError, Window2d, max_pool2d,
    max_pool2d_argmax, max_pool2d_backward, max_pool2d_backward_argmax,
    max_pool2d_backward_argmax_into, max_pool2d_into, max_pool2d_without_indices, mean_pool2d,
    mean_pool2d_backward, mean_pool2d_backward_into, mean_pool2d_into, min_pool2d, min_pool2d_into,
    min_pool2d_without_indices,
};
use num_traits::Float;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    shape: [usize; 4],
    window: Window2d,
    divisor: MeanDivisor,
    /// 0: standard layout; 1: every other column of a wider array;
    /// 2: axes permuted from an NHWC array.
    layout: usize,
    /// Seeds the input's values; multiples of 0.25 from a small range, so
    /// ties are common; some are NaN or infinite.
    values: Vec<i8>,
    special: bool,
    deltas: Vec<i8>,
}

fn geometry() -> impl Strategy<Value = (Window2d, MeanDivisor)> {
    (
        (1usize..5, 1usize..5),
        (1usize..4, 1usize..4),
        (0usize..3, 0usize..3, 0usize..3, 0usize..3),
        (dilation(), dilation()),
        any::<bool>(),
        0usize..4,
    )
        .prop_map(|(size, stride, (t, b, l, r), dilation, ceil, divisor)| {
            let window = Window2d::new(size, stride)
                .with_padding(Padding::new(t, b, l, r))
                .with_dilation(dilation)
                .with_ceil_mode(ceil);
            let divisor = match divisor {
                0 => MeanDivisor::PaddedWindow,
                1 => MeanDivisor::RealCells,
                d => MeanDivisor::Fixed(NonZeroUsize::new(d + 1).unwrap()),
            };
            (window, divisor)
        })
}

/// A case of `shape` and `window`: random input values, and `deltas`
/// random deltas (repeated as the output needs).
fn filled(
    shape: [usize; 4],
    (window, divisor): (Window2d, MeanDivisor),
    layout: usize,
    special: bool,
    deltas: usize,
) -> impl Strategy<Value = Case> {
    let len: usize = shape.iter().product();
    (
        proptest::collection::vec(any::<i8>(), len),
        proptest::collection::vec(any::<i8>(), deltas),
    )
        .prop_map(move |(values, deltas)| Case {
            shape,
            window,
            divisor,
            layout,
            values,
            special,
            deltas,
        })
}

/// Rows thousands of cells wide, which the kernels take a few output rows
/// (or one) at a time, with odd and even widths, dilated rows and padding.
fn wide_case() -> impl Strategy<Value = Case> {
    (
        (3usize..7, 1800usize..5000),
        (1usize..4, 1usize..3, 1usize..3),
        (0usize..2, 0usize..2),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(
            |((h, w), (size_h, stride, dilation_h), (ph, pw), ceil, special)| {
                let window = Window2d::new((size_h, 3), stride)
                    .with_padding((ph.min(size_h / 2), pw))
                    .with_dilation((dilation_h, 1))
                    .with_ceil_mode(ceil);
                let geometry = (window, MeanDivisor::PaddedWindow);
                filled([1, 1, h, w], geometry, 0, special, 16)
            },
        )
}

/// 2x2/stride-2 windows over rows 56 to 160 cells wide: full windows in a
/// row number 27 to 80, on both sides of the length from which the kernels
/// take their AVX-512 copies (where the CPU has it).
fn long_pairs_case() -> impl Strategy<Value = Case> {
    (
        (1usize..3, 1usize..3, 2usize..7, 56usize..160),
        (0usize..2, 0usize..2),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
    )
        .prop_flat_map(|((n, c, h, w), (ph, pw), ceil, special, layout)| {
            let window = Window2d::new(2, 2)
                .with_padding((ph, pw))
                .with_ceil_mode(ceil);
            let geometry = (window, MeanDivisor::PaddedWindow);
            filled([n, c, h, w], geometry, layout, special, n * c * h * w)
        })
}

/// Windows three columns wide at stride 1 or 2 over rows 12 to 180 cells
/// wide: full windows in a row number about 5 to 90, so that the mean
/// kernel's blocks of sixteen windows (on AVX-512) meet rows shorter than a
/// block, rows ending inside a block and the input's last rows; divisors
/// include powers of two, which the kernels multiply by. Windows one to
/// five rows tall, dilated up to 3 rows, with padding above and below
/// apart and ceil mode, so that neighbouring output rows of three real
/// rows reach different lengths into the padding (and past it), as the
/// band of such rows must divide each by its own.
fn long_triples_case() -> impl Strategy<Value = Case> {
    (
        (1usize..3, 1usize..3, 3usize..14, 12usize..180),
        (1usize..6, 1usize..3, 1usize..4),
        (0usize..3, 0usize..3, 0usize..2),
        any::<bool>(),
        any::<bool>(),
        (0usize..3, 0usize..4),
    )
        .prop_flat_map(
            |(
                (n, c, h, w),
                (size_h, stride, dilation),
                (top, bottom, pw),
                ceil,
                special,
                (layout, divisor),
            )| {
                let half = size_h / 2;
                let window = Window2d::new((size_h, 3), (2, stride))
                    .with_padding(Padding::new(top.min(half), bottom.min(half), pw, pw))
                    .with_dilation((dilation, 1))
                    .with_ceil_mode(ceil);
                let divisor = match divisor {
                    0 => MeanDivisor::PaddedWindow,
                    1 => MeanDivisor::RealCells,
                    2 => MeanDivisor::Fixed(NonZeroUsize::new(4).unwrap()),
                    _ => MeanDivisor::Fixed(NonZeroUsize::new(1 << 20).unwrap()),
                };
                filled(
                    [n, c, h, w],
                    (window, divisor),
                    layout,
                    special,
                    n * c * h * w,
                )
            },
        )
}

/// Any window up to 7x7 over rows 40 to 200 cells wide and up to 14 tall:
/// the separable max kernels and the gathering mean backward on rows long
/// enough for their AVX-512 copies, with and without whole-row runs (widths
/// that are and are not multiples of the stride), windows up to three rows
/// tall and taller (cells reached by up to seven output rows), dilation on
/// either axis, padding and ceil mode.
fn long_separable_case() -> impl Strategy<Value = Case> {
    (
        (1usize..3, 1usize..3, 4usize..15, 40usize..200),
        ((1usize..8, 1usize..8), (1usize..4, 1usize..4)),
        (1usize..3, 1usize..4),
        (0usize..3, 0usize..3),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
    )
        .prop_flat_map(
            |((n, c, h, w), (size, stride), dilation, (ph, pw), ceil, special, layout)| {
                let window = Window2d::new(size, stride)
                    .with_padding((ph.min(size.0 / 2), pw.min(size.1 / 2)))
                    .with_dilation(dilation)
                    .with_ceil_mode(ceil);
                let geometry = (window, MeanDivisor::PaddedWindow);
                filled([n, c, h, w], geometry, layout, special, n * c * h * w)
            },
        )
}

/// Windows of `sizes` adjacent cells on either axis at stride 1, padded up
/// to half the window, over `heights` rows of `widths` cells.
///
/// Sizes 2 to 12 on rows 40 to 200 wide: the separable max reduces them by
/// doubling (runs of 2, 4 and 8 cells or rows, then two runs that overlap
/// unless the size is a power of two), and the output rows clipped by
/// padding above and below take the row-by-row combine. Sizes up to 3 on
/// rows 34 to 200 wide: runs of cells under full windows only on both sides
/// of 32 and 64 cells, where the max backward gathers each gradient row in
/// blocks, with the cells under clipped windows beside them.
fn stride_one_case(
    sizes: Range<usize>,
    heights: Range<usize>,
    widths: Range<usize>,
) -> impl Strategy<Value = Case> {
    (
        (1usize..3, 1usize..3, heights, widths),
        (sizes.clone(), sizes),
        (0usize..7, 0usize..7),
        any::<bool>(),
        0usize..3,
    )
        .prop_flat_map(
            |((n, c, h, w), (size_h, size_w), (ph, pw), special, layout)| {
                let window = Window2d::new((size_h, size_w), 1)
                    .with_padding((ph.min(size_h / 2), pw.min(size_w / 2)));
                let geometry = (window, MeanDivisor::PaddedWindow);
                filled([n, c, h, w], geometry, layout, special, n * c * h * w)
            },
        )
}

/// The max backward of `case` with deltas of any bits, `bits` repeated as
/// the output needs, against the reference's sum in window order.
fn check_backward_bits<T: Float + PoolElement + std::fmt::Debug>(
    case: &Case,
    delta_of: impl Fn(u32) -> T,
    bits: &[u32],
) -> Result<(), TestCaseError> {
    let x = input::<T>(case);
    let (y, idx) = max_pool2d(&x, &case.window).unwrap();
    let mut out = Array4::zeros(y.raw_dim());
    let mut argmax = Argmax::default();
    max_pool2d_into(&x, &case.window, &mut out, &mut argmax).unwrap();
    let values = (0..y.len()).map(|i| delta_of(bits[i % bits.len()]));
    let delta = Array4::from_shape_vec(y.raw_dim(), values.collect()).unwrap();
    let want = common::max_backward(delta.view(), idx.view(), case.shape);
    check_compact_backward(&delta, &argmax, case.shape, &want)
}

/// The max backward from compact argmax storage, allocating and into a
/// caller's array (filled with NaN first), against `want`.
fn check_compact_backward<T: Float + Send + Sync + std::fmt::Debug>(
    delta: &Array4<T>,
    argmax: &Argmax,
    shape: [usize; 4],
    want: &Array4<T>,
) -> Result<(), TestCaseError> {
    let dx = max_pool2d_backward_argmax(delta, argmax).unwrap();
    prop_assert!(common::same(want, &dx), "compact backward {dx:?}");
    let mut grad = Array4::from_elem(shape, T::nan());
    max_pool2d_backward_argmax_into(delta, argmax, &mut grad).unwrap();
    prop_assert!(common::same(want, &grad), "backward into {grad:?}");
    Ok(())
}

/// Windows one to three rows tall and up to 300 columns wide over rows up
/// to 320 wide: window cell counts on both sides of 256, where the argmax
/// offsets widen from one byte to two, and column counts on both sides of
/// 256, where the separable kernels hand over to the row loop.
fn wide_window_case() -> impl Strategy<Value = Case> {
    (
        (1usize..3, 2usize..6, 1usize..4),
        (60usize..300, 1usize..3),
        (0usize..30, 0usize..2),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(
            |((c, h, size_h), (size_w, stride), (extra, pw), ceil, special)| {
                let w = size_w + extra;
                let window = Window2d::new((size_h.min(h), size_w), (1, stride))
                    .with_padding((0, pw))
                    .with_ceil_mode(ceil);
                let geometry = (window, MeanDivisor::PaddedWindow);
                filled([1, c, h, w], geometry, 0, special, c * h * w)
            },
        )
}

/// The geometries the kernels specialize (2x2 and 3x3, stride 1 and 2,
/// padding 0 or 1), on widths around their edges, so that every fast path
/// meets odd widths, last rows, padding and ceil mode.
fn fast_case() -> impl Strategy<Value = Case> {
    (
        (1usize..3, 1usize..3, 2usize..12, 2usize..12),
        (2usize..4, 2usize..4),
        (1usize..3, 1usize..3),
        (0usize..2, 0usize..2),
        (any::<bool>(), 0usize..3),
        0usize..3,
        any::<bool>(),
    )
        .prop_flat_map(
            |((n, c, h, w), size, stride, (ph, pw), (ceil, divisor), layout, special)| {
                let window = Window2d::new(size, stride)
                    .with_padding((ph, pw))
                    .with_ceil_mode(ceil);
                let divisor = match divisor {
                    0 => MeanDivisor::PaddedWindow,
                    1 => MeanDivisor::RealCells,
                    _ => MeanDivisor::Fixed(NonZeroUsize::new(3).unwrap()),
                };
                filled(
                    [n, c, h, w],
                    (window, divisor),
                    layout,
                    special,
                    n * c * h * w * 4,
                )
            },
        )
}

fn dilation() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(1usize), 1 => 2usize..4]
}

/// Batch and channel counts, zero now and then.
fn count() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 8 => 1usize..4]
}

fn case() -> impl Strategy<Value = Case> {
    (
        (count(), count(), 1usize..14, 1usize..14),
        geometry(),
        0usize..3,
        any::<bool>(),
    )
        .prop_flat_map(|((n, c, h, w), geometry, layout, special)| {
            filled([n, c, h, w], geometry, layout, special, n * c * h * w * 4)
        })
}

fn value<T: Float>(seed: i8, special: bool) -> T {
    match seed {
        120.. if special => T::nan(),
        110..120 if special => T::infinity(),
        100..110 if special => T::neg_infinity(),
        _ if seed < 0 && seed % 12 == 0 => -T::zero(),
        _ => T::from(seed % 12).unwrap() / T::from(4).unwrap(),
    }
}

/// The input of `case` laid out as the case asks; always the same values.
fn input<T: Float>(case: &Case) -> Array4<T> {
    let [n, c, h, w] = case.shape;
    let values: Vec<T> = case
        .values
        .iter()
        .map(|&v| value(v, case.special))
        .collect();
    Array4::from_shape_vec((n, c, h, w), values).unwrap()
}

fn with_layout<T: Float>(x: &Array4<T>, layout: usize, f: impl FnOnce(ArrayView4<T>)) {
    let (n, c, h, w) = x.dim();
    match layout {
        0 => f(x.view()),
        1 => {
            let mut wide = Array4::from_elem((n, c, h, 2 * w), T::nan());
            wide.slice_mut(s![.., .., .., ..;2]).assign(x);
            f(wide.slice(s![.., .., .., ..;2]))
        }
        _ => {
            let mut nhwc = Array4::zeros((n, h, w, c));
            nhwc.view_mut().permuted_axes([0, 3, 1, 2]).assign(x);
            f(nhwc.view().permuted_axes([0, 3, 1, 2]))
        }
    }
}

fn deltas<T: Float>(case: &Case, shape: &[usize]) -> Array4<T> {
    let len: usize = shape.iter().product();
    let values = (0..len).map(|i| value(case.deltas[i % case.deltas.len().max(1)], false));
    Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), values.collect()).unwrap()
}

type Forward<T> = fn(&ArrayRef<T, Ix4>, &Window2d) -> Result<(Array4<T>, Array4<i64>), PoolError>;
type Values<T> = fn(&ArrayRef<T, Ix4>, &Window2d) -> Result<Array4<T>, PoolError>;
type Into<T> =
    fn(&ArrayRef<T, Ix4>, &Window2d, &mut ArrayRef<T, Ix4>, &mut Argmax) -> Result<(), PoolError>;

fn is_geometry_error(e: &PoolError) -> bool {
    matches!(
        e,
        PoolError::WindowTooLarge { .. } | PoolError::EmptyWindow { .. }
    )
}

fn check_max<T: Float + PoolElement + std::fmt::Debug>(case: &Case) -> Result<(), TestCaseError> {
    check_extreme::<T>(case, false)
}

fn check_min<T: Float + PoolElement + std::fmt::Debug>(case: &Case) -> Result<(), TestCaseError> {
    check_extreme::<T>(case, true)
}

/// Max (or min) pooling, every path to it, against the reference.
fn check_extreme<T: Float + PoolElement + std::fmt::Debug>(
    case: &Case,
    smallest: bool,
) -> Result<(), TestCaseError> {
    let x = input::<T>(case);
    let expected = common::extreme_forward(x.view(), &case.window, smallest);
    let (forward, values, into): (Forward<T>, Values<T>, Into<T>) = if smallest {
        (min_pool2d, min_pool2d_without_indices, min_pool2d_into)
    } else {
        (max_pool2d, max_pool2d_without_indices, max_pool2d_into)
    };
    let mut result = Ok(());
    with_layout(&x, case.layout, |view| {
        result = (|| {
            let got = forward(&view, &case.window);
            match (&expected, got) {
                (None, Err(e)) => prop_assert!(is_geometry_error(&e), "{e}"),
                (None, Ok(_)) => prop_assert!(false, "accepted a geometry the reference rejects"),
                (Some(_), Err(e)) => prop_assert!(false, "rejected a valid geometry: {e}"),
                (Some((y, idx)), Ok((got_y, got_idx))) => {
                    prop_assert!(common::same(y, &got_y), "forward {y:?} vs {got_y:?}");
                    prop_assert_eq!(idx, &got_idx);
                    let delta = deltas::<T>(case, got_y.shape());
                    let dx = max_pool2d_backward(&delta, &got_idx, case.shape, &case.window)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let want = common::max_backward(delta.view(), idx.view(), case.shape);
                    prop_assert!(common::same(&want, &dx), "backward {want:?} vs {dx:?}");

                    // every other path to the same numbers
                    let values = values(&view, &case.window).unwrap();
                    prop_assert!(common::same(y, &values), "without indices {values:?}");
                    let mut out = Array4::from_elem(got_y.raw_dim().f(), T::nan());
                    let mut argmax = Argmax::default();
                    into(&view, &case.window, &mut out, &mut argmax).unwrap();
                    prop_assert!(common::same(y, &out));
                    prop_assert_eq!(idx, &argmax.to_indices());
                    check_compact_backward(&delta, &argmax, case.shape, &want)?;
                }
            }
            Ok(())
        })();
    });
    result
}

fn check_mean<T: MeanElement + PoolElement + std::fmt::Debug>(
    case: &Case,
) -> Result<(), TestCaseError> {
    let x = input::<T>(case);
    let expected = common::mean_forward(x.view(), &case.window, case.divisor);
    let mut result = Ok(());
    with_layout(&x, case.layout, |view| {
        result = (|| {
            let got = mean_pool2d(&view, &case.window, case.divisor);
            match (&expected, got) {
                (None, Err(e)) => prop_assert!(is_geometry_error(&e), "{e}"),
                (None, Ok(_)) => prop_assert!(false, "accepted a geometry the reference rejects"),
                (Some(_), Err(e)) => prop_assert!(false, "rejected a valid geometry: {e}"),
                (Some(y), Ok(got_y)) => {
                    prop_assert!(common::same(y, &got_y), "forward {y:?} vs {got_y:?}");
                    let delta = deltas::<T>(case, got_y.shape());
                    let dx = mean_pool2d_backward(&delta, case.shape, &case.window, case.divisor)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let want =
                        common::mean_backward(delta.view(), case.shape, &case.window, case.divisor);
                    prop_assert!(common::same(&want, &dx), "backward {want:?} vs {dx:?}");

                    let mut out = Array4::from_elem(got_y.raw_dim().f(), T::nan());
                    mean_pool2d_into(&view, &case.window, case.divisor, &mut out).unwrap();
                    prop_assert!(common::same(y, &out), "into {out:?}");
                    let mut grad = Array4::from_elem(case.shape, T::nan());
                    mean_pool2d_backward_into(&delta, &case.window, case.divisor, &mut grad)
                        .unwrap();
                    prop_assert!(common::same(&want, &grad), "backward into {grad:?}");
                }
            }
            Ok(())
        })();
    });
    result
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn max_matches_reference_f32(case in case()) {
        check_max::<f32>(&case)?;
    }

    #[test]
    fn max_matches_reference_f64(case in case()) {
        check_max::<f64>(&case)?;
    }

    #[test]
    fn min_matches_reference_f32(case in case()) {
        check_min::<f32>(&case)?;
    }

    #[test]
    fn min_matches_reference_f64(case in case()) {
        check_min::<f64>(&case)?;
    }

    #[test]
    fn mean_matches_reference_f32(case in case()) {
        check_mean::<f32>(&case)?;
    }

    #[test]
    fn mean_matches_reference_f64(case in case()) {
        check_mean::<f64>(&case)?;
    }

    #[test]
    fn fast_paths_match_reference(case in fast_case()) {
        check_max::<f32>(&case)?;
        check_min::<f32>(&case)?;
        check_mean::<f32>(&case)?;
        check_max::<f64>(&case)?;
        check_mean::<f64>(&case)?;
    }

    #[test]
    fn output_shape_matches_forward(case in case()) {
        let x = input::<f32>(&case);
        match (case.window.output_shape(case.shape), mean_pool2d(&x, &case.window, case.divisor)) {
            (Ok(shape), Ok(y)) => prop_assert_eq!(&shape[..], y.shape()),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "output_shape {a:?} but forward {:?}", b.map(|y| y.dim())),
        }
    }
}

/// Distinct values, so that every window has one strict maximum and a small
/// step never changes the argmax.
fn distinct(case: &Case) -> Array4<f64> {
    let [n, c, h, w] = case.shape;
    let len = n * c * h * w;
    let mut order: Vec<usize> = (0..len).collect();
    for (i, &seed) in case.values.iter().enumerate() {
        order.swap(i, (seed as u8 as usize * 31 + i * 7) % len.max(1));
    }
    Array4::from_shape_vec(
        (n, c, h, w),
        order.iter().map(|&v| v as f64 * 0.5 - 10.).collect(),
    )
    .unwrap()
}

fn dot(a: &Array4<f64>, b: &Array4<f64>) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn max_backward_conserves_the_sum_of_deltas(case in case()) {
        let x = input::<f64>(&case);
        if let Ok((y, idx)) = max_pool2d(&x, &case.window) {
            let delta = deltas::<f64>(&case, y.shape());
            let dx = max_pool2d_backward(&delta, &idx, case.shape, &case.window).unwrap();
            // quarters add exactly in f64
            prop_assert_eq!(dx.sum(), delta.sum());
        }
    }

    #[test]
    fn every_index_points_at_its_output(case in case()) {
        let x = input::<f32>(&case);
        if let Ok((y, idx)) = max_pool2d(&x, &case.window) {
            let w = case.shape[3];
            for ((n, c, i, j), &k) in idx.indexed_iter() {
                let v = x[[n, c, k as usize / w, k as usize % w]];
                let out = y[[n, c, i, j]];
                prop_assert!(v == out || (v.is_nan() && out.is_nan()), "{v} vs {out}");
            }
        }
    }

    #[test]
    fn mean_forward_and_backward_are_adjoint(case in case()) {
        let x = distinct(&case);
        if let Ok(y) = mean_pool2d(&x, &case.window, case.divisor) {
            let g = deltas::<f64>(&case, y.shape());
            let dx = mean_pool2d_backward(&g, case.shape, &case.window, case.divisor).unwrap();
            let (lhs, rhs) = (dot(&y, &g), dot(&x, &dx));
            prop_assert!((lhs - rhs).abs() <= 1e-9 * (1. + lhs.abs()), "{lhs} vs {rhs}");
        }
    }

    #[test]
    fn gradients_match_finite_differences(case in case(), max in any::<bool>()) {
        let x = distinct(&case);
        let forward = |x: &Array4<f64>| {
            if max {
                max_pool2d(x, &case.window).map(|(y, _)| y)
            } else {
                mean_pool2d(x, &case.window, case.divisor)
            }
        };
        if let Ok(y) = forward(&x) {
            let g = deltas::<f64>(&case, y.shape());
            let dx = if max {
                let (_, idx) = max_pool2d(&x, &case.window).unwrap();
                max_pool2d_backward(&g, &idx, case.shape, &case.window).unwrap()
            } else {
                mean_pool2d_backward(&g, case.shape, &case.window, case.divisor).unwrap()
            };
            let loss = |x: &Array4<f64>| dot(&forward(x).unwrap(), &g);
            let step = 1e-3;
            for (cell, &analytic) in dx.indexed_iter() {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[cell] += step;
                down[cell] -= step;
                let numeric = (loss(&up) - loss(&down)) / (2. * step);
                prop_assert!((numeric - analytic).abs() < 1e-6, "{cell:?}: {numeric} vs {analytic}");
            }
        }
    }
}

proptest! {
    // each case is a few thousand cells; geometries the reference rejects
    // end early
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn triples_mean_matches_reference_on_long_rows(case in long_triples_case()) {
        check_mean::<f32>(&case)?;
        check_mean::<f64>(&case)?;
    }
}

proptest! {
    // each case is some ten thousand cells
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fast_paths_match_reference_on_wide_rows(case in wide_case()) {
        check_max::<f32>(&case)?;
        check_min::<f64>(&case)?;
        check_mean::<f32>(&case)?;
    }

    #[test]
    fn wide_windows_match_reference(case in wide_window_case()) {
        check_max::<f32>(&case)?;
        check_min::<f64>(&case)?;
    }

    #[test]
    fn pairs_match_reference_on_long_rows(case in long_pairs_case()) {
        check_max::<f32>(&case)?;
        check_min::<f32>(&case)?;
        check_max::<f64>(&case)?;
        check_mean::<f32>(&case)?;
    }
}

/// Mean over `bits` read as floats, against the reference, with and without
/// `_into`.
fn check_mean_bits<T: MeanElement + PoolElement + std::fmt::Debug>(
    x: Array4<T>,
    window: &Window2d,
    divisor: MeanDivisor,
) -> Result<(), TestCaseError> {
    let expected = common::mean_forward(x.view(), window, divisor).unwrap();
    let got = mean_pool2d(&x, window, divisor).unwrap();
    prop_assert!(common::same(&expected, &got), "{expected:?} vs {got:?}");
    let mut out = Array4::from_elem(got.raw_dim(), T::nan());
    mean_pool2d_into(&x, window, divisor, &mut out).unwrap();
    prop_assert!(common::same(&expected, &out), "into {out:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Divisors that are powers of two are taken by multiplying with their
    /// reciprocal: over any bits (subnormal sums, huge sums, NaN and
    /// infinity), the result is still the bits of dividing.
    #[test]
    fn mean_by_powers_of_two_matches_division_on_any_bits(
        (h, w) in (2usize..7, 40usize..140),
        bits in proptest::collection::vec(any::<u64>(), 7 * 140),
        three in any::<bool>(),
        shift in 0u32..40,
    ) {
        let window = if three {
            Window2d::new(3, 2).with_padding(1)
        } else {
            Window2d::new(2, 2)
        };
        for divisor in [MeanDivisor::PaddedWindow, MeanDivisor::Fixed(NonZeroUsize::new(1 << shift).unwrap())] {
            let singles = bits.iter().map(|&b| f32::from_bits(b as u32));
            let x = Array4::from_shape_vec((1, 1, h, w), singles.take(h * w).collect()).unwrap();
            check_mean_bits(x, &window, divisor)?;
            let doubles = bits.iter().map(|&b| f64::from_bits(b));
            let x = Array4::from_shape_vec((1, 1, h, w), doubles.take(h * w).collect()).unwrap();
            check_mean_bits(x, &window, divisor)?;
        }
    }
}

proptest! {
    // strides of 3 split rows whose length leaves two cells or more past
    // the last whole stride in a few cases only: enough of them to reach
    // every phase's last cell
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_window_matches_reference_on_long_rows(case in long_separable_case()) {
        check_max::<f32>(&case)?;
        check_min::<f32>(&case)?;
        check_max::<f64>(&case)?;
        check_mean::<f32>(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn gathered_max_backward_sums_in_window_order(
        case in stride_one_case(1..4, 3..20, 34..200),
        bits in proptest::collection::vec(any::<u32>(), 1..64),
    ) {
        check_extreme::<f32>(&case, false)?;
        check_backward_bits::<f32>(&case, f32::from_bits, &bits)?;
        check_backward_bits::<f64>(&case, |b| f64::from_bits(u64::from(b) << 32 | u64::from(b)), &bits)?;
    }

    #[test]
    fn stride_one_windows_match_reference(case in stride_one_case(2..13, 4..25, 40..200)) {
        check_max::<f32>(&case)?;
        check_min::<f32>(&case)?;
        check_max::<f64>(&case)?;
    }
}

/// Windows of more than 4096 cells, whose offsets' distances are computed
/// rather than looked up, and of 257 to 4096, whose offsets take two bytes:
/// the indices and the compact argmax's indices as the reference's.
#[test]
fn large_windows_index_like_the_reference() {
    for (size, dilation, padding) in [((70, 70), 1, 0), ((17, 20), 2, 3), ((65, 3), 1, 1)] {
        let window = Window2d::new(size, 3)
            .with_dilation(dilation)
            .with_padding(padding);
        let x = Array4::from_shape_fn((2, 2, 150, 160), |(n, c, h, w)| {
            ((n * 131 + c * 71 + h * 31 + w * 17) % 997) as f64
        });
        let (y, indices) = common::max_forward(x.view(), &window).unwrap();
        let (got_y, got_indices) = max_pool2d(&x, &window).unwrap();
        assert!(common::same(&y, &got_y));
        assert_eq!(indices, got_indices);
        let mut out = Array4::zeros(y.raw_dim());
        let mut argmax = Argmax::default();
        max_pool2d_into(&x, &window, &mut out, &mut argmax).unwrap();
        assert_eq!(indices, argmax.to_indices());
    }
}

/// Windows three columns wide at stride 2 over rows of 8 to 80 windows (the
/// max backward's pairs of cells, in blocks of sixteen, and the rows
/// shorter than a block), 1 to 3 rows tall at row stride 1 to 3, with
/// padding and ceil mode: an input whose peaks each win every window that
/// holds them (up to four, of two output rows), and deltas of many bits,
/// so that only the reference's order of adds gives the reference's sums.
fn shared_winners_case() -> impl Strategy<Value = (Array4<f32>, Window2d, Array4<f32>)> {
    (
        (1usize..3, 3usize..12, 16usize..162),
        (1usize..4, 1usize..4, 0usize..2, 0usize..2, any::<bool>()),
        (0usize..4, 0usize..4, any::<u64>()),
    )
        .prop_filter_map(
            "a window the reference rejects",
            |((c, h, w), (height, stride, ph, pw, ceil), (row_phase, col_phase, seed))| {
                let window = Window2d::new((height, 3), (stride, 2))
                    .with_padding((ph.min(height / 2), pw))
                    .with_ceil_mode(ceil);
                // peaks at every fourth row and column, lower around them
                let x = Array4::from_shape_fn((1, c, h, w), |(_, k, i, j)| {
                    let peak = (i + row_phase) % 4 == 0 && (j + col_phase) % 4 == 0;
                    let noise = ((k * 31 + i * 17 + j * 7) % 5) as f32;
                    if peak { 100.0 + noise } else { noise }
                });
                let (oh, ow) = common::out_size(h, w, &window)?;
                let mut state = seed | 1;
                let delta = Array4::from_shape_fn((1, c, oh, ow), |_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 40) as f32 / (1u64 << 24) as f32 * 3.0 - 1.0
                });
                Some((x, window, delta))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn max_backward_adds_shared_winners_in_window_order(
        (x, window, delta) in shared_winners_case()
    ) {
        let (_, indices) = common::max_forward(x.view(), &window).unwrap();
        let (n, c, h, w) = x.dim();
        let expected = common::max_backward(delta.view(), indices.view(), [n, c, h, w]);
        let (_, argmax) = max_pool2d_argmax(&x, &window).unwrap();
        let got = max_pool2d_backward_argmax(&delta, &argmax).unwrap();
        prop_assert!(common::same(&expected, &got), "{expected:?} vs {got:?}");
        let mut into = Array4::from_elem(x.raw_dim(), f32::NAN);
        max_pool2d_backward_argmax_into(&delta, &argmax, &mut into).unwrap();
        prop_assert!(common::same(&expected, &into), "into {into:?}");
    }
}
