//! The GGUF writer against the reader: what it writes parses back with every
//! metadata value, shape, type, offset and byte intact; it refuses shapes,
//! values and data lengths the reader would not accept; and its random blocks
//! dequantize to finite values of bounded size. Natively, candle's reader
//! checks the same files independently, for every tensor type.

use std::collections::BTreeMap;
use std::io::ErrorKind;

use locum_engine::format::gguf::{Gguf, GgufError, Value};
use locum_engine::format::gguf_write::{random_blocks, write_random_blocks, GgufWriter};
use locum_engine::format::quant::dequantize;
use locum_engine::GgmlType;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

/// Every GGML type, so that a new one is not forgotten here.
const ALL_TYPES: [GgmlType; 15] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q8_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q8_K,
    GgmlType::BF16,
];

fn strings(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect())
}

/// Metadata with one value of every kind, arrays as a tokenizer has them.
fn every_kind_of_value() -> Vec<(&'static str, Value)> {
    vec![
        ("general.architecture", Value::String("llama".into())),
        ("test.u8", Value::U8(250)),
        ("test.i8", Value::I8(-7)),
        ("test.u16", Value::U16(65_000)),
        ("test.i16", Value::I16(-30_000)),
        ("test.u32", Value::U32(4_000_000_000)),
        ("test.i32", Value::I32(-2_000_000_000)),
        ("test.f32", Value::F32(1e-5)),
        ("test.bool", Value::Bool(true)),
        ("test.u64", Value::U64(u64::MAX - 1)),
        ("test.i64", Value::I64(i64::MIN + 3)),
        ("test.f64", Value::F64(-0.1)),
        ("test.empty_string", Value::String(String::new())),
        ("test.empty_array", Value::Array(vec![])),
        (
            "tokenizer.ggml.tokens",
            strings(&["<|endoftext|>", "Ġthe", "", "é", "日本", "\n"]),
        ),
        ("tokenizer.ggml.merges", strings(&["Ġ t", "h e", "Ġt he"])),
        (
            "tokenizer.ggml.token_type",
            Value::Array([3, 1, 1, 1, 1, 6].map(Value::I32).to_vec()),
        ),
        (
            "tokenizer.ggml.scores",
            Value::Array([0.0, -1.5, -2.25, 1e-3].map(Value::F32).to_vec()),
        ),
        (
            "test.bools",
            Value::Array([true, false].map(Value::Bool).to_vec()),
        ),
        ("test.u8s", Value::Array([0, 255].map(Value::U8).to_vec())),
    ]
}

/// Writes `w` with seeded random data and returns the file and each tensor's bytes.
fn write_seeded(w: &GgufWriter, seed: u64) -> anyhow::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let data: Vec<Vec<u8>> = w
        .tensors()
        .iter()
        .map(|t| random_blocks(t.ty, t.n_blocks() as usize, 0.1, || rng.next_u32()))
        .collect();
    let mut file = Vec::new();
    let len = w.write(&mut file, |i, out| out.write_all(&data[i]))?;
    anyhow::ensure!(
        len == file.len() as u64,
        "write returned {len}, wrote {}",
        file.len()
    );
    Ok((file, data))
}

/// Asserts the parsed file holds exactly `w`'s tensors, aligned, with `data`.
fn assert_tensors(g: &Gguf, file: &[u8], w: &GgufWriter, data: &[Vec<u8>], alignment: u64) {
    assert_eq!(g.data_offset % alignment, 0, "data section misaligned");
    assert_eq!(
        file.len() as u64 % alignment,
        0,
        "file does not end aligned"
    );
    assert_eq!(g.tensors.len(), w.tensors().len());
    for ((t, decl), bytes) in g.tensors.iter().zip(w.tensors()).zip(data) {
        assert_eq!(t.name, decl.name);
        assert_eq!(t.ty, decl.ty, "tensor {}", t.name);
        assert_eq!(t.shape, decl.shape, "tensor {}", t.name);
        assert_eq!(t.n_bytes(), decl.n_bytes, "tensor {}", t.name);
        assert_eq!(t.offset % alignment, 0, "tensor {} misaligned", t.name);
        assert!(
            &file[g.tensor_range(t)] == bytes.as_slice(),
            "tensor {}: bytes differ",
            t.name
        );
    }
}

