//! Pooling as the textbook teaches it, printed step by step.
//!
//! ```text
//! cargo run --release --example textbook
//! ```

use ndarray::{Array4, ArrayView2, array, s};
use ndarray_pooling::{Pool2d, PoolError, PoolMode, Window2d};

fn print_grid(title: &str, grid: ArrayView2<f32>) {
    println!("{title}");
    for row in grid.rows() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>5}")).collect();
        println!("    {}", cells.join(" "));
    }
    println!();
}

fn plane(a: &Array4<f32>) -> ArrayView2<'_, f32> {
    a.slice(s![0, 0, .., ..])
}

fn main() -> Result<(), PoolError> {
    let image: Array4<f32> = array![[[
        [1., 3., 2., 1.],
        [4., 2., 0., 1.],
        [1., 0., 3., 2.],
        [2., 1., 4., 3.],
    ]]];
    println!("Pooling slides a window over every channel of an image and keeps one");
    println!("number per window: the largest (max) or the average (mean).\n");
    print_grid("The 4x4 image:", plane(&image));

    println!("== Window 2x2, stride 2: the windows tile the image ==\n");
    let mut max = Pool2d::new(PoolMode::Max, 2, 2)?;
    let mut mean = Pool2d::new(PoolMode::Mean, 2, 2)?;
    print_grid("max pooling:", plane(&max.forward(&image)?));
    print_grid("mean pooling:", plane(&mean.forward(&image)?));
    let argmax = max.indices().expect("a max forward records its argmax");
    println!(
        "max pooling remembers where each maximum was (flat index h * 4 + w): {:?}\n",
        argmax.iter().collect::<Vec<_>>()
    );

    println!("== Window 2x2, stride 1: the windows overlap ==\n");
    let mut overlapping = Pool2d::new(PoolMode::Max, 2, 1)?;
    print_grid("max pooling:", plane(&overlapping.forward(&image)?));
    println!("The output is larger but blurred: the same maxima (the two 4s, the 3)");
    println!("win neighbouring windows and fill the output with repeats.\n");
    let mut overlapping_mean = Pool2d::new(PoolMode::Mean, 2, 1)?;
    print_grid("mean pooling:", plane(&overlapping_mean.forward(&image)?));

    println!("== Output size: W2 = (W1 - F) / S + 1 ==\n");
    for (w1, f, s) in [(4, 2, 2), (4, 2, 1), (32, 2, 2), (224, 3, 2), (7, 3, 3)] {
        let [_, _, _, w2] = Window2d::new(f, s).output_shape([1, 1, w1, w1])?;
        println!("    W1 = {w1:>3}, F = {f}, S = {s}:  ({w1} - {f}) / {s} + 1 = {w2}");
    }
    println!();

    println!("== Backward: the deltas of the 2x2 output go back to the 4x4 input ==\n");
    let delta: Array4<f32> = array![[[[1., 2.], [3., 4.]]]];
    print_grid("delta:", plane(&delta));
    print_grid(
        "max: each delta goes to its window's maximum (dw/db = 1 there, 0 elsewhere):",
        plane(&max.backward(&delta)?),
    );
    print_grid(
        "mean: each cell of a window receives delta / 4:",
        plane(&mean.backward(&delta)?),
    );
    println!("Pooling has no parameters: backward only passes deltas on.\n");

    println!("== Does min pooling mean anything? ==\n");
    // a thin dark stroke (0) on a light page (9)
    let page: Array4<f32> = array![[[
        [9., 9., 9., 9., 9., 9.],
        [9., 0., 9., 9., 9., 9.],
        [9., 9., 0., 9., 9., 9.],
        [9., 9., 9., 0., 9., 9.],
        [9., 9., 9., 9., 0., 9.],
        [9., 9., 9., 9., 9., 9.],
    ]]];
    print_grid("A dark stroke on a light page:", plane(&page));
    let max = Pool2d::new(PoolMode::Max, 2, 2)?;
    let min = Pool2d::new(PoolMode::Min, 2, 2)?;
    print_grid(
        "max pooling keeps the page and loses the stroke:",
        plane(&max.infer(&page)?),
    );
    print_grid("min pooling keeps the stroke:", plane(&min.infer(&page)?));
    println!("Yes: max pooling keeps what is bright, min pooling what is dark. On");
    println!("activations, where large means present, min pooling answers \"is the");
    println!("feature present everywhere in the window?\" rather than \"anywhere?\".");
    let negated = max.infer(&page.mapv(|v| -v))?.mapv(|v| -v);
    println!(
        "And min pooling of x is -maxpool(-x): {}\n",
        if negated == min.infer(&page)? {
            "the same grid"
        } else {
            "a different grid"
        }
    );
    Ok(())
}
