//! Models: hyper-parameters, weights on the GPU, and the forward pass.

pub mod config;
pub mod forward;
pub mod weights;

pub use config::{Arch, Config};
pub use forward::{Model, Sampling};
pub use weights::GgufModel;