#[test]
fn round_trip_metadata_and_tensors() -> anyhow::Result<()> {
    let mut w = GgufWriter::new();
    for (k, v) in every_kind_of_value() {
        w.add_meta(k, v)?;
    }
    // Odd shapes, so every tensor after the first needs padding before it.
    w.add_tensor("token_embd.weight", GgmlType::Q8_0, &[64, 7])?;
    w.add_tensor("blk.0.attn_norm.weight", GgmlType::F32, &[13])?;
    w.add_tensor("blk.0.attn_q.weight", GgmlType::Q4_1, &[96, 5, 3])?;
    w.add_tensor("blk.0.ffn_up.weight", GgmlType::F16, &[3, 5])?;
    w.add_tensor("output.weight", GgmlType::Q4_0, &[32, 3, 1, 2])?;
    let (file, data) = write_seeded(&w, 1)?;

    let g = Gguf::parse(&file)?;
    assert_eq!(g.version, 3);
    let expected: BTreeMap<String, Value> = every_kind_of_value()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    for (k, v) in &expected {
        assert_eq!(g.metadata.get(k), Some(v), "metadata {k}");
    }
    assert_eq!(g.metadata.len(), expected.len(), "extra metadata");
    assert_tensors(&g, &file, &w, &data, 32);
    Ok(())
}

#[test]
fn alignment_is_taken_from_general_alignment() -> anyhow::Result<()> {
    let mut w = GgufWriter::new();
    w.add_meta("general.name", Value::String("aligned".into()))?;
    w.set_alignment(256)?;
    assert_eq!(w.alignment(), 256);
    w.add_tensor("a", GgmlType::Q8_0, &[32])?;
    w.add_tensor("b", GgmlType::F32, &[3, 3])?;
    w.add_tensor("c", GgmlType::Q4_1, &[32, 3])?;
    let (file, data) = write_seeded(&w, 2)?;
    let g = Gguf::parse(&file)?;
    assert_eq!(g.get_u64("general.alignment")?, 256);
    assert_tensors(&g, &file, &w, &data, 256);
    // 34 bytes of Q8_0, padded, then 36 of F32, padded.
    let offsets: Vec<u64> = g.tensors.iter().map(|t| t.offset).collect();
    assert_eq!(offsets, [0, 256, 512]);
    Ok(())
}

#[test]
fn add_meta_replaces_a_key_in_place() -> anyhow::Result<()> {
    let mut w = GgufWriter::new();
    w.add_meta("a", Value::U32(1))?;
    w.add_meta("b", Value::U32(2))?;
    w.add_meta("a", Value::String("one".into()))?;
    assert_eq!(w.meta("a"), Some(&Value::String("one".into())));
    let mut file = Vec::new();
    w.write(&mut file, |_, _| Ok(()))?;
    let g = Gguf::parse(&file)?;
    assert_eq!(g.metadata.len(), 2);
    assert_eq!(g.get_str("a")?, "one");
    Ok(())
}

#[test]
fn short_data_is_an_error() -> anyhow::Result<()> {
    let mut w = GgufWriter::new();
    w.add_tensor("ok", GgmlType::F32, &[4])?;
    w.add_tensor("short", GgmlType::Q4_1, &[32, 2])?;
    let err = w
        .write(Vec::new(), |i, out| {
            // "short" is 40 bytes; write 39.
            out.write_all(&vec![0u8; if i == 0 { 16 } else { 39 }])
        })
        .expect_err("39 of 40 bytes were accepted");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"short\""), "{err}");
    Ok(())
}

#[test]
fn long_data_is_an_error() -> anyhow::Result<()> {
    let mut w = GgufWriter::new();
    w.add_tensor("long", GgmlType::Q8_0, &[32])?;
    let err = w
        .write(Vec::new(), |_, out| {
            out.write_all(&[1u8; 34])?;
            out.write_all(&[1u8])
        })
        .expect_err("35 of 34 bytes were accepted");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"long\""), "{err}");
    Ok(())
}

