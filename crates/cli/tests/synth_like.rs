//! `locum synth --like`: the default model's header alone (what the GPU
//! check carries, scripts/device/) is a few MB and says what the file's does;
//! the model made from it has the real file's data length, metadata (its name
//! saying what it is), tensor names, types, shapes and offsets, norm weights
//! near 1 and other data, and the engine runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use locum_engine::format::gguf::Value;
use locum_engine::{GgmlType, Gguf};

fn locum(args: &[&str]) -> Result<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_locum"))
        .args(args)
        .output()?;
    ensure!(
        out.status.success(),
        "locum {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn a_model_shaped_like_the_default_one_from_its_header() -> Result<()> {
    let real = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let real_bytes = std::fs::read(&real)
        .with_context(|| format!("{} is missing: run `cargo xtask setup`", real.display()))?;
    let real_gguf = Gguf::parse(&real_bytes)?;
    let dir = std::env::temp_dir().join(format!("locum-synth-like-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (head, made) = (dir.join("head.gguf"), dir.join("made.gguf"));

    locum(&[
        "synth",
        "--like",
        path(&real),
        "--header-only",
        "--out",
        path(&head),
    ])?;
    let head_bytes = std::fs::read(&head)?;
    ensure!(
        head_bytes.len() as u64 == real_gguf.data_offset && head_bytes.len() < 3 << 20,
        "the header is {} bytes, the file's data starts at {}",
        head_bytes.len(),
        real_gguf.data_offset
    );
    let head_gguf = Gguf::parse_header(&head_bytes, u64::MAX)?;
    ensure!(
        head_gguf.metadata == real_gguf.metadata && head_gguf.tensors == real_gguf.tensors,
        "the header does not say what the file's does"
    );

    locum(&["synth", "--like", path(&head), "--out", path(&made)])?;
    let made_bytes = std::fs::read(&made)?;
    let made_gguf = Gguf::parse(&made_bytes)?;
    let data = |bytes: &[u8], g: &Gguf| bytes.len() as u64 - g.data_offset;
    ensure!(
        data(&made_bytes, &made_gguf) == data(&real_bytes, &real_gguf),
        "{} bytes of tensor data against {}",
        data(&made_bytes, &made_gguf),
        data(&real_bytes, &real_gguf)
    );
    ensure!(
        made_gguf.tensors == real_gguf.tensors,
        "the tensor directories differ"
    );
    for (k, v) in &real_gguf.metadata {
        if k == "general.name" {
            let Some(Value::String(name)) = made_gguf.metadata.get(k) else {
                anyhow::bail!("no name");
            };
            ensure!(
                name.ends_with("its shape with random weights"),
                "named {name:?}"
            );
        } else {
            ensure!(made_gguf.metadata.get(k) == Some(v), "metadata {k} differs");
        }
    }
    ensure!(
        made_gguf.metadata.len() == real_gguf.metadata.len(),
        "extra metadata"
    );
    let mut norms = 0;
    for t in &made_gguf.tensors {
        let range = made_gguf.tensor_range(t);
        ensure!(
            made_bytes[range.clone()] != real_bytes[real_gguf.tensor_range(t)],
            "{} was copied",
            t.name
        );
        if t.ty == GgmlType::F32 && t.shape.len() == 1 {
            let values: Vec<f32> = made_bytes[range]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            ensure!(
                values.iter().all(|v| (0.94..=1.06).contains(v)),
                "{}: norm weights away from 1",
                t.name
            );
            norms += 1;
        }
    }
    ensure!(
        norms == 61,
        "{norms} norm vectors (30 layers × 2 and the output's)"
    );

    // The engine loads and runs it (a refused or failed run exits non-zero).
    locum(&[
        "generate",
        "--model",
        path(&made),
        "--prompt",
        "Fever and cough.",
        "--max-tokens",
        "3",
        "--ctx",
        "64",
    ])?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
