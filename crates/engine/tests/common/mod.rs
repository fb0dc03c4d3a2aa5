//! What the real-model tests share: where the default model is.

use std::path::PathBuf;

/// The default model: LOCUM_TEST_MODEL, else where `cargo xtask setup`
/// puts it.
pub fn model_path() -> PathBuf {
    match std::env::var_os("LOCUM_TEST_MODEL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    }
}