#[test]
fn a_failing_callback_fails_the_write() -> anyhow::Result<()> {
    let mut w = GgufWriter::new();
    w.add_tensor("t", GgmlType::F32, &[1])?;
    let err = w
        .write(Vec::new(), |_, _| Err(std::io::Error::other("disk full")))
        .expect_err("the callback's error was dropped");
    assert_eq!(err.to_string(), "disk full");
    Ok(())
}

#[test]
fn bad_tensors_are_refused() -> anyhow::Result<()> {
    let mut w = GgufWriter::new();
    w.add_tensor("x", GgmlType::F32, &[2])?;
    assert!(matches!(
        w.add_tensor("ragged", GgmlType::Q4_0, &[48, 2]),
        Err(GgufError::RaggedBlocks {
            ne0: 48,
            block: 32,
            ..
        })
    ));
    assert!(matches!(
        w.add_tensor("k", GgmlType::Q4_K, &[128]),
        Err(GgufError::RaggedBlocks { block: 256, .. })
    ));
    assert!(matches!(
        w.add_tensor("zero", GgmlType::F32, &[4, 0]),
        Err(GgufError::AbsurdShape { .. })
    ));
    assert!(matches!(
        w.add_tensor("huge", GgmlType::F32, &[1 << 30, 1 << 30, 2]),
        Err(GgufError::AbsurdShape { .. })
    ));
    assert!(matches!(
        w.add_tensor("five", GgmlType::F32, &[1, 1, 1, 1, 1]),
        Err(GgufError::TooManyDims { dims: 5, .. })
    ));
    assert!(matches!(
        w.add_tensor("none", GgmlType::F32, &[]),
        Err(GgufError::TooManyDims { dims: 0, .. })
    ));
    assert_eq!(
        w.add_tensor("x", GgmlType::F16, &[2]),
        Err(GgufError::DuplicateTensor("x".into()))
    );
    assert_eq!(w.tensors().len(), 1, "a refused tensor was kept");
    Ok(())
}

#[test]
fn bad_metadata_is_refused() {
    let mut w = GgufWriter::new();
    let mixed = Value::Array(vec![Value::U32(1), Value::I32(1)]);
    assert!(matches!(
        w.add_meta("mixed", mixed),
        Err(GgufError::WrongType { .. })
    ));
    let nested = Value::Array(vec![Value::Array(vec![Value::U8(1)])]);
    assert!(matches!(
        w.add_meta("nested", nested),
        Err(GgufError::WrongType { .. })
    ));
    assert_eq!(w.set_alignment(48), Err(GgufError::BadAlignment(48)));
    assert_eq!(w.set_alignment(0), Err(GgufError::BadAlignment(0)));
    assert!(matches!(
        w.add_meta("general.alignment", Value::U64(64)),
        Err(GgufError::WrongType { .. })
    ));
    assert!(w.meta("general.alignment").is_none());
    assert_eq!(w.alignment(), 32);
}

#[test]
fn tokenizer_keys_are_copied_from_a_real_file() -> anyhow::Result<()> {
    let mut src = GgufWriter::new();
    for (k, v) in every_kind_of_value() {
        src.add_meta(k, v)?;
    }
    src.add_meta("tokenizer_unrelated", Value::Bool(false))?;
    let mut file = Vec::new();
    src.write(&mut file, |_, _| Ok(()))?;
    let src = Gguf::parse(&file)?;

    let mut w = GgufWriter::new();
    w.add_meta("general.architecture", Value::String("llama".into()))?;
    let n = w.add_meta_from(&src, "tokenizer.")?;
    assert_eq!(n, 4);
    for k in [
        "tokenizer.ggml.merges",
        "tokenizer.ggml.scores",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.tokens",
    ] {
        assert_eq!(w.meta(k), src.metadata.get(k), "{k}");
    }
    assert!(w.meta("tokenizer_unrelated").is_none());
    assert!(w.meta("test.u8").is_none());
    Ok(())
}

