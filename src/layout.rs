//! NCHW shapes and access to `(n, c)` planes as contiguous slices.

use ndarray::{Array, Array4, ArrayRef, ArrayView2, ArrayView4, Axis, Dimension, Ix4};

use crate::PoolError;

pub(crate) fn shape4<T>(x: &ArrayRef<T, Ix4>) -> [usize; 4] {
    let s = x.shape();
    [s[0], s[1], s[2], s[3]]
}

pub(crate) fn check_shape<T>(
    what: &'static str,
    x: &ArrayRef<T, Ix4>,
    expected: [usize; 4],
) -> Result<(), PoolError> {
    let found = shape4(x);
    if found != expected {
        return Err(PoolError::ShapeMismatch {
            what,
            expected,
            found,
        });
    }
    Ok(())
}

/// A plane as a row-major slice: borrowed when the view is already laid out
/// so, else copied into `scratch`.
pub(crate) fn plane_slice<'a, T: Copy>(
    plane: ArrayView2<'a, T>,
    scratch: &'a mut Vec<T>,
) -> &'a [T] {
    match plane.to_slice() {
        Some(slice) => slice,
        None => {
            scratch.clear();
            scratch.extend(plane.iter().copied());
            scratch
        }
    }
}

/// Every `(n, c)` plane of `x`, in the order of a standard layout.
pub(crate) fn planes<T>(x: &ArrayRef<T, Ix4>) -> impl Iterator<Item = ArrayView2<'_, T>> {
    x.outer_iter().flat_map(|image| image.into_outer_iter())
}

/// The row-major slice of a freshly allocated standard-layout array.
pub(crate) fn standard_slice_mut<T>(a: &mut Array4<T>) -> &mut [T] {
    a.as_slice_mut()
        .expect("arrays allocated by this crate are in standard layout")
}

/// The array of `shape` whose cells, in standard order, `f` pushes onto a
/// vector (see `parallel::Out::New`).
pub(crate) fn new_array<T>(shape: [usize; 4], f: impl FnOnce(&mut Vec<T>)) -> Array4<T> {
    let mut cells = Vec::new();
    f(&mut cells);
    Array4::from_shape_vec(shape, cells).expect("the work fills every cell of its output")
}

/// Cells in one `(n, c)` plane.
pub(crate) fn plane_len(shape: [usize; 4]) -> usize {
    shape[2] * shape[3]
}

/// Plane `plane` (counting `n * channels + c`) of `x`.
pub(crate) fn plane_view<T>(
    x: &ArrayRef<T, Ix4>,
    plane: usize,
    channels: usize,
) -> ArrayView2<'_, T> {
    x.index_axis(Axis(0), plane / channels)
        .index_axis_move(Axis(0), plane % channels)
}

/// Runs `f` on `out` as a row-major slice: directly when `out` is in standard
/// layout, else through a temporary that is then copied into `out`.
pub(crate) fn with_standard_layout<T: Copy + num_traits::Zero>(
    out: &mut ArrayRef<T, Ix4>,
    f: impl FnOnce(&mut [T]),
) {
    match out.as_slice_mut() {
        Some(slice) => f(slice),
        None => {
            let mut temporary = Array4::zeros(out.raw_dim());
            f(standard_slice_mut(&mut temporary));
            out.assign(&temporary);
        }
    }
}

/// `x` as an NCHW view: itself if 4-D, with a batch of one if 3-D (CHW).
pub(crate) fn as_nchw<T, D: Dimension>(x: &ArrayRef<T, D>) -> Result<ArrayView4<'_, T>, PoolError> {
    let view = x.view().into_dyn();
    let view = match x.ndim() {
        4 => view,
        3 => view.insert_axis(Axis(0)),
        ndim => return Err(PoolError::UnsupportedRank { ndim }),
    };
    Ok(view
        .into_dimensionality::<Ix4>()
        .expect("a 4-D view after the check"))
}

/// `y` back in the rank `ndim` of the array it came from.
pub(crate) fn from_nchw<T, D: Dimension>(y: Array4<T>, ndim: usize) -> Array<T, D> {
    let y = y.into_dyn();
    let y = if ndim == 3 {
        y.index_axis_move(Axis(0), 0)
    } else {
        y
    };
    y.into_dimensionality::<D>()
        .expect("the rank of the array it came from")
}
