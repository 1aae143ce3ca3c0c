//! The crate against PyTorch's `max_pool2d` / `avg_pool2d` on the fixtures
//! that `tests/fixtures/generate_pytorch.py` wrote.

mod common;

use common::fixtures::Case;

use approx::assert_relative_eq;
use ndarray::Array4;
use ndarray_pooling::{
    AdaptivePool2d, MeanElement, PoolElement, PoolError, PoolMode, adaptive_max_pool2d,
    adaptive_max_pool2d_backward, adaptive_mean_pool2d, adaptive_mean_pool2d_backward, lp_pool2d,
    lp_pool2d_backward, max_pool2d, max_pool2d_backward, mean_pool2d, mean_pool2d_backward,
    min_pool2d,
};
use num_traits::Float;

const FIXTURES: &str = include_str!("fixtures/pytorch.txt");

fn same<T: Float>(a: &Array4<T>, b: &Array4<T>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| x == y || (x.is_nan() && y.is_nan()))
}

fn check_max<T: Float + PoolElement + std::fmt::Debug>(case: &Case) {
    let input = case.shape("input");
    let output = case.shape("output");
    let window = case.window();
    let x = case.array::<T>("x", input);
    let pool = if case.word("mode") == "min" {
        min_pool2d
    } else {
        max_pool2d
    };
    let (y, indices) = pool(&x, &window).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    assert!(
        same(&y, &case.array("y", output)),
        "{}: forward {y:?}",
        case.name
    );
    assert_eq!(indices, case.indices(output), "{}: indices", case.name);
    let delta = case.array::<T>("delta", output);
    let dx = max_pool2d_backward(&delta, &indices, input, &window).unwrap();
    assert!(
        same(&dx, &case.array("dx", input)),
        "{}: backward {dx:?}",
        case.name
    );
}

fn check_mean<T: MeanElement + PoolElement + std::fmt::Debug + approx::RelativeEq<Epsilon = T>>(
    case: &Case,
    epsilon: T,
) {
    let input = case.shape("input");
    let output = case.shape("output");
    let window = case.window();
    let x = case.array::<T>("x", input);
    let y =
        mean_pool2d(&x, &window, case.divisor()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let want = case.array::<T>("y", output);
    assert_eq!(y.shape(), want.shape(), "{}", case.name);
    for (a, b) in y.iter().zip(&want) {
        assert_relative_eq!(*a, *b, epsilon = epsilon, max_relative = epsilon);
    }
    let delta = case.array::<T>("delta", output);
    let dx = mean_pool2d_backward(&delta, input, &window, case.divisor()).unwrap();
    for (a, b) in dx.iter().zip(&case.array::<T>("dx", input)) {
        assert_relative_eq!(*a, *b, epsilon = epsilon, max_relative = epsilon);
    }
}

/// PyTorch's `lp_pool2d` on positive inputs without padding, forward and
/// backward, in f64.
fn check_lp(case: &Case) {
    let input = case.shape("input");
    let output = case.shape("output");
    let p: f64 = case.word("p").parse().unwrap();
    let window = case.window();
    let x = case.array::<f64>("x", input);
    let y = lp_pool2d(&x, &window, p).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    for (a, b) in y.iter().zip(&case.array::<f64>("y", output)) {
        assert_relative_eq!(*a, *b, epsilon = 1e-12, max_relative = 1e-12);
    }
    let delta = case.array::<f64>("delta", output);
    let dx = lp_pool2d_backward(&delta, &x, &window, p).unwrap();
    for (a, b) in dx.iter().zip(&case.array::<f64>("dx", input)) {
        assert_relative_eq!(*a, *b, epsilon = 1e-12, max_relative = 1e-10);
    }
}

/// PyTorch's `adaptive_max_pool2d` (with indices) and `adaptive_avg_pool2d`,
/// forward and backward, through the stateless functions and the layer.
fn check_adaptive(case: &Case) {
    let input = case.shape("input");
    let output = case.shape("output");
    let size = (output[2], output[3]);
    let x = case.array::<f64>("x", input);
    let delta = case.array::<f64>("delta", output);
    let want_y = case.array::<f64>("y", output);
    let want_dx = case.array::<f64>("dx", input);
    let close = |a: &Array4<f64>, b: &Array4<f64>| {
        a.shape() == b.shape()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-12 * (1. + y.abs()))
    };
    let mode = if case.word("mode") == "adaptive_max" {
        let (y, indices) = adaptive_max_pool2d(&x, size).unwrap();
        assert_eq!(y, want_y, "{}", case.name);
        assert_eq!(indices, case.indices(output), "{}", case.name);
        let dx = adaptive_max_pool2d_backward(&delta, &indices, input).unwrap();
        assert!(close(&dx, &want_dx), "{}: {dx:?}", case.name);
        PoolMode::Max
    } else {
        let y = adaptive_mean_pool2d(&x, size).unwrap();
        assert!(close(&y, &want_y), "{}: {y:?}", case.name);
        let dx = adaptive_mean_pool2d_backward(&delta, input).unwrap();
        assert!(close(&dx, &want_dx), "{}: {dx:?}", case.name);
        PoolMode::Mean
    };
    let mut layer = AdaptivePool2d::new(mode, size).unwrap();
    assert!(close(&layer.forward(&x).unwrap(), &want_y), "{}", case.name);
    assert!(
        close(&layer.backward(&delta).unwrap(), &want_dx),
        "{}",
        case.name
    );
}

