#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod geometry;
mod layout;
mod max;
mod mean;
mod pool;

pub use error::PoolError;
pub use geometry::{MeanDivisor, Padding, Size2d, Window2d};
pub use max::{max_pool2d, max_pool2d_backward};
pub use mean::{mean_pool2d, mean_pool2d_backward};
pub use pool::{Pool2d, Pool2dBuilder, PoolMode};
