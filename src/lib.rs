#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod adaptive;
mod argmax;
mod element;
mod error;
mod geometry;
mod isa;
mod layout;
mod lp;
mod max;
mod mean;
mod nhwc;
mod parallel;
mod phases;
mod pool;
mod separable;
mod unpool;

pub use adaptive::{
    AdaptivePool2d, adaptive_max_pool2d, adaptive_max_pool2d_argmax, adaptive_max_pool2d_backward,
    adaptive_mean_pool2d, adaptive_mean_pool2d_backward,
};
pub use argmax::Argmax;
pub use element::{MeanElement, PoolElement};
pub use error::PoolError;
pub use geometry::{MeanDivisor, Padding, Size2d, Window2d};
pub use lp::{lp_pool2d, lp_pool2d_backward};
pub use max::{
    max_pool2d, max_pool2d_argmax, max_pool2d_backward, max_pool2d_backward_argmax,
    max_pool2d_backward_argmax_into, max_pool2d_into, max_pool2d_without_indices,
    max_pool2d_without_indices_into, min_pool2d, min_pool2d_argmax, min_pool2d_into,
    min_pool2d_without_indices, min_pool2d_without_indices_into,
};
pub use mean::{mean_pool2d, mean_pool2d_backward, mean_pool2d_backward_into, mean_pool2d_into};
pub use nhwc::{
    max_pool2d_nhwc, max_pool2d_nhwc_backward, max_pool2d_nhwc_backward_into, max_pool2d_nhwc_into,
    max_pool2d_nhwc_without_indices, max_pool2d_nhwc_without_indices_into, mean_pool2d_nhwc,
    mean_pool2d_nhwc_backward, mean_pool2d_nhwc_backward_into, mean_pool2d_nhwc_into,
};
pub use pool::{Pool2d, Pool2dBuilder, PoolMode};
pub use unpool::{
    StorageOrder, indices_from_onnx, indices_from_tensorflow, indices_to_onnx,
    indices_to_tensorflow, max_unpool2d, max_unpool2d_backward, max_unpool2d_size,
};
