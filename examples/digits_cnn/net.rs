//! A small convolutional network in plain ndarray, with `Pool2d` for its
//! pooling layers:
//!
//! ```text
//! 1x8x8 -> conv 3x3 (16) -> ReLU -> pool 2x2 -> 16x4x4
//!       -> conv 3x3 (32) -> ReLU -> pool 2x2 -> 32x2x2 -> dense 128 -> 10 -> softmax
//! ```
//!
//! Convolutions are im2col followed by one matrix product. Shared by the
//! `digits_cnn` example and the test that checks its gradient.

#![allow(dead_code)]

use ndarray::{Array1, Array2, Array4, ArrayD, Axis, Ix1, Ix2};
use ndarray_pooling::{Pool2d, PoolError, PoolMode};

/// SplitMix64: a small seeded generator, enough for initialization and
/// shuffling.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box-Muller.
    pub fn normal(&mut self) -> f64 {
        let u = 1. - self.uniform();
        let v = self.uniform();
        (-2. * u.ln()).sqrt() * (2. * std::f64::consts::PI * v).cos()
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// A 3x3 convolution with padding 1 and stride 1 (the output keeps the
/// input's height and width).
struct Conv {
    out_channels: usize,
}

const KERNEL: usize = 3;

impl Conv {
    /// Rows of `(n, h, w)`, columns of `(c, kh, kw)`: every receptive field
    /// as a row, zero where it reaches into the padding.
    fn im2col(&self, x: &Array4<f64>) -> Array2<f64> {
        let (n, c, h, w) = x.dim();
        let mut cols = Array2::zeros((n * h * w, c * KERNEL * KERNEL));
        for ((b, i, j), mut row) in itertools_rows(n, h, w).zip(cols.rows_mut()) {
            for ch in 0..c {
                for ki in 0..KERNEL {
                    for kj in 0..KERNEL {
                        let (r, q) = (i + ki, j + kj); // padded coordinates
                        if r >= 1 && q >= 1 && r <= h && q <= w {
                            row[(ch * KERNEL + ki) * KERNEL + kj] = x[[b, ch, r - 1, q - 1]];
                        }
                    }
                }
            }
        }
        cols
    }

    /// The adjoint of `im2col`: adds every column entry back to its pixel.
    fn col2im(&self, cols: &Array2<f64>, shape: (usize, usize, usize, usize)) -> Array4<f64> {
        let (n, c, h, w) = shape;
        let mut x = Array4::zeros(shape);
        for ((b, i, j), row) in itertools_rows(n, h, w).zip(cols.rows()) {
            for ch in 0..c {
                for ki in 0..KERNEL {
                    for kj in 0..KERNEL {
                        let (r, q) = (i + ki, j + kj);
                        if r >= 1 && q >= 1 && r <= h && q <= w {
                            x[[b, ch, r - 1, q - 1]] += row[(ch * KERNEL + ki) * KERNEL + kj];
                        }
                    }
                }
            }
        }
        x
    }

    fn forward(
        &self,
        x: &Array4<f64>,
        weights: &Array2<f64>,
        bias: &Array1<f64>,
    ) -> (Array4<f64>, Array2<f64>) {
        let (n, _, h, w) = x.dim();
        let cols = self.im2col(x);
        let y = cols.dot(&weights.t()) + bias;
        let y = y
            .into_shape_with_order((n, h, w, self.out_channels))
            .expect("rows are (n, h, w)")
            .permuted_axes([0, 3, 1, 2])
            .as_standard_layout()
            .into_owned();
        (y, cols)
    }

    /// Gradients of input, weights and bias from the output's delta.
    fn backward(
        &self,
        delta: &Array4<f64>,
        cols: &Array2<f64>,
        weights: &Array2<f64>,
        input_shape: (usize, usize, usize, usize),
    ) -> (Array4<f64>, Array2<f64>, Array1<f64>) {
        let (n, _, h, w) = input_shape;
        let delta = delta
            .view()
            .permuted_axes([0, 2, 3, 1])
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((n * h * w, self.out_channels))
            .expect("delta rows are (n, h, w)");
        let d_weights = delta.t().dot(cols);
        let d_bias = delta.sum_axis(Axis(0));
        let d_cols = delta.dot(weights);
        (self.col2im(&d_cols, input_shape), d_weights, d_bias)
    }
}

fn itertools_rows(n: usize, h: usize, w: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..n).flat_map(move |b| (0..h).flat_map(move |i| (0..w).map(move |j| (b, i, j))))
}

