//! File formats: GGUF and the quantized block layouts.

pub mod gguf;
pub mod quant;
