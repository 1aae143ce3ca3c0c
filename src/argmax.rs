//! Compact argmax storage: each window's winner as its offset within the
//! window, one byte when the window has at most 256 cells.

use ndarray::{Array4, ArrayRef, Ix4};

use crate::PoolError;
use crate::geometry::{Plan, Window2d};
use crate::isa;

/// An offset within a window, stored in the narrowest type that holds every
/// offset of the window.
pub(crate) trait Offset:
    Copy + Default + PartialEq + Send + Sync + num_traits::Zero + 'static
{
    fn from_usize(offset: usize) -> Self;
    fn to_usize(self) -> usize;
    /// `if wins { a } else { b }` by a mask of `wins` in the type's own
    /// width, so that loops selecting offsets beside `f32` or `f64` values
    /// vectorize: as an `if`, LLVM kept them scalar, a branch a cell.
    fn pick(wins: bool, a: Self, b: Self) -> Self;
}

macro_rules! offset {
    ($($t:ty),*) => {$(
        impl Offset for $t {
            #[inline(always)]
            fn from_usize(offset: usize) -> Self {
                offset as $t
            }
            #[inline(always)]
            fn to_usize(self) -> usize {
                self as usize
            }
            #[inline(always)]
            fn pick(wins: bool, a: Self, b: Self) -> Self {
                let mask = <$t>::from(wins).wrapping_neg();
                (a & mask) | (b & !mask)
            }
        }
    )*};
}
offset!(u8, u16, u32);

/// Turns a window offset into the distance, in plane cells, from the
/// window's first real cell to the cell it names: `(offset / size_w) *
/// dilation_h * width + (offset % size_w) * dilation_w`, looked up in a table
/// for windows of up to 4096 cells (no division in the hot loop).
pub(crate) struct CellTable {
    table: Vec<usize>,
    size_w: usize,
    row_step: usize,
    col_step: usize,
}

impl CellTable {
    pub fn new(plan: &Plan) -> Self {
        let size_w = plan.cols.size;
        let row_step = plan.rows.dilation * plan.in_width();
        let col_step = plan.cols.dilation;
        let cells = plan.rows.size.saturating_mul(size_w);
        let table = if cells <= 4096 {
            (0..cells)
                .map(|o| o / size_w * row_step + o % size_w * col_step)
                .collect()
        } else {
            Vec::new()
        };
        CellTable {
            table,
            size_w,
            row_step,
            col_step,
        }
    }

    /// The distance of every offset, where the window has at most 4096
    /// cells.
    #[inline]
    pub fn distances(&self) -> Option<&[usize]> {
        Some(&self.table[..]).filter(|table| !table.is_empty())
    }