#[test]
fn every_fixture_case_matches_pytorch() {
    let cases = common::fixtures::cases(FIXTURES);
    let (mut max, mut mean, mut min, mut lp, mut adaptive, mut reject) = (0, 0, 0, 0, 0, 0);
    for case in &cases {
        match case.word("mode") {
            "max" => {
                check_max::<f32>(case);
                check_max::<f64>(case);
                max += 1;
            }
            "mean" => {
                check_mean::<f32>(case, 1e-6);
                check_mean::<f64>(case, 1e-12);
                mean += 1;
            }
            "min" => {
                check_max::<f32>(case);
                check_max::<f64>(case);
                min += 1;
            }
            "lp" => {
                check_lp(case);
                lp += 1;
            }
            "adaptive_max" | "adaptive_mean" => {
                check_adaptive(case);
                adaptive += 1;
            }
            "reject" => reject += 1,
            other => panic!("unknown mode {other}"),
        }
    }
    println!(
        "{max} max, {mean} mean, {min} min, {lp} LP, {adaptive} adaptive and {reject} rejected \
         fixture cases match PyTorch"
    );
    assert!(max >= 80 && mean >= 80 && min >= 40 && lp >= 30 && adaptive >= 30 && reject == 1);
}

#[test]
fn fixtures_cover_ties_nan_and_overlap() {
    let cases = common::fixtures::cases(FIXTURES);
    let has = |pred: &dyn Fn(&Case) -> bool| cases.iter().any(pred);
    assert!(has(&|c| c.words("x").iter().any(|w| w == "nan")));
    assert!(has(&|c| c.name == "ties_all_equal"));
    assert!(has(&|c| c.word("ceil") == "1" && c.word("mode") == "mean"));
    assert!(has(&|c| c.usizes("dilation").iter().any(|&d| d > 1)));
    assert!(has(&|c| c.usizes("stride")[0] < c.usizes("size")[0]));
}

/// PyTorch accepts this geometry, returns −∞ with indices outside the
/// plane, and its backward would write out of bounds; we reject it.
#[test]
fn pytorch_out_of_bounds_geometry_is_rejected() {
    let case = common::fixtures::cases(FIXTURES)
        .into_iter()
        .find(|c| c.word("mode") == "reject")
        .unwrap();
    let input = case.shape("input");
    let plane_len = input[2] * input[3];
    let torch_indices = case.usizes("indices");
    assert!(
        torch_indices.iter().all(|&i| i >= plane_len),
        "PyTorch's indices: {torch_indices:?}"
    );
    assert!(case.words("y").iter().all(|w| w == "-inf"));
    let x = case.array::<f32>("x", input);
    let err = max_pool2d(&x, &case.window()).unwrap_err();
    assert_eq!(
        err,
        PoolError::EmptyWindow {
            axis: "height",
            output_index: 0,
            input: 2,
            padding: (1, 1),
            dilation: 3
        }
    );
}
