//! The converter and the shard loader against the GGUF they come from:
//! identical output for identical input, every tensor's values unchanged,
//! generation unchanged, one flipped byte caught, lying manifests refused.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use locum_engine::format::manifest::{Manifest, MAX_PART_BYTES};
use locum_engine::format::plan;
use locum_engine::format::quant::{dequantize, dequantize_gpu, GgmlType};
use locum_engine::{Gguf, Gpu, Sampling, Session};

fn model_path() -> PathBuf {
    match std::env::var_os("LOCUM_TEST_MODEL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    }
}

fn model_bytes() -> Result<Vec<u8>> {
    let p = model_path();
    std::fs::read(&p).with_context(|| {
        format!(
            "the default model is missing at {}: run `cargo xtask setup`",
            p.display()
        )
    })
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("locum-shard-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn convert(name: &str, shard_mib: u64) -> Result<(PathBuf, Manifest)> {
    let dir = scratch(name)?;
    let r = locum_shard::convert(&model_path(), &dir, shard_mib << 20, None)?;
    Ok((dir, r.manifest))
}

fn files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path())?,
        ));
    }
    out.sort();
    Ok(out)
}

#[test]
fn the_same_gguf_gives_byte_identical_shards() -> Result<()> {
    let (a, ma) = convert("same-a", 16)?;
    let (b, _) = convert("same-b", 16)?;
    assert!(
        ma.shards.len() >= 5,
        "16 MiB shards of ~98 MB: {}",
        ma.shards.len()
    );
    let (fa, fb) = (files(&a)?, files(&b)?);
    assert_eq!(fa.len(), fb.len());
    for ((na, ba), (nb, bb)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs between two conversions");
    }
    // A shard holds at most 16 MiB, unless one tensor alone is larger.
    for (i, s) in ma.shards.iter().enumerate() {
        let n = ma.in_shard(i as u32).count();
        assert!(n >= 1, "{} holds no tensor", s.file);
        assert!(
            s.bytes <= 16 << 20 || n == 1,
            "{} is {} bytes with {n} tensors",
            s.file,
            s.bytes
        );
    }
    Ok(())
}

#[test]
fn every_tensor_in_the_shards_equals_the_gguf() -> Result<()> {
    let bytes = model_bytes()?;
    let g = Gguf::parse(&bytes)?;
    let (dir, m) = convert("values", 32)?;
    let shards: Vec<Vec<u8>> = m
        .shards
        .iter()
        .map(|s| std::fs::read(dir.join(&s.file)))
        .collect::<std::io::Result<_>>()?;
    // A fused tensor (Q, K, V in one; gate and up interleaved) holds its
    // members' rows; every GGUF tensor is in exactly one entry.
    let mut covered = 0;
    for e in &m.tensors {
        let values = |name: &str| -> Result<Vec<f32>> {
            let info = g.tensor(name).context("tensor not in the GGUF")?;
            dequantize(info.ty, &bytes[g.tensor_range(info)]).context("type")
        };
        let want = match plan::fused_members(&e.name) {
            None => {
                covered += 1;
                values(&e.name)?
            }
            Some((fusion, members)) => {
                covered += members.len();
                let parts: Vec<Vec<f32>> =
                    members.iter().map(|n| values(n)).collect::<Result<_>>()?;
                let row = e.shape[0] as usize;
                match fusion {
                    plan::Fusion::Interleave => (0..parts[0].len() / row)
                        .flat_map(|r| {
                            parts
                                .iter()
                                .flat_map(move |p| p[r * row..(r + 1) * row].to_vec())
                        })
                        .collect(),
                    _ => parts.concat(),
                }
            }
        };
        let slice = &shards[e.shard as usize][e.offset as usize..(e.offset + e.bytes) as usize];
        let ty = GgmlType::from_name(&e.ty).context("type name")?;
        let got = dequantize_gpu(ty, slice, want.len(), e.shape[0] as usize).context("gpu type")?;
        assert_eq!(got.len(), want.len(), "{}: length", e.name);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                a.to_bits() == b.to_bits(),
                "{} index {i}: shard {a} vs gguf {b}",
                e.name
            );
        }
    }
    assert_eq!(
        covered,
        g.tensors.len(),
        "every GGUF tensor is in the shards"
    );
    Ok(())
}

#[test]
fn a_tensor_larger_than_a_part_is_split_into_row_blocks() -> Result<()> {
    let bytes = model_bytes()?;
    let g = Gguf::parse(&bytes)?;
    let whole = plan::plan(&g, MAX_PART_BYTES)?;
    let split = plan::plan(&g, 4 << 20)?;
    let name = "token_embd.weight";
    let one = whole
        .iter()
        .find(|p| p.entry.name == name)
        .context("embedding")?;
    let parts: Vec<_> = split.iter().filter(|p| p.entry.name == name).collect();
    assert!(
        one.entry.bytes > 4 << 20 && parts.len() >= 2,
        "{} parts",
        parts.len()
    );
    // Each part is a matrix of its rows in the GPU layout: their values,
    // joined, are the whole tensor's.
    let ty = GgmlType::from_name(&one.entry.ty).context("type")?;
    let row = one.entry.shape[0] as usize;
    let values = |p: &plan::Planned, rows: u64| -> Result<Vec<f32>> {
        let b = plan::tensor_bytes(&g, &bytes, p)?;
        dequantize_gpu(ty, &b, rows as usize * row, row).context("dequantize")
    };
    let mut joined = Vec::new();
    let mut next_row = 0;
    for (i, p) in parts.iter().enumerate() {
        let part = p.entry.part.context("a part")?;
        assert_eq!((part.index as usize, part.count as usize), (i, parts.len()));
        assert_eq!(part.first_row, next_row);
        assert!(p.entry.bytes <= 4 << 20);
        next_row += part.rows;
        joined.extend(values(p, part.rows)?);
    }
    assert_eq!(next_row, one.entry.shape[1]);
    let whole_values = values(one, one.entry.shape[1])?;
    assert!(
        joined.len() == whole_values.len()
            && joined
                .iter()
                .zip(&whole_values)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
        "parts joined differ from the whole"
    );
    Ok(())
}