#[test]
fn a_file_shaped_like_another_from_its_header_alone() -> anyhow::Result<()> {
    let mut src = GgufWriter::new();
    for (k, v) in every_kind_of_value() {
        src.add_meta(k, v)?;
    }
    src.set_alignment(64)?;
    src.add_tensor("token_embd.weight", GgmlType::Q8_0, &[64, 7])?;
    src.add_tensor("blk.0.attn_norm.weight", GgmlType::F32, &[13])?;
    src.add_tensor("blk.0.attn_q.weight", GgmlType::Q4_1, &[96, 5, 3])?;
    src.add_tensor("output.weight", GgmlType::Q4_K, &[256, 3])?;
    let (file, _) = write_seeded(&src, 1)?;

    // The header alone, as written for a machine the whole file cannot reach.
    let mut head = Vec::new();
    let n = src.write_header(&mut head)?;
    assert_eq!(n as usize, head.len());
    let whole = Gguf::parse(&file)?;
    assert_eq!(
        head.len() as u64,
        whole.data_offset,
        "the header ends where the data starts"
    );
    assert_eq!(
        &head[..],
        &file[..head.len()],
        "the header is the file's first bytes"
    );
    assert!(
        Gguf::parse(&head).is_err(),
        "a header alone is not a whole file"
    );

    let shape = Gguf::parse_header(&head, u64::MAX)?;
    let like = GgufWriter::shaped_like(&shape)?;
    let mut out = Vec::new();
    let mut state = 7u32;
    like.write_random(&mut out, 0.05, move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    })?;
    let made = Gguf::parse(&out)?;
    assert_eq!(made.metadata, whole.metadata);
    assert_eq!(
        made.tensors, whole.tensors,
        "names, types, shapes and offsets"
    );
    assert_eq!(out.len(), file.len());
    assert_ne!(out, file, "the data is new");
    Ok(())
}

/// Asserts `values` are finite, within `amplitude` (plus f16 rounding of the
/// scales), spread over most of that range and centred near zero.
fn assert_sensible(what: &str, values: &[f32], amplitude: f32) {
    let bound = amplitude * 1.002;
    for (i, &v) in values.iter().enumerate() {
        assert!(
            v.is_finite() && v.abs() <= bound,
            "{what}: index {i}: {v} is not finite or beyond {bound}"
        );
    }
    let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
    assert!(
        max > 0.5 * amplitude,
        "{what}: largest |value| {max} is under half of {amplitude}"
    );
    assert!(
        mean.abs() < 0.1 * amplitude as f64,
        "{what}: mean {mean} is far from zero"
    );
}

#[test]
fn random_blocks_dequantize_to_bounded_values() {
    let mut rng = SmallRng::seed_from_u64(3);
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
    ] {
        for amplitude in [0.1, 1.0] {
            let n_blocks = 4096 / ty.block_len();
            let bytes = random_blocks(ty, n_blocks, amplitude, || rng.next_u32());
            assert_eq!(bytes.len(), n_blocks * ty.block_bytes());
            let values = dequantize(ty, &bytes).expect("a type the engine reads");
            assert_eq!(values.len(), 4096);
            assert_sensible(&format!("{} at {amplitude}", ty.name()), &values, amplitude);
        }
    }
}

#[test]
fn streamed_random_blocks_match_the_in_memory_ones() -> anyhow::Result<()> {
    // More than one 64 KiB chunk, and not a whole number of them.
    let n_blocks = 5000;
    let mut rng = SmallRng::seed_from_u64(4);
    let whole = random_blocks(GgmlType::Q4_1, n_blocks, 0.1, || rng.next_u32());
    let mut rng = SmallRng::seed_from_u64(4);
    let mut streamed = Vec::new();
    write_random_blocks(&mut streamed, GgmlType::Q4_1, n_blocks as u64, 0.1, || {
        rng.next_u32()
    })?;
    assert!(whole == streamed, "streamed blocks differ");
    Ok(())
}

