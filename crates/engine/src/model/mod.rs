//! Models: hyper-parameters, weights on the GPU, and the forward pass.

pub mod config;
pub mod forward;
#[cfg(not(target_arch = "wasm32"))]
pub mod reference;
pub mod weights;

pub use config::{Arch, Config};
pub use forward::{Model, PassProfile, Sampling, MAX_DRAFT};
pub use weights::GgufModel;
