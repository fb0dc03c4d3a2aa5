//! The page's state: the typed bridge to the inference worker, the WebGPU
//! check and the offline app shell. No tensors and no GPU calls here; those
//! live in the worker.

pub mod assistant;
pub mod case;
pub mod import;
pub mod models;
pub mod note;
pub mod offline;
pub mod quote;
pub mod webgpu;

pub use assistant::{provide_assistant_context, use_assistant, AnswerState, ModelInfo, Phase};
