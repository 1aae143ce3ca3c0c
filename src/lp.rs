//! Power-average (LP) pooling: `(Σ |x|ᵖ)^(1/p)` over each window.

use ndarray::{Array4, ArrayRef, Ix4};
use num_traits::Float;

use crate::PoolError;
use crate::element::MeanElement;
use crate::geometry::{Plan, Window2d, output_shape};
use crate::layout::{check_shape, plane_slice, plane_view, shape4, with_standard_layout};
use crate::parallel::{Out, for_each_plane};

/// Checks that `p` is a power LP pooling can use: finite and positive.
pub(crate) fn check_power(p: f64) -> Result<(), PoolError> {
    if p.is_finite() && p > 0. {
        Ok(())
    } else {
        Err(PoolError::InvalidPower { p: p.to_string() })
    }
}

/// LP pooling forward: `(Σ |x|ᵖ)^(1/p)` over every window's real cells
/// (padding adds zero), as ONNX's `LpPool`.
///
/// `p = 1` is sum pooling (of magnitudes); `p = 2` the window's Euclidean
/// norm; as `p` grows the result approaches max pooling of `|x|`.
///
/// PyTorch's `LPPool2d` differs: it sums `xᵖ` without the absolute value (so
/// odd `p` on negative inputs gives other results) and has no padding; on
/// non-negative inputs without padding the two agree.
///
/// # Errors
///
/// [`PoolError::InvalidPower`] unless `p` is finite and positive, and every
/// geometry error of [`Window2d::output_shape`].
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{lp_pool2d, PoolError, Window2d};
///
/// let x = array![[[[3f64, -4.], [0., 0.]]]];
/// assert_eq!(lp_pool2d(&x, &Window2d::new(2, 2), 2.)?, array![[[[5.]]]]);
/// assert_eq!(lp_pool2d(&x, &Window2d::new(2, 2), 1.)?, array![[[[7.]]]]);
/// # Ok::<(), PoolError>(())
/// ```
pub fn lp_pool2d<T: MeanElement>(
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    p: f64,
) -> Result<Array4<T>, PoolError> {
    check_power(p)?;
    let input_shape = shape4(x);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    let mut out = Array4::zeros(shape);
    T::in_accumulator(&[x], &mut out, |x, out| {
        lp_plan_into(x[0], &plan, p, out);
        Ok(())
    })?;
    Ok(out)
}

/// LP pooling backward: `∂y/∂xᵢ = sign(xᵢ) |xᵢ|ᵖ⁻¹ / yᵖ⁻¹` for every real cell
/// of each window, times the window's delta; overlapping windows accumulate.
/// Where the window's output is zero, or `xᵢ` is zero, the gradient is zero.
///
/// Needs the forward's input `x`, from which it recomputes the outputs.
///
/// # Errors
///
/// As [`lp_pool2d`], and [`PoolError::ShapeMismatch`] if `delta` is not
/// shaped like the forward's output.
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{lp_pool2d_backward, PoolError, Window2d};
///
/// let x = array![[[[3f64, -4.], [0., 0.]]]];
/// let dx = lp_pool2d_backward(&array![[[[10.]]]], &x, &Window2d::new(2, 2), 2.)?;
/// assert_eq!(dx, array![[[[6., -8.], [0., 0.]]]]); // 10 * x / 5
/// # Ok::<(), PoolError>(())
/// ```
pub fn lp_pool2d_backward<T: MeanElement>(
    delta: &ArrayRef<T, Ix4>,
    x: &ArrayRef<T, Ix4>,
    window: &Window2d,
    p: f64,
) -> Result<Array4<T>, PoolError> {
    check_power(p)?;
    let input_shape = shape4(x);
    let plan = window.plan(input_shape[2], input_shape[3])?;
    let mut grad = Array4::zeros(input_shape);
    T::in_accumulator(&[delta, x], &mut grad, |inputs, grad| {
        lp_backward_plan_into(inputs[0], inputs[1], &plan, p, grad)
    })?;
    Ok(grad)
}

pub(crate) fn lp_plan_into<T: Float + Send + Sync>(
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    p: f64,
    out: &mut ArrayRef<T, Ix4>,
) {
    let power = T::from(p).unwrap_or_else(T::one);
    with_standard_layout(out, |out| {
        let out = Out::Given(out);
        for_each_plane(
            x,
            out,
            plan.out_height(),
            true,
            |_, input, _, rows, mut out| {
                let (width, out) = (plan.in_width(), out.all());
                let out_rows = out.chunks_exact_mut(plan.out_width());
                for (row_window, out_row) in plan.rows.windows[rows].iter().zip(out_rows) {
                    for (col_window, y) in plan.cols.windows.iter().zip(out_row) {
                        let mut sum = T::zero();
                        for h in plan.rows.cells(row_window) {
                            for w in plan.cols.cells(col_window) {
                                sum = sum + input[h * width + w].abs().powf(power);
                            }
                        }
                        *y = sum.powf(power.recip());
                    }
                }
            },
        );
    });
}

pub(crate) fn lp_backward_plan_into<T: Float + Send + Sync>(
    delta: &ArrayRef<T, Ix4>,
    x: &ArrayRef<T, Ix4>,
    plan: &Plan,
    p: f64,
    grad: &mut ArrayRef<T, Ix4>,
) -> Result<(), PoolError> {
    let input_shape = shape4(x);
    let shape = output_shape(input_shape, plan.out_height(), plan.out_width())?;
    check_shape("delta", delta, shape)?;
    check_shape("gradient", grad, input_shape)?;
    let mut y = Array4::zeros(shape);
    lp_plan_into(x, plan, p, &mut y);
    let channels = input_shape[1];
    let power = T::from(p).unwrap_or_else(T::one);
    with_standard_layout(grad, |grad| {
        for_each_plane(
            x,
            Out::Given(grad),
            plan.in_height(),
            false,
            |plane, input, _, _, mut grad| {
                let grad = grad.all();
                let (mut d_scratch, mut y_scratch) = (Vec::new(), Vec::new());
                let delta = plane_slice(plane_view(delta, plane, channels), &mut d_scratch);
                let y = plane_slice(plane_view(&y, plane, channels), &mut y_scratch);
                grad.fill(T::zero());
                let width = plan.in_width();
                let windows = plan
                    .rows
                    .windows
                    .iter()
                    .flat_map(|r| plan.cols.windows.iter().map(move |c| (r, c)));
                for (((row_window, col_window), &d), &y) in windows.zip(delta).zip(y) {
                    if y == T::zero() {
                        continue;
                    }
                    let scale = d / y.powf(power - T::one());
                    for h in plan.rows.cells(row_window) {
                        for w in plan.cols.cells(col_window) {
                            let v = input[h * width + w];
                            if v != T::zero() {
                                let cell = &mut grad[h * width + w];
                                *cell = *cell + v.signum() * v.abs().powf(power - T::one()) * scale;
                            }
                        }
                    }
                }
            },
        );
    });
    Ok(())
}
