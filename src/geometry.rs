//! Window geometry: sizes, padding, the output-size formula, and the one
//! computation of every window's cells and divisor that forward and backward
//! share.

use std::num::NonZeroUsize;

use crate::PoolError;

/// A `(height, width)` pair for window size, stride and dilation.
///
/// Converts from a `usize` (square) and from a `(height, width)` tuple.
///
/// # Examples
///
/// ```
/// use ndarray_pooling::Size2d;
///
/// assert_eq!(Size2d::from(3), Size2d::new(3, 3));
/// assert_eq!(Size2d::from((3, 2)), Size2d { height: 3, width: 2 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size2d {
    /// Extent along the height (rows).
    pub height: usize,
    /// Extent along the width (columns).
    pub width: usize,
}

impl Size2d {
    /// A pair of `height` and `width`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Size2d;
    ///
    /// let s = Size2d::new(3, 2);
    /// assert_eq!((s.height, s.width), (3, 2));
    /// ```
    pub const fn new(height: usize, width: usize) -> Self {
        Size2d { height, width }
    }

    /// The same value along both axes.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Size2d;
    ///
    /// assert_eq!(Size2d::square(2), Size2d::new(2, 2));
    /// ```
    pub const fn square(side: usize) -> Self {
        Size2d::new(side, side)
    }

    fn validate(self, parameter: &'static str) -> Result<(), PoolError> {
        if self.height == 0 || self.width == 0 {
            return Err(PoolError::ZeroParameter {
                parameter,
                height: self.height,
                width: self.width,
            });
        }
        Ok(())
    }
}

impl From<usize> for Size2d {
    fn from(side: usize) -> Self {
        Size2d::square(side)
    }
}

impl From<(usize, usize)> for Size2d {
    fn from((height, width): (usize, usize)) -> Self {
        Size2d::new(height, width)
    }
}

/// Implicit padding around each input plane, possibly asymmetric.
///
/// Padding never wins a max (it acts as −∞) and counts in a mean's divisor
/// only with [`MeanDivisor::PaddedWindow`]. Converts from a `usize` (the same
/// on all four sides) and from `(height, width)` (top = bottom = height,
/// left = right = width), as PyTorch's `padding` argument.
///
/// # Examples
///
/// ```
/// use ndarray_pooling::Padding;
///
/// let p = Padding::new(1, 0, 2, 2); // top, bottom, left, right
/// assert_eq!((p.top(), p.bottom(), p.left(), p.right()), (1, 0, 2, 2));
/// assert_eq!(Padding::from((1, 2)), Padding::new(1, 1, 2, 2));
/// assert_eq!(Padding::from(0), Padding::zero());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Padding {
    top: usize,
    bottom: usize,
    left: usize,
    right: usize,
    same: Same,
}

/// Padding resolved from the input size, as ONNX's `auto_pad`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
enum Same {
    /// Explicit padding.
    #[default]
    No,
    /// The odd cell at the end (ONNX `SAME_UPPER`, TensorFlow `'SAME'`).
    Upper,
    /// The odd cell at the beginning (ONNX `SAME_LOWER`).
    Lower,
}

