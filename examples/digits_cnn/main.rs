//! Trains a small convolutional network on the UCI handwritten digits
//! (1,797 images of 8x8, ten classes) with `Pool2d` max pooling, and reports
//! the test accuracy.
//!
//! ```text
//! cargo run --release --example digits_cnn            # max pooling
//! cargo run --release --example digits_cnn -- --mean  # mean pooling
//! cargo run --release --example digits_cnn -- --both  # one after the other
//! ```

mod net;

use std::time::Instant;

use ndarray_pooling::{PoolError, PoolMode};

use net::{Adam, Net, Rng, accuracy, batch, load_digits};

const DATA: &str = include_str!("../data/digits.csv");
const SEED: u64 = 20261126;
const EPOCHS: usize = 30;
const BATCH: usize = 32;
const LEARNING_RATE: f64 = 3e-3;

/// Trains from scratch with `mode` pooling; returns the final test accuracy
/// and the training time in seconds.
fn train(mode: PoolMode) -> Result<(f64, f64), PoolError> {
    let (images, labels) = load_digits(DATA);
    let mut rng = Rng::new(SEED);
    let mut order: Vec<usize> = (0..labels.len()).collect();
    rng.shuffle(&mut order);
    let (test, train) = order.split_at(labels.len() / 5);
    let mut train = train.to_vec();
    println!(
        "{mode:?} pooling: {} training and {} test images",
        train.len(),
        test.len()
    );

    let mut net = Net::new(mode, &mut rng)?;
    let mut adam = Adam::new(&net.params, LEARNING_RATE);
    let start = Instant::now();
    for epoch in 1..=EPOCHS {
        rng.shuffle(&mut train);
        let mut loss_sum = 0.;
        for chunk in train.chunks(BATCH) {
            let (x, y) = batch(&images, &labels, chunk);
            let (loss, gradient) = net.loss_and_gradient(&x, &y)?;
            adam.update(&mut net.params, &gradient);
            loss_sum += loss * chunk.len() as f64;
        }
        println!(
            "epoch {epoch:>2}  loss {:.4}  train accuracy {:.2}%  test accuracy {:.2}%  {:.1} s",
            loss_sum / train.len() as f64,
            100. * accuracy(&net, &images, &labels, &train)?,
            100. * accuracy(&net, &images, &labels, test)?,
            start.elapsed().as_secs_f64()
        );
    }
    let test_accuracy = accuracy(&net, &images, &labels, test)?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{mode:?} pooling: test accuracy {:.2}% after {EPOCHS} epochs in {seconds:.1} s\n",
        100. * test_accuracy
    );
    Ok((test_accuracy, seconds))
}

fn main() -> Result<(), PoolError> {
    let modes: &[PoolMode] = match std::env::args().nth(1).as_deref() {
        None | Some("--max") => &[PoolMode::Max],
        Some("--mean") => &[PoolMode::Mean],
        Some("--both") => &[PoolMode::Max, PoolMode::Mean],
        Some(other) => {
            eprintln!("unknown argument {other}; use --max, --mean or --both");
            std::process::exit(2);
        }
    };
    let results = modes
        .iter()
        .map(|&mode| train(mode).map(|r| (mode, r)))
        .collect::<Result<Vec<_>, _>>()?;
    for (mode, (test_accuracy, seconds)) in results {
        println!(
            "{mode:?} pooling: final test accuracy {:.2}% ({seconds:.1} s)",
            100. * test_accuracy
        );
    }
    Ok(())
}
