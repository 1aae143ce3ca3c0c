//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong when pooling; each variant carries the values
/// that caused it.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
/// use ndarray_pooling::{Pool2d, PoolError, PoolMode};
///
/// let mut pool = Pool2d::new(PoolMode::Max, 3, 1)?;
/// let err = pool.forward(&Array4::<f32>::zeros((1, 1, 2, 7))).unwrap_err();
/// assert_eq!(err.to_string(), "window 3x3 does not fit padded input 2x7");
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// A window size, stride or dilation has a zero dimension.
    ZeroParameter {
        /// Which parameter: `"size"`, `"stride"` or `"dilation"`.
        parameter: &'static str,
        /// Its height.
        height: usize,
        /// Its width.
        width: usize,
    },
    /// `divisor_override` was set to zero.
    ZeroDivisor,
    /// The (dilated) window is larger than the padded input along some axis.
    WindowTooLarge {
        /// Extent of the dilated window, `(height, width)`.
        window: (usize, usize),
        /// Extent of the padded input, `(height, width)`.
        padded_input: (usize, usize),
    },
    /// Some window covers only padding: no real input cell lies under it.
    EmptyWindow {
        /// `"height"` or `"width"`.
        axis: &'static str,
        /// Index of the offending output position along that axis.
        output_index: usize,
        /// Input extent along that axis.
        input: usize,
        /// Padding before and after the input along that axis.
        padding: (usize, usize),
        /// Dilation along that axis.
        dilation: usize,
    },
    /// `backward` was called on a layer that has not run `forward`.
    BackwardBeforeForward,
    /// An array's shape is not the one the operation expects, e.g. a delta
    /// whose shape differs from the last forward's output.
    ShapeMismatch {
        /// What the array holds: `"delta"`, `"indices"`, `"output"`, ...
        what: &'static str,
        /// The shape that was expected.
        expected: [usize; 4],
        /// The shape that came.
        found: [usize; 4],
    },
    /// An argmax index lies outside its `(n, c)` plane.
    IndexOutOfBounds {
        /// The offending index.
        index: i64,
        /// The number of cells in a plane, `height * width`.
        plane_len: usize,
    },
    /// An array of a rank the layer does not take: it takes NCHW (4-D) and
    /// batchless CHW (3-D).
    UnsupportedRank {
        /// The array's number of axes.
        ndim: usize,
    },
    /// A pooling mode an operation does not offer.
    UnsupportedMode {
        /// The mode.
        mode: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// An LP pooling power that is not finite and positive.
    InvalidPower {
        /// The power, as written.
        p: String,
    },
    /// `backward` got another element type than the last forward of an LP
    /// layer, which keeps that forward's input.
    ElementTypeMismatch,
    /// A size computation would overflow `usize`.
    Overflow {
        /// What was being computed.
        what: &'static str,
    },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::ZeroParameter {
                parameter,
                height,
                width,
            } => write!(
                f,
                "{parameter} must be at least 1 in each dimension, got {height}x{width}"
            ),
            PoolError::ZeroDivisor => write!(f, "divisor_override must be at least 1, got 0"),
            PoolError::WindowTooLarge {
                window,
                padded_input,
            } => write!(
                f,
                "window {}x{} does not fit padded input {}x{}",
                window.0, window.1, padded_input.0, padded_input.1
            ),
            PoolError::EmptyWindow {
                axis,
                output_index,
                input,
                padding,
                dilation,
            } => write!(
                f,
                "window {output_index} along the {axis} covers only padding \
                 (input {input}, padding {}+{}, dilation {dilation})",
                padding.0, padding.1
            ),
            PoolError::BackwardBeforeForward => write!(f, "backward called before any forward"),
            PoolError::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what} has shape {found:?}, expected {expected:?}"),
            PoolError::IndexOutOfBounds { index, plane_len } => write!(
                f,
                "index {index} lies outside its plane of {plane_len} cells"
            ),
            PoolError::InvalidPower { p } => {
                write!(f, "LP pooling needs a finite, positive power, got {p}")
            }
            PoolError::UnsupportedRank { ndim } => {
                write!(f, "expected an NCHW (4-D) or CHW (3-D) array, got {ndim}-D")
            }
            PoolError::UnsupportedMode { mode, operation } => {
                write!(f, "{operation} does not offer {mode} pooling")
            }
            PoolError::ElementTypeMismatch => {
                write!(f, "backward got another element type than the last forward")
            }
            PoolError::Overflow { what } => write!(f, "{what} overflows usize"),
        }
    }
}

impl std::error::Error for PoolError {}
