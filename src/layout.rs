//! NCHW shapes and access to `(n, c)` planes as contiguous slices.

use ndarray::{Array4, ArrayRef, ArrayView2, Ix4};

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

/// Calls `f` with every `(n, c)` plane of `x`, in the order of a standard
/// layout, as a row-major slice.
pub(crate) fn for_each_plane<T: Copy>(x: &ArrayRef<T, Ix4>, mut f: impl FnMut(&[T])) {
    let mut scratch = Vec::new();
    for plane in planes(x) {
        f(plane_slice(plane, &mut scratch));
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