impl Padding {
    /// Padding of `top`, `bottom`, `left` and `right` cells.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Pool2d, PoolMode, Padding};
    ///
    /// // TensorFlow's SAME for a 2x2 window, stride 1: the odd cell goes at the end
    /// let pool = Pool2d::builder(PoolMode::Max).size(2).stride(1).padding(Padding::new(0, 1, 0, 1)).build()?;
    /// assert_eq!(pool.output_shape([1, 1, 5, 5])?, [1, 1, 5, 5]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub const fn new(top: usize, bottom: usize, left: usize, right: usize) -> Self {
        Padding {
            top,
            bottom,
            left,
            right,
            same: Same::No,
        }
    }

    /// ONNX's `SAME_UPPER` and TensorFlow's `'SAME'`: padding resolved from
    /// the input size so that the output has `ceil(input / stride)` cells
    /// along each axis; where the padding is odd, the extra cell goes at the
    /// end (bottom, right).
    ///
    /// The getters ([`top`](Self::top), …) return 0 for it;
    /// [`Window2d::resolved_padding`] gives the cells for an input.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Padding, Window2d};
    ///
    /// let same = Window2d::new(3, 2).with_padding(Padding::same_upper());
    /// assert_eq!(same.output_shape([1, 1, 7, 8])?, [1, 1, 4, 4]); // ceil(7 / 2), ceil(8 / 2)
    /// // width 8: (4 - 1) * 2 + 3 - 8 = 1 cell of padding, at the end
    /// assert_eq!(same.resolved_padding(7, 8), Padding::new(1, 1, 0, 1));
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub const fn same_upper() -> Self {
        Padding {
            same: Same::Upper,
            ..Padding::zero()
        }
    }

    /// ONNX's `SAME_LOWER`: as [`same_upper`](Self::same_upper), with the
    /// extra cell of odd padding at the beginning (top, left).
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Padding, Window2d};
    ///
    /// let same = Window2d::new(2, 1).with_padding(Padding::same_lower());
    /// assert_eq!(same.resolved_padding(5, 5), Padding::new(1, 0, 1, 0));
    /// assert_eq!(same.output_shape([1, 1, 5, 5])?, [1, 1, 5, 5]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub const fn same_lower() -> Self {
        Padding {
            same: Same::Lower,
            ..Padding::zero()
        }
    }

    /// Whether the padding is resolved from the input size (SAME).
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Padding;
    ///
    /// assert!(Padding::same_upper().is_same());
    /// assert!(!Padding::new(1, 1, 1, 1).is_same());
    /// ```
    pub const fn is_same(&self) -> bool {
        !matches!(self.same, Same::No)
    }

    /// No padding.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Padding;
    ///
    /// assert_eq!(Padding::zero(), Padding::new(0, 0, 0, 0));
    /// assert_eq!(Padding::zero(), Padding::default());
    /// ```
    pub const fn zero() -> Self {
        Padding::new(0, 0, 0, 0)
    }

    /// Cells above the input.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Padding;
    ///
    /// assert_eq!(Padding::new(1, 2, 3, 4).top(), 1);
    /// ```
    pub const fn top(&self) -> usize {
        self.top
    }

    /// Cells below the input.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Padding;
    ///
    /// assert_eq!(Padding::new(1, 2, 3, 4).bottom(), 2);
    /// ```
    pub const fn bottom(&self) -> usize {
        self.bottom
    }

    /// Cells left of the input.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Padding;
    ///
    /// assert_eq!(Padding::new(1, 2, 3, 4).left(), 3);
    /// ```
    pub const fn left(&self) -> usize {
        self.left
    }

    /// Cells right of the input.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Padding;
    ///
    /// assert_eq!(Padding::new(1, 2, 3, 4).right(), 4);
    /// ```
    pub const fn right(&self) -> usize {
        self.right
    }
}

impl From<usize> for Padding {
    fn from(all: usize) -> Self {
        Padding::new(all, all, all, all)
    }
}

impl From<(usize, usize)> for Padding {
    fn from((height, width): (usize, usize)) -> Self {
        Padding::new(height, height, width, width)
    }
}

/// What a mean window's sum is divided by.
///
/// # Examples
///
/// ```
/// use ndarray_pooling::MeanDivisor;
///
/// // PyTorch's default: count_include_pad = true, no divisor_override
/// assert_eq!(MeanDivisor::default(), MeanDivisor::PaddedWindow);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MeanDivisor {
    /// The window's cells that lie inside the padded input, padding included
    /// (PyTorch's `count_include_pad=True`). Cells that `ceil_mode` lets hang
    /// past the padding never count.
    #[default]
    PaddedWindow,
    /// Only the window's real input cells (`count_include_pad=False`).
    RealCells,
    /// A fixed divisor (PyTorch's `divisor_override`).
    Fixed(NonZeroUsize),
}