#[test]
fn verify_names_every_shard_with_one_flipped_byte() -> Result<()> {
    let (dir, m) = convert("flip", 32)?;
    let (_, bad) = locum_shard::verify(&dir)?;
    assert!(bad.is_empty(), "fresh shards: {bad:?}");
    for (i, s) in m.shards.iter().enumerate() {
        let path = dir.join(&s.file);
        let mut b = std::fs::read(&path)?;
        // A different byte in each shard: first, middle, last.
        let at = [0, b.len() / 2, b.len() - 1][i % 3];
        b[at] ^= 0x01;
        std::fs::write(&path, &b)?;
        let (_, bad) = locum_shard::verify(&dir)?;
        assert_eq!(bad.len(), 1, "flipping byte {at} of {}: {bad:?}", s.file);
        assert_eq!(bad[0].file, s.file);
        b[at] ^= 0x01;
        std::fs::write(&path, &b)?;
    }
    std::fs::remove_file(dir.join(&m.shards[0].file))?;
    let (_, bad) = locum_shard::verify(&dir)?;
    assert_eq!(
        (bad[0].file.as_str(), bad[0].problem.as_str()),
        (m.shards[0].file.as_str(), "missing")
    );
    Ok(())
}

#[test]
fn generation_from_shards_equals_generation_from_the_gguf() -> Result<()> {
    let bytes = model_bytes()?;
    let (dir, _) = convert("generate", 32)?;
    let gpu = pollster::block_on(Gpu::new())?;
    let mut a = Session::load(&gpu, &bytes, 256)?;
    let mut b = Session::load_dir(&gpu, &dir, 256)?;
    let ids = a.prompt_ids("Name three causes of chest pain.", true)?;
    assert_eq!(ids, b.prompt_ids("Name three causes of chest pain.", true)?);
    let ta = pollster::block_on(a.generate(&ids, 16, Sampling::greedy(), |_| true))?.tokens;
    let tb = pollster::block_on(b.generate(&ids, 16, Sampling::greedy(), |_| true))?.tokens;
    assert_eq!(ta.len(), 16);
    assert_eq!(ta, tb, "GGUF vs shards");
    Ok(())
}

#[test]
fn the_loader_refuses_a_damaged_shard() -> Result<()> {
    let (dir, m) = convert("damaged", 32)?;
    let path = dir.join(&m.shards[1].file);
    let mut b = std::fs::read(&path)?;
    b[12345] ^= 0x80;
    std::fs::write(&path, &b)?;
    let gpu = pollster::block_on(Gpu::new())?;
    let err = Session::load_dir(&gpu, &dir, 64)
        .err()
        .context("a damaged shard loaded")?;
    assert!(err.to_string().contains(&m.shards[1].file), "{err}");
    Ok(())
}

/// A change to a manifest's JSON.
type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

/// The real manifest, edited by `f`, then parsed.
fn parse_edited(
    m: &Manifest,
    f: impl FnOnce(&mut serde_json::Value),
) -> locum_engine::Result<Manifest> {
    let mut v: serde_json::Value = serde_json::from_str(&m.to_json()).expect("own JSON");
    f(&mut v);
    Manifest::parse(&v.to_string())
}

#[test]
fn a_lying_or_foreign_manifest_is_refused_with_its_reason() -> Result<()> {
    let (_, m) = convert("lies", 32)?;
    assert_eq!(Manifest::parse(&m.to_json())?, m);
    let err = Manifest::parse("{\"format\": ")
        .err()
        .context("half a manifest parsed")?;
    assert!(err.to_string().contains("not JSON"), "{err}");
    let cases: Vec<(&str, Edit)> = vec![
        ("format version 1", Box::new(|v| v["version"] = 1.into())),
        (
            "\"gpt-j\" is not supported",
            Box::new(|v| v["model"]["architecture"] = "gpt-j".into()),
        ),
        (
            "type Q3_K",
            Box::new(|v| v["tensors"][3]["type"] = "Q3_K".into()),
        ),
        (
            "type unknown",
            Box::new(|v| v["tensors"][3]["type"] = "Q9_9".into()),
        ),
        (
            "lies outside shard",
            Box::new(|v| v["tensors"][5]["offset"] = (1u64 << 40).into()),
        ),
        (
            "which does not exist",
            Box::new(|v| v["tensors"][5]["shard"] = 99.into()),
        ),
        ("claims", Box::new(|v| v["tensors"][2]["bytes"] = 12.into())),
        (
            "is not allowed",
            Box::new(|v| v["shards"][0]["file"] = "../../etc/passwd".into()),
        ),
        (
            "not a locum-shards manifest",
            Box::new(|v| v["format"] = "gguf".into()),
        ),
    ];
    for (want, edit) in cases {
        let err = match parse_edited(&m, edit) {
            Ok(_) => panic!("a manifest with {want:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(want), "expected {want:?} in: {err}");
    }
    Ok(())
}