/// candle's GGUF reader and dequantizers, written independently of ours,
/// read a file of every tensor type: the layout is real and the random
/// blocks are valid and bounded.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn candle_reads_every_type() -> anyhow::Result<()> {
    use candle_core::quantized::gguf_file;
    use candle_core::Device;

    let amplitude = 2.0;
    let mut w = GgufWriter::new();
    w.add_meta("tokenizer.ggml.tokens", strings(&["<s>", "Ġthe", "日本"]))?;
    w.set_alignment(64)?;
    for ty in ALL_TYPES {
        w.add_tensor(format!("t.{}", ty.name()), ty, &[512, 3])?;
    }
    let mut rng = SmallRng::seed_from_u64(5);
    let mut file = Vec::new();
    let len = w.write_random(&mut file, amplitude, || rng.next_u32())?;
    assert_eq!(len, file.len() as u64);

    let ours = Gguf::parse(&file)?;
    let mut cursor = std::io::Cursor::new(&file[..]);
    let content = gguf_file::Content::read(&mut cursor)?;
    assert_eq!(content.tensor_data_offset, ours.data_offset);
    let tokens: Vec<&str> = content.metadata["tokenizer.ggml.tokens"]
        .to_vec()?
        .iter()
        .map(|v| v.to_string().map(String::as_str))
        .collect::<candle_core::Result<_>>()?;
    assert_eq!(tokens, ["<s>", "Ġthe", "日本"]);

    for t in &ours.tensors {
        assert_eq!(
            t.ty,
            w.tensors().iter().find(|d| d.name == t.name).unwrap().ty
        );
        if matches!(t.ty, GgmlType::Q8_1 | GgmlType::Q8_K) {
            // candle does not load these from a file: check them here.
            assert_q8_by_hand(t.ty, &file[ours.tensor_range(t)], amplitude);
            continue;
        }
        let q = content.tensor(&mut cursor, &t.name, &Device::Cpu)?;
        assert_eq!(q.shape().dims(), [3, 512], "tensor {}", t.name);
        let theirs = q
            .dequantize(&Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        assert_sensible(&t.name, &theirs, amplitude);
        if let Some(mine) = dequantize(t.ty, &file[ours.tensor_range(t)]) {
            for (i, (a, b)) in mine.iter().zip(&theirs).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-6 * amplitude,
                    "{}: index {i}: ours {a} vs candle {b}",
                    t.name
                );
            }
        }
    }
    Ok(())
}

/// The two types candle does not load from a file, by hand (llama.cpp's
/// `block_q8_1`: d, s = d·Σq as f16, then 32 signed quants; `block_q8_K`:
/// d as f32, 256 signed quants, then the 16 sums of 16 quants as i16):
/// value = q·d, and the sums agree with the quants.
#[cfg(not(target_arch = "wasm32"))]
fn assert_q8_by_hand(ty: GgmlType, bytes: &[u8], amplitude: f32) {
    let f16_at = |b: &[u8], i: usize| half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32();
    let q = |b: &[u8]| b.iter().map(|&q| q as i8 as i32).collect::<Vec<_>>();
    let mut values = Vec::new();
    for (i, blk) in bytes.chunks_exact(ty.block_bytes()).enumerate() {
        let (d, qs) = match ty {
            GgmlType::Q8_1 => {
                let (d, s) = (f16_at(blk, 0), f16_at(blk, 2));
                let qs = q(&blk[4..]);
                let expected = d * qs.iter().sum::<i32>() as f32;
                assert!(
                    (s - expected).abs() <= expected.abs() * 1e-3 + 1e-6,
                    "Q8_1 block {i}: s {s} vs d·Σq {expected}"
                );
                (d, qs)
            }
            GgmlType::Q8_K => {
                let d = f32::from_le_bytes([blk[0], blk[1], blk[2], blk[3]]);
                let qs = q(&blk[4..260]);
                for (g, group) in qs.chunks(16).enumerate() {
                    let at = 260 + 2 * g;
                    let bsum = i16::from_le_bytes([blk[at], blk[at + 1]]) as i32;
                    assert_eq!(bsum, group.iter().sum::<i32>(), "Q8_K block {i} sum {g}");
                }
                (d, qs)
            }
            _ => unreachable!("only Q8_1 and Q8_K are checked by hand"),
        };
        values.extend(qs.iter().map(|&q| q as f32 * d));
    }
    assert_sensible(ty.name(), &values, amplitude);
}