fn relu(x: &Array4<f64>) -> Array4<f64> {
    x.mapv(|v| v.max(0.))
}

fn relu_backward(delta: &Array4<f64>, pre: &Array4<f64>) -> Array4<f64> {
    let mut d = delta.clone();
    d.zip_mut_with(pre, |d, &p| {
        if p <= 0. {
            *d = 0.
        }
    });
    d
}

/// Everything the network learns, as a list: conv1 weights and bias, conv2
/// weights and bias, dense weights and bias.
pub type Params = Vec<ArrayD<f64>>;

pub struct Net {
    conv1: Conv,
    conv2: Conv,
    pool1: Pool2d,
    pool2: Pool2d,
    pub params: Params,
}

const CLASSES: usize = 10;
const FEATURES: usize = 32 * 2 * 2;

impl Net {
    /// He-initialized weights, zero biases.
    pub fn new(mode: PoolMode, rng: &mut Rng) -> Result<Self, PoolError> {
        let mut he = |rows: usize, cols: usize| {
            let scale = (2. / cols as f64).sqrt();
            Array2::from_shape_simple_fn((rows, cols), || rng.normal() * scale).into_dyn()
        };
        let params = vec![
            he(16, KERNEL * KERNEL),
            Array1::<f64>::zeros(16).into_dyn(),
            he(32, 16 * KERNEL * KERNEL),
            Array1::<f64>::zeros(32).into_dyn(),
            he(CLASSES, FEATURES),
            Array1::<f64>::zeros(CLASSES).into_dyn(),
        ];
        Ok(Net {
            conv1: Conv { out_channels: 16 },
            conv2: Conv { out_channels: 32 },
            pool1: Pool2d::new(mode, 2, 2)?,
            pool2: Pool2d::new(mode, 2, 2)?,
            params,
        })
    }

    fn matrix(&self, i: usize) -> Array2<f64> {
        self.params[i]
            .clone()
            .into_dimensionality::<Ix2>()
            .expect("a matrix")
    }

    fn vector(&self, i: usize) -> Array1<f64> {
        self.params[i]
            .clone()
            .into_dimensionality::<Ix1>()
            .expect("a vector")
    }

    /// Class scores for a batch of `(n, 1, 8, 8)` images, for inference.
    pub fn predict(&self, x: &Array4<f64>) -> Result<Array2<f64>, PoolError> {
        let (a1, _) = self.conv1.forward(x, &self.matrix(0), &self.vector(1));
        let p1 = self.pool1.infer(&relu(&a1))?;
        let (a2, _) = self.conv2.forward(&p1, &self.matrix(2), &self.vector(3));
        let p2 = self.pool2.infer(&relu(&a2))?;
        let features = p2
            .into_shape_with_order((x.dim().0, FEATURES))
            .expect("flatten");
        Ok(features.dot(&self.matrix(4).t()) + &self.vector(5))
    }

    /// Mean softmax cross-entropy of the batch, and its gradient with
    /// respect to every parameter.
    pub fn loss_and_gradient(
        &mut self,
        x: &Array4<f64>,
        labels: &[usize],
    ) -> Result<(f64, Params), PoolError> {
        let n = x.dim().0;
        let (w1, b1, w2, b2, w3, b3) = (
            self.matrix(0),
            self.vector(1),
            self.matrix(2),
            self.vector(3),
            self.matrix(4),
            self.vector(5),
        );
        // forward
        let (a1, cols1) = self.conv1.forward(x, &w1, &b1);
        let r1 = relu(&a1);
        let p1 = self.pool1.forward(&r1)?;
        let (a2, cols2) = self.conv2.forward(&p1, &w2, &b2);
        let r2 = relu(&a2);
        let p2 = self.pool2.forward(&r2)?;
        let features = p2
            .clone()
            .into_shape_with_order((n, FEATURES))
            .expect("flatten");
        let logits = features.dot(&w3.t()) + &b3;
        let (loss, d_logits) = softmax_cross_entropy(&logits, labels);
        // backward
        let d_w3 = d_logits.t().dot(&features);
        let d_b3 = d_logits.sum_axis(Axis(0));
        let d_features = d_logits.dot(&w3);
        let d_p2 = d_features
            .into_shape_with_order(p2.raw_dim())
            .expect("unflatten");
        let d_r2 = self.pool2.backward(&d_p2)?;
        let d_a2 = relu_backward(&d_r2, &a2);
        let (d_p1, d_w2, d_b2) = self.conv2.backward(&d_a2, &cols2, &w2, p1.dim());
        let d_r1 = self.pool1.backward(&d_p1)?;
        let d_a1 = relu_backward(&d_r1, &a1);
        let (_, d_w1, d_b1) = self.conv1.backward(&d_a1, &cols1, &w1, x.dim());
        let gradient = vec![
            d_w1.into_dyn(),
            d_b1.into_dyn(),
            d_w2.into_dyn(),
            d_b2.into_dyn(),
            d_w3.into_dyn(),
            d_b3.into_dyn(),
        ];
        Ok((loss, gradient))
    }
}

