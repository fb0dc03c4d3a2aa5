//! Locum's inference engine: GGUF language models on WebGPU.
//!
//! The same code runs natively (wgpu on Vulkan, Metal, DX12) and in the
//! browser (WebGPU). Weights are quantized and dequantized inside hand-written
//! WGSL kernels; activations are f32, so every adapter runs it, SwiftShader
//! included. `format` reads files, `gpu` and `ops` hold every wgpu call,
//! `model` is the forward pass, `tokenizer` and `chat` turn text into tokens.

pub mod chat;
pub mod format;
pub mod generate;
pub mod gpu;
pub mod model;
pub mod ops;
pub mod shaders;
pub mod tokenizer;

pub use chat::{ChatTemplate, Message};
pub use format::gguf::{Gguf, GgufError};
pub use format::manifest::Manifest;
pub use format::quant::GgmlType;
pub use generate::{Control, GenStats, Session, TokenConstraint};
pub use gpu::{AdapterSummary, Gpu};
pub use model::{Config, GgufModel, Model, Sampling};
pub use tokenizer::{TextStream, Tokenizer};

/// Everything that can go wrong in the engine, each with a sentence a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the model file is malformed: {0}")]
    Gguf(#[from] GgufError),
    #[error("no GPU adapter is available ({0})")]
    NoAdapter(String),
    #[error("the GPU refused to open a device ({0})")]
    NoDevice(String),
    #[error("the GPU was lost or stopped answering ({0}); reload to start again")]
    DeviceLost(String),
    #[error("the GPU refused the engine's work ({0}), so no answer from it can be trusted; reload to start again, and report it if it happens again")]
    GpuRefused(String),
    #[error("the model architecture {0:?} is not supported (supported: llama, gemma3, qwen3)")]
    UnsupportedArch(String),
    #[error("tensor {tensor:?} is of type {ty}, which this engine cannot run yet")]
    UnsupportedType { tensor: String, ty: &'static str },
    #[error("the model has no tensor {0:?}")]
    MissingTensor(String),
    #[error("the model's settings are not usable: {0}")]
    BadConfig(String),
    #[error("tensor {tensor:?} needs {bytes} bytes in one GPU buffer, more than this GPU allows ({limit})")]
    TooLarge {
        tensor: String,
        bytes: u64,
        limit: u64,
    },
    #[error("the text needs {needed} positions but the context holds {ctx}; shorten it")]
    ContextFull { ctx: u32, needed: usize },
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the tokenizer failed: {0}")]
    Tokenizer(String),
    #[error("the tokenizer is not supported: {0}")]
    UnsupportedTokenizer(String),
    #[error("the model has no chat template")]
    NoChatTemplate,
    #[error("the chat template failed: {0}")]
    Template(String),
    #[error("constrained decoding failed: {0}")]
    Constraint(String),
    #[error("the model's manifest is not usable: {0}")]
    BadManifest(String),
    #[error("the model's manifest is format version {0}, which this version of Locum cannot read; update Locum or convert the model again")]
    ManifestVersion(u64),
    #[error("the model's file {file} is damaged: its checksum does not match the manifest")]
    BadChecksum { file: String },
    #[error("the model's file {file} could not be read: {reason}")]
    Io { file: String, reason: String },
}

pub type Result<T> = std::result::Result<T, Error>;
