//! The digits network's whole gradient, pooling included, against central
//! finite differences on a few real examples.

#[path = "../examples/digits_cnn/net.rs"]
mod net;

use ndarray_pooling::PoolMode;

use net::{Net, Rng, batch, load_digits};

const DATA: &str = include_str!("../examples/data/digits.csv");

fn check(mode: PoolMode) {
    let (images, labels) = load_digits(DATA);
    let (x, y) = batch(&images, &labels, &[0, 7, 42, 1000]);
    let mut rng = Rng::new(7);
    let mut net = Net::new(mode, &mut rng).unwrap();
    // Zero biases put the pre-activations of blank patches exactly on ReLU's
    // kink, where no finite difference agrees with any one-sided gradient.
    for bias in [1, 3, 5] {
        net.params[bias].mapv_inplace(|_| 0.1 * rng.normal());
    }
    let (_, gradient) = net.loss_and_gradient(&x, &y).unwrap();
    let step = 1e-5;
    let mut checked = 0;
    for (p, analytic_gradient) in gradient.iter().enumerate() {
        // every bias, and a spread of weights
        let len = net.params[p].len();
        let stride = if len > 64 { len / 61 } else { 1 };
        for i in (0..len).step_by(stride) {
            let original = net.params[p].as_slice().unwrap()[i];
            net.params[p].as_slice_mut().unwrap()[i] = original + step;
            let (up, _) = net.loss_and_gradient(&x, &y).unwrap();
            net.params[p].as_slice_mut().unwrap()[i] = original - step;
            let (down, _) = net.loss_and_gradient(&x, &y).unwrap();
            net.params[p].as_slice_mut().unwrap()[i] = original;
            let numeric = (up - down) / (2. * step);
            let analytic = analytic_gradient.as_slice().unwrap()[i];
            assert!(
                (numeric - analytic).abs() <= 1e-6 + 1e-4 * analytic.abs(),
                "{mode:?}: parameter {p}[{i}]: finite difference {numeric}, backward {analytic}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 250, "checked only {checked} entries");
}

#[test]
fn max_pooling_network_gradient_matches_finite_differences() {
    check(PoolMode::Max);
}

#[test]
fn mean_pooling_network_gradient_matches_finite_differences() {
    check(PoolMode::Mean);
}
