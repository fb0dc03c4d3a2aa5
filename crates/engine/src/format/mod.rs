//! File formats: GGUF, the quantized block layouts, the plan that turns a
//! GGUF into GPU-ready tensors, and the shard manifest.

pub mod gguf;
pub mod gguf_write;
pub mod manifest;
pub mod plan;
pub mod quant;
