//! What the real-model tests share: where the default model is, and a
//! session on it.

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

/// The default model's bytes, or an error naming where it should be.
#[allow(dead_code)] // not every test that shares this file reads it
pub fn model_bytes() -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let p = model_path();
    std::fs::read(&p).with_context(|| format!("the default model is missing at {}", p.display()))
}

/// The default model on the first adapter with a KV cache of `ctx`
/// positions, for the tests that drive a `Session`.
#[allow(dead_code)] // not every test that shares this file loads a session
pub fn load_session(ctx: u32) -> anyhow::Result<(locum_engine::Gpu, locum_engine::Session)> {
    let bytes = model_bytes()?;
    let gpu = pollster::block_on(locum_engine::Gpu::new())?;
    let session = locum_engine::Session::load(&gpu, &bytes, ctx)?;
    Ok((gpu, session))
}