/// The geometry of a 2-D pooling window: size, stride, padding, dilation and
/// ceil mode. This is what the stateless functions take; [`Pool2d`] holds one.
///
/// Along each axis the output has
///
/// ```text
/// out = floor((in + pad_begin + pad_end - dilation * (size - 1) - 1) / stride) + 1
/// ```
///
/// cells; with `ceil_mode`, `ceil` replaces `floor`, and a last window that
/// would start inside the end padding is dropped (PyTorch's rule). Without
/// padding or dilation this is the textbook's `W2 = (W1 - F) / S + 1`.
///
/// Output cell `o` covers the input cells `o * stride - pad_begin + t * dilation`
/// for `t` in `0..size`; cells outside the input are padding.
///
/// [`Pool2d`]: crate::Pool2d
///
/// # Examples
///
/// ```
/// use ndarray_pooling::{Padding, PoolError, Window2d};
///
/// let window = Window2d::new(3, 2).with_padding(1);
/// assert_eq!(window.output_shape([8, 64, 112, 112])?, [8, 64, 56, 56]);
///
/// let textbook = Window2d::new(2, 2); // (4 - 2) / 2 + 1 = 2
/// assert_eq!(textbook.output_shape([1, 1, 4, 4])?, [1, 1, 2, 2]);
///
/// let odd = Window2d::new((3, 2), (2, 1))
///     .with_padding(Padding::new(1, 0, 1, 1))
///     .with_ceil_mode(true);
/// assert_eq!(odd.output_shape([8, 3, 32, 32])?, [8, 3, 16, 33]);
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window2d {
    /// Window size (PyTorch's `kernel_size`).
    pub size: Size2d,
    /// Step between windows.
    pub stride: Size2d,
    /// Implicit padding.
    pub padding: Padding,
    /// Spacing between the window's cells; 1 is a dense window.
    pub dilation: Size2d,
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
}