/// Mean cross-entropy of the softmax of `logits`, and its gradient.
pub fn softmax_cross_entropy(logits: &Array2<f64>, labels: &[usize]) -> (f64, Array2<f64>) {
    let n = logits.nrows();
    let mut grad = Array2::zeros(logits.raw_dim());
    let mut loss = 0.;
    for ((row, mut g), &label) in logits.rows().into_iter().zip(grad.rows_mut()).zip(labels) {
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let exp = row.mapv(|v| (v - max).exp());
        let sum = exp.sum();
        loss -= (exp[label] / sum).ln();
        g.assign(&(exp / sum));
        g[label] -= 1.;
    }
    (loss / n as f64, grad / n as f64)
}

/// Adam with the usual constants.
pub struct Adam {
    pub rate: f64,
    step: i32,
    first: Params,
    second: Params,
}

impl Adam {
    pub fn new(params: &Params, rate: f64) -> Self {
        let zeros: Params = params.iter().map(|p| ArrayD::zeros(p.raw_dim())).collect();
        Adam {
            rate,
            step: 0,
            first: zeros.clone(),
            second: zeros,
        }
    }

    pub fn update(&mut self, params: &mut Params, gradient: &Params) {
        let (beta1, beta2, epsilon): (f64, f64, f64) = (0.9, 0.999, 1e-8);
        self.step += 1;
        let correction1 = 1. - beta1.powi(self.step);
        let correction2 = 1. - beta2.powi(self.step);
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(gradient)
            .zip(&mut self.first)
            .zip(&mut self.second)
        {
            m.zip_mut_with(g, |m, &g| *m = beta1 * *m + (1. - beta1) * g);
            v.zip_mut_with(g, |v, &g| *v = beta2 * *v + (1. - beta2) * g * g);
            ndarray::Zip::from(p)
                .and(&*m)
                .and(&*v)
                .for_each(|p, &m, &v| {
                    *p -= self.rate * (m / correction1) / ((v / correction2).sqrt() + epsilon);
                });
        }
    }
}

/// The digits data: `(images as (n, 1, 8, 8) scaled to [0, 1], labels)`.
pub fn load_digits(csv: &str) -> (Array4<f64>, Vec<usize>) {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for line in csv.lines().filter(|l| !l.is_empty()) {
        let mut values = line
            .split(',')
            .map(|v| v.trim().parse::<u8>().expect("an integer"));
        labels.push(values.next().expect("a label") as usize);
        pixels.extend(values.map(|v| f64::from(v) / 16.));
    }
    let n = labels.len();
    let images = Array4::from_shape_vec((n, 1, 8, 8), pixels).expect("64 pixels an image");
    (images, labels)
}

/// The images and labels at `indices`.
pub fn batch(
    images: &Array4<f64>,
    labels: &[usize],
    indices: &[usize],
) -> (Array4<f64>, Vec<usize>) {
    let x = images.select(Axis(0), indices);
    (x, indices.iter().map(|&i| labels[i]).collect())
}

/// The fraction of `indices` the network classifies right.
pub fn accuracy(
    net: &Net,
    images: &Array4<f64>,
    labels: &[usize],
    indices: &[usize],
) -> Result<f64, PoolError> {
    let mut right = 0;
    for chunk in indices.chunks(256) {
        let (x, y) = batch(images, labels, chunk);
        let scores = net.predict(&x)?;
        for (row, &label) in scores.rows().into_iter().zip(&y) {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                );
            right += usize::from(best.0 == label);
        }
    }
    Ok(right as f64 / indices.len() as f64)
}