    #[inline(always)]
    pub fn distance(&self, offset: usize) -> usize {
        match self.table.get(offset) {
            Some(&distance) => distance,
            None => offset / self.size_w * self.row_step + offset % self.size_w * self.col_step,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Offsets {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

/// The argmax of a max forward in compact form, with the geometry it needs to
/// be read back.
///
/// Each output cell stores the offset of its winner within its window: with
/// the window's first real cell at `(h0, w0)`, the winner at
/// `(h0 + i * dilation_h, w0 + j * dilation_w)` is stored as
/// `i * size_w + j`, in a `u8` when the window has at most 256 cells (`u16`
/// or `u32` beyond). That is an eighth of PyTorch's `i64` indices, which
/// [`to_indices`](Self::to_indices) still yields.
///
/// Made by [`max_pool2d_argmax`](crate::max_pool2d_argmax) and
/// [`max_pool2d_into`](crate::max_pool2d_into); read by
/// [`max_pool2d_backward_argmax`](crate::max_pool2d_backward_argmax).
///
/// # Examples
///
/// ```
/// use ndarray::array;
/// use ndarray_pooling::{max_pool2d_argmax, PoolError, Window2d};
///
/// let x = array![[[[1f32, 3., 2., 1.], [4., 2., 0., 1.]]]];
/// let (y, argmax) = max_pool2d_argmax(&x, &Window2d::new(2, 2))?;
/// assert_eq!(y, array![[[[4., 2.]]]]);
/// assert_eq!(argmax.offset_bytes(), 1);
/// assert_eq!(argmax.to_indices(), array![[[[4, 2]]]]);
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argmax {
    pub(crate) offsets: Offsets,
    pub(crate) window: Option<Window2d>,
    pub(crate) plan: Plan,
    pub(crate) input_shape: [usize; 4],
    pub(crate) output_shape: [usize; 4],
}

impl Default for Argmax {
    /// An empty argmax, to be filled by [`max_pool2d_into`](crate::max_pool2d_into).
    fn default() -> Self {
        Argmax {
            offsets: Offsets::U8(Vec::new()),
            window: None,
            plan: Plan::empty(),
            input_shape: [0; 4],
            output_shape: [0; 4],
        }
    }
}

impl Argmax {
    /// The window of the forward that made it; `None` for adaptive pooling
    /// and for an empty argmax.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::Array4;
    /// use ndarray_pooling::{max_pool2d_argmax, Window2d};
    ///
    /// let window = Window2d::new(3, 2).with_padding(1);
    /// let (_, argmax) = max_pool2d_argmax(&Array4::<f32>::zeros((1, 2, 9, 9)), &window)?;
    /// assert_eq!(argmax.window(), Some(&window));
    /// assert_eq!(argmax.input_shape(), [1, 2, 9, 9]);
    /// assert_eq!(argmax.output_shape(), [1, 2, 5, 5]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn window(&self) -> Option<&Window2d> {
        self.window.as_ref()
    }

    /// The shape of that forward's input.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::Array4;
    /// use ndarray_pooling::{max_pool2d_argmax, Window2d};
    ///
    /// let (_, argmax) = max_pool2d_argmax(&Array4::<f64>::zeros((2, 3, 6, 4)), &Window2d::new(2, 2))?;
    /// assert_eq!(argmax.input_shape(), [2, 3, 6, 4]);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn input_shape(&self) -> [usize; 4] {
        self.input_shape
    }

    /// The shape of that forward's output, and of the argmax.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::Array4;
    /// use ndarray_pooling::{max_pool2d_argmax, Window2d};
    ///
    /// let (y, argmax) = max_pool2d_argmax(&Array4::<f64>::zeros((2, 3, 6, 4)), &Window2d::new(2, 2))?;
    /// assert_eq!(argmax.output_shape(), [2, 3, 3, 2]);
    /// assert_eq!(&argmax.output_shape()[..], y.shape());
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn output_shape(&self) -> [usize; 4] {
        self.output_shape
    }

    /// Bytes per stored offset: 1, 2 or 4.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::Array4;
    /// use ndarray_pooling::{max_pool2d_argmax, Window2d};
    ///
    /// let x = Array4::<f32>::zeros((1, 1, 40, 40));
    /// let (_, small) = max_pool2d_argmax(&x, &Window2d::new(16, 16))?; // 256 cells
    /// assert_eq!(small.offset_bytes(), 1);
    /// let (_, large) = max_pool2d_argmax(&x, &Window2d::new(17, 17))?; // 289 cells
    /// assert_eq!(large.offset_bytes(), 2);
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn offset_bytes(&self) -> usize {
        match self.offsets {
            Offsets::U8(_) => 1,
            Offsets::U16(_) => 2,
            Offsets::U32(_) => 4,
        }
    }

    /// PyTorch's indices: within each `(n, c)` plane, the flat index
    /// `h * W + w` of each window's winner.
    ///
    /// # Examples
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_pooling::{max_pool2d_argmax, Window2d};
    ///
    /// let x = array![[[[0f32, 1., 2.], [5., 4., 3.]]]];
    /// let (_, argmax) = max_pool2d_argmax(&x, &Window2d::new(2, 1))?;
    /// assert_eq!(argmax.to_indices(), array![[[[3, 4]]]]); // (1, 0) and (1, 1) in a 2x3 plane
    /// # Ok::<(), ndarray_pooling::PoolError>(())
    /// ```
    pub fn to_indices(&self) -> Array4<i64> {
        let mut values = vec![0; self.output_shape.iter().product()];
        self.indices_into(&mut values);
        Array4::from_shape_vec(self.output_shape, values)
            .expect("an argmax holds one offset per output cell")
    }

    /// [`to_indices`](Self::to_indices) into `indices`, which has the
    /// output shape, in any layout.
    pub(crate) fn write_indices(&self, indices: &mut ArrayRef<i64, Ix4>) {
        match indices.as_slice_mut() {
            Some(cells) => self.indices_into(cells),
            None => indices.assign(&self.to_indices()),
        }
    }

    /// Each output cell's flat index into `cells`, in standard order.
    fn indices_into(&self, cells: &mut [i64]) {
        match &self.offsets {
            Offsets::U8(o) => self.flat_indices(o, cells),
            Offsets::U16(o) => self.flat_indices(o, cells),
            Offsets::U32(o) => self.flat_indices(o, cells),
        }
    }

    /// An output row at a time: the row's first real input row, each
    /// window's first real column, and the offset's distance from there,
    /// looked up in a table of 256 for byte offsets (no bounds check).
    fn flat_indices<O: Offset>(&self, offsets: &[O], cells: &mut [i64]) {
        let plan = &self.plan;
        let (width, out_width) = (plan.in_width(), plan.out_width());
        if out_width == 0 {
            return;
        }
        let table = CellTable::new(plan);
        let cols: Vec<usize> = plan.cols.windows.iter().map(|col| col.start).collect();
        let bytes = std::mem::size_of::<O>() == 1;
        let mut distances = [0; 256];
        if let (true, Some(table)) = (bytes, table.distances()) {
            distances[..table.len()].copy_from_slice(table);
        }
        let len = cells.len();
        let rows = plan.rows.windows.iter().cycle();
        let runs = offsets
            .chunks_exact(out_width)
            .zip(cells.chunks_exact_mut(out_width));
        isa::wide(
            len,
            #[inline(always)]
            || {
                for (row, (offsets, cells)) in rows.zip(runs) {
                    let first = row.start * width;
                    let windows = cells.iter_mut().zip(offsets).zip(&cols);
                    if bytes {
                        for ((cell, &offset), &col) in windows {
                            let distance = distances[offset.to_usize() & 255];
                            *cell = (first + col + distance) as i64;
                        }
                    } else {
                        for ((cell, &offset), &col) in windows {
                            *cell = (first + col + table.distance(offset.to_usize())) as i64;
                        }
                    }
                }
            },
        )
    }

    /// Readies the storage for a forward over `plan`, reusing the allocation
    /// where it can.
    pub(crate) fn prepare(
        &mut self,
        window: Option<Window2d>,
        plan: &Plan,
        input_shape: [usize; 4],
        output_shape: [usize; 4],
    ) -> Result<(), PoolError> {
        let cells = plan
            .rows
            .size
            .checked_mul(plan.cols.size)
            .filter(|&cells| cells <= u32::MAX as usize)
            .ok_or(PoolError::Overflow {
                what: "window cell count",
            })?;
        // emptied, keeping the allocation of the right width: the forward
        // fills them (see `parallel::Out::New`)
        let offsets = std::mem::replace(&mut self.offsets, Offsets::U8(Vec::new()));
        self.offsets = match (offsets, cells) {
            (Offsets::U8(v), ..=256) => Offsets::U8(v),
            (_, ..=256) => Offsets::U8(Vec::new()),
            (Offsets::U16(v), 257..=65536) => Offsets::U16(v),
            (_, 257..=65536) => Offsets::U16(Vec::new()),
            (Offsets::U32(v), 65537..) => Offsets::U32(v),
            _ => Offsets::U32(Vec::new()),
        };
        self.window = window;
        self.plan = plan.clone();
        self.input_shape = input_shape;
        self.output_shape = output_shape;
        Ok(())
    }
}