impl Window2d {
    /// A window of `size` moving by `stride`, without padding or dilation.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Window2d;
    ///
    /// let window = Window2d::new((3, 2), 1);
    /// assert_eq!(window.output_shape([1, 1, 5, 5])?, [1, 1, 3, 4]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn new(size: impl Into<Size2d>, stride: impl Into<Size2d>) -> Self {
        Window2d {
            size: size.into(),
            stride: stride.into(),
            padding: Padding::zero(),
            dilation: Size2d::square(1),
            ceil_mode: false,
        }
    }

    /// The same window with `padding`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Padding, Window2d};
    ///
    /// let same = Window2d::new(3, 1).with_padding(1);
    /// assert_eq!(same.output_shape([1, 1, 6, 6])?, [1, 1, 6, 6]);
    /// let top_only = Window2d::new(3, 1).with_padding(Padding::new(2, 0, 0, 0));
    /// assert_eq!(top_only.output_shape([1, 1, 6, 6])?, [1, 1, 6, 4]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    #[must_use]
    pub fn with_padding(mut self, padding: impl Into<Padding>) -> Self {
        self.padding = padding.into();
        self
    }

    /// The same window with `dilation`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Window2d;
    ///
    /// // 3 cells, 2 apart: the window spans 5 cells
    /// let dilated = Window2d::new(3, 1).with_dilation(2);
    /// assert_eq!(dilated.output_shape([1, 1, 7, 7])?, [1, 1, 3, 3]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    #[must_use]
    pub fn with_dilation(mut self, dilation: impl Into<Size2d>) -> Self {
        self.dilation = dilation.into();
        self
    }

    /// The same window with `ceil_mode`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Window2d;
    ///
    /// let floor = Window2d::new(2, 2);
    /// assert_eq!(floor.output_shape([1, 1, 5, 5])?, [1, 1, 2, 2]);
    /// assert_eq!(floor.with_ceil_mode(true).output_shape([1, 1, 5, 5])?, [1, 1, 3, 3]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    #[must_use]
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }

    /// Checks what can be checked without an input: no zero size, stride or
    /// dilation.
    ///
    /// # Errors
    ///
    /// [`PoolError::ZeroParameter`] naming the parameter.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{PoolError, Window2d};
    ///
    /// assert!(Window2d::new(2, 2).validate().is_ok());
    /// assert_eq!(
    ///     Window2d::new(2, (1, 0)).validate(),
    ///     Err(PoolError::ZeroParameter { parameter: "stride", height: 1, width: 0 })
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), PoolError> {
        self.size.validate("size")?;
        self.stride.validate("stride")?;
        self.dilation.validate("dilation")
    }

    /// The output shape for an NCHW input of shape `input`.
    ///
    /// # Errors
    ///
    /// Every geometry error: a zero parameter, a window that does not fit the
    /// padded input, a window over padding only, or sizes that overflow.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::Window2d;
    ///
    /// assert_eq!(Window2d::new(2, 2).output_shape([32, 64, 112, 112])?, [32, 64, 56, 56]);
    /// assert!(Window2d::new(5, 1).output_shape([1, 1, 4, 4]).is_err());
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn output_shape(&self, input: [usize; 4]) -> Result<[usize; 4], PoolError> {
        let plan = self.plan(input[2], input[3])?;
        output_shape(input, plan.out_height(), plan.out_width())
    }

    /// The padding in cells for an input plane of `height x width`: the
    /// window's own, or for SAME padding the cells that make the output
    /// `ceil(input / stride)` long.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray_pooling::{Padding, Window2d};
    ///
    /// let explicit = Window2d::new(3, 1).with_padding(1);
    /// assert_eq!(explicit.resolved_padding(10, 10), Padding::new(1, 1, 1, 1));
    /// let same = Window2d::new(3, 1).with_padding(Padding::same_upper());
    /// assert_eq!(same.resolved_padding(10, 10), Padding::new(1, 1, 1, 1));
    /// ```
    pub fn resolved_padding(&self, height: usize, width: usize) -> Padding {
        let p = self.padding;
        let axis = |input: usize, size: usize, stride: usize, dilation: usize| {
            let stride = stride.max(1);
            let extent = size
                .saturating_sub(1)
                .saturating_mul(dilation)
                .saturating_add(1);
            let out = input.div_ceil(stride);
            let total = (out.saturating_sub(1).saturating_mul(stride))
                .saturating_add(extent)
                .saturating_sub(input);
            match p.same {
                Same::Lower => (total - total / 2, total / 2),
                _ => (total / 2, total - total / 2),
            }
        };
        match p.same {
            Same::No => p,
            Same::Upper | Same::Lower => {
                let (top, bottom) = axis(
                    height,
                    self.size.height,
                    self.stride.height,
                    self.dilation.height,
                );
                let (left, right) = axis(
                    width,
                    self.size.width,
                    self.stride.width,
                    self.dilation.width,
                );
                Padding::new(top, bottom, left, right)
            }
        }
    }

    /// Resolves every window for an input plane of `height x width`.
    pub(crate) fn plan(&self, height: usize, width: usize) -> Result<Plan, PoolError> {
        self.validate()?;
        let padding = self.resolved_padding(height, width);
        let Window2d {
            size,
            stride,
            dilation,
            ceil_mode,
            ..
        } = *self;
        let rows = AxisSpec {
            axis: "height",
            input: height,
            size: size.height,
            stride: stride.height,
            dilation: dilation.height,
            pad_begin: padding.top,
            pad_end: padding.bottom,
        };
        let cols = AxisSpec {
            axis: "width",
            input: width,
            size: size.width,
            stride: stride.width,
            dilation: dilation.width,
            pad_begin: padding.left,
            pad_end: padding.right,
        };
        let (row_extent, row_padded) = rows.extents()?;
        let (col_extent, col_padded) = cols.extents()?;
        if row_extent > row_padded || col_extent > col_padded {
            return Err(PoolError::WindowTooLarge {
                window: (row_extent, col_extent),
                padded_input: (row_padded, col_padded),
            });
        }
        Ok(Plan {
            rows: rows.resolve(ceil_mode)?,
            cols: cols.resolve(ceil_mode)?,
        })
    }
}

/// `[n, c, out_height, out_width]`, checked so that the element count fits
/// an ndarray allocation.
pub(crate) fn output_shape(
    input: [usize; 4],
    out_height: usize,
    out_width: usize,
) -> Result<[usize; 4], PoolError> {
    let shape = [input[0], input[1], out_height, out_width];
    let elements = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&e| e <= isize::MAX as usize);
    match elements {
        Some(_) => Ok(shape),
        None => Err(PoolError::Overflow {
            what: "output element count",
        }),
    }
}

/// One axis of a window, before it is resolved against an input.
struct AxisSpec {
    axis: &'static str,
    input: usize,
    size: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    pad_end: usize,
}

