//! A model that cannot fit this adapter's buffers is refused when its
//! buffers are planned, before any weight byte is fetched or uploaded (the
//! browser's loader calls `Session::prepare`, hence `Model::new`, before it
//! downloads a shard), with a sentence naming the tensor and both sizes.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use anyhow::{Context, Result};
use locum_engine::format::plan;
use locum_engine::{Config, Error, GgufModel, Gpu, Model};

#[test]
fn a_tensor_larger_than_a_binding_is_refused_naming_it() -> Result<()> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let bytes = std::fs::read(&p)
        .with_context(|| format!("the default model is missing at {}", p.display()))?;
    let file = GgufModel::parse(&bytes)?;
    let cfg = Config::from_gguf(&file.gguf)?;
    let mut entries: Vec<_> = plan::plan(&file.gguf, u64::MAX)?
        .into_iter()
        .map(|p| p.entry)
        .collect();
    let gpu = pollster::block_on(Gpu::new())?;
    let limit = gpu.limits.max_storage_buffer_binding_size;
    let name = "blk.3.ffn_down.weight";
    let e = entries
        .iter_mut()
        .find(|e| e.name == name)
        .context("no ffn_down in layer 3")?;
    e.bytes = limit + 256;
    // As the loader does: buffers first, no upload.
    match Model::new(&gpu, cfg, &entries, 64) {
        Err(err @ Error::TooLarge { .. }) => {
            let text = err.to_string();
            assert!(
                text.contains(name) && text.contains(&limit.to_string()),
                "the refusal does not name the tensor and the limit: {text}"
            );
            Ok(())
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!(
            "a {}-byte tensor was accepted with a {limit}-byte limit",
            limit + 256
        ),
    }
}