impl AxisSpec {
    /// `(dilated window extent, padded input extent)`.
    fn extents(&self) -> Result<(usize, usize), PoolError> {
        let extent = (self.size - 1)
            .checked_mul(self.dilation)
            .and_then(|e| e.checked_add(1))
            .ok_or(PoolError::Overflow {
                what: "dilated window extent",
            })?;
        let padded = self
            .input
            .checked_add(self.pad_begin)
            .and_then(|p| p.checked_add(self.pad_end))
            .ok_or(PoolError::Overflow {
                what: "padded input extent",
            })?;
        Ok((extent, padded))
    }

    /// Every window along this axis; the caller has checked that the window
    /// fits the padded input.
    fn resolve(&self, ceil_mode: bool) -> Result<AxisPlan, PoolError> {
        let empty = |output_index| PoolError::EmptyWindow {
            axis: self.axis,
            output_index,
            input: self.input,
            padding: (self.pad_begin, self.pad_end),
            dilation: self.dilation,
        };
        if self.input == 0 {
            return Err(empty(0));
        }
        let (extent, padded) = self.extents()?;
        let span = padded - extent;
        let mut output = if ceil_mode {
            span.div_ceil(self.stride) + 1
        } else {
            span / self.stride + 1
        };
        // PyTorch drops a last window that starts inside the end padding.
        if ceil_mode && (output - 1) * self.stride >= self.input + self.pad_begin {
            output -= 1;
        }
        let real_end = self.pad_begin + self.input;
        let windows = (0..output)
            .map(|o| {
                // Padded coordinates: the input occupies pad_begin..real_end.
                let begin = o * self.stride;
                let first_tap = self.pad_begin.saturating_sub(begin).div_ceil(self.dilation);
                let taps_before = |end: usize| {
                    end.saturating_sub(begin)
                        .div_ceil(self.dilation)
                        .min(self.size)
                };
                let taps = taps_before(real_end).saturating_sub(first_tap);
                if taps == 0 {
                    return Err(empty(o));
                }
                Ok(AxisWindow {
                    start: begin + first_tap * self.dilation - self.pad_begin,
                    taps,
                    padded_taps: taps_before(padded),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AxisPlan::new(
            self.input,
            self.size,
            self.stride,
            self.dilation,
            windows,
        ))
    }
}

/// One window along one axis: its real input cells are
/// `start, start + dilation, ..., start + (taps - 1) * dilation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AxisWindow {
    /// First real input cell.
    pub start: usize,
    /// Number of real input cells, at least 1.
    pub taps: usize,
    /// Number of cells inside the padded input, padding included.
    pub padded_taps: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AxisPlan {
    pub input: usize,
    pub size: usize,
    pub stride: usize,
    pub dilation: usize,
    pub windows: Vec<AxisWindow>,
    /// [`interior`](Self::interior), computed once.
    full: (usize, usize),
}

impl AxisPlan {
    fn new(
        input: usize,
        size: usize,
        stride: usize,
        dilation: usize,
        windows: Vec<AxisWindow>,
    ) -> Self {
        let mut plan = AxisPlan {
            input,
            size,
            stride,
            dilation,
            windows,
            full: (0, 0),
        };
        let full = plan.find_interior();
        plan.full = (full.start, full.end);
        plan
    }

    /// The windows that hold all `size` cells: a contiguous run, in which
    /// window `o` starts at `windows[start].start + (o - start) * stride`.
    #[inline]
    pub fn interior(&self) -> std::ops::Range<usize> {
        self.full.0..self.full.1
    }

    fn find_interior(&self) -> std::ops::Range<usize> {
        if self.stride == 0 {
            // adaptive windows: no regular run
            return 0..0;
        }
        let full = |w: &AxisWindow| w.taps == self.size;
        match self.windows.iter().position(full) {
            Some(start) => {
                let len = self.windows[start..].iter().take_while(|w| full(w)).count();
                start..start + len
            }
            None => 0..0,
        }
    }

    /// Whether no input cell lies in two windows.
    pub fn disjoint(&self) -> bool {
        self.dilation == 1 && self.stride != 0 && self.stride >= self.size
    }

    /// The last real input cell of window `w`.
    pub fn last_cell(&self, w: &AxisWindow) -> usize {
        w.start + (w.taps - 1) * self.dilation
    }

    /// The real input cells of window `w`.
    #[inline]
    pub fn cells(&self, w: &AxisWindow) -> impl Iterator<Item = usize> + Clone + use<> {
        let (start, dilation) = (w.start, self.dilation);
        (0..w.taps).map(move |tap| start + tap * dilation)
    }
}

/// Every window of a plane, resolved once and shared by forward and backward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub rows: AxisPlan,
    pub cols: AxisPlan,
}

impl Plan {
    /// PyTorch's adaptive windows: output cell `i` of `output` covers input
    /// cells `floor(i * input / output)..ceil((i + 1) * input / output)`.
    pub fn adaptive(
        (in_height, in_width): (usize, usize),
        (out_height, out_width): (usize, usize),
    ) -> Result<Plan, PoolError> {
        Size2d::new(out_height, out_width).validate("output size")?;
        let axis = |name: &'static str, input: usize, output: usize| {
            if input == 0 {
                return Err(PoolError::EmptyWindow {
                    axis: name,
                    output_index: 0,
                    input,
                    padding: (0, 0),
                    dilation: 1,
                });
            }
            let overflow = PoolError::Overflow {
                what: "adaptive window bounds",
            };
            let windows = (0..output)
                .map(|i| {
                    let start = i.checked_mul(input).ok_or(overflow.clone())? / output;
                    let end = (i + 1)
                        .checked_mul(input)
                        .ok_or(overflow.clone())?
                        .div_ceil(output);
                    Ok(AxisWindow {
                        start,
                        taps: end - start,
                        padded_taps: end - start,
                    })
                })
                .collect::<Result<Vec<_>, PoolError>>()?;
            let size = windows.iter().map(|w| w.taps).max().unwrap_or(1);
            Ok(AxisPlan::new(input, size, 0, 1, windows))
        };
        Ok(Plan {
            rows: axis("height", in_height, out_height)?,
            cols: axis("width", in_width, out_width)?,
        })
    }

    /// The plan of no windows at all.
    pub fn empty() -> Self {
        let axis = AxisPlan::new(0, 1, 1, 1, Vec::new());
        Plan {
            rows: axis.clone(),
            cols: axis,
        }
    }

    pub fn out_height(&self) -> usize {
        self.rows.windows.len()
    }

    pub fn out_width(&self) -> usize {
        self.cols.windows.len()
    }

    pub fn in_height(&self) -> usize {
        self.rows.input
    }

    pub fn in_width(&self) -> usize {
        self.cols.input
    }

    /// The divisor of the mean window made of `row` and `col`.
    pub fn divisor(row: &AxisWindow, col: &AxisWindow, divisor: MeanDivisor) -> usize {
        match divisor {
            MeanDivisor::PaddedWindow => row.padded_taps * col.padded_taps,
            MeanDivisor::RealCells => row.taps * col.taps,
            MeanDivisor::Fixed(d) => d.get(),
        }
    }
}

/// For every input cell of one axis, the windows that reach it, in order.
pub(crate) struct Reach {
    /// Cell `i`'s windows at `windows[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    windows: Vec<usize>,
}

impl Reach {
    pub fn new(axis: &AxisPlan) -> Self {
        let mut counts = vec![0; axis.input + 1];
        for window in &axis.windows {
            for cell in axis.cells(window) {
                counts[cell + 1] += 1;
            }
        }
        let mut starts = counts;
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut windows = vec![0; starts[axis.input]];
        for (o, window) in axis.windows.iter().enumerate() {
            for cell in axis.cells(window) {
                windows[next[cell]] = o;
                next[cell] += 1;
            }
        }
        Reach { starts, windows }
    }

    #[inline]
    pub fn of(&self, cell: usize) -> &[usize] {
        &self.windows[self.starts[cell]..self.starts[cell + 1]]
    }

    /// The most windows reaching one cell.
    pub fn most(&self) -> usize {
        self.starts
            .windows(2)
            .map(|s| s[1] - s[0])
            .max()
            .unwrap_or(0)
    }
}
