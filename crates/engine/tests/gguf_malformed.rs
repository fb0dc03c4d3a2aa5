//! The GGUF reader against hand-made files: a good one parses, and every
//! kind of lie is rejected with its named error instead of a panic or a huge
//! allocation.

use locum_engine::format::gguf::{Gguf, GgufError};
use locum_engine::GgmlType;

/// Writes a GGUF v3 file: metadata strings, then tensors (name, shape, type id, offset), then data.
struct Builder {
    kv: Vec<(String, Vec<u8>)>,
    tensors: Vec<(String, Vec<u64>, u32, u64)>,
    data_len: usize,
    version: u32,
    n_tensors_override: Option<u64>,
}

fn string(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

impl Builder {
    fn new() -> Self {
        Builder {
            kv: vec![],
            tensors: vec![],
            data_len: 0,
            version: 3,
            n_tensors_override: None,
        }
    }
    fn kv_str(mut self, k: &str, v: &str) -> Self {
        let mut val = 8u32.to_le_bytes().to_vec();
        val.extend(string(v));
        self.kv.push((k.into(), val));
        self
    }
    fn kv_raw(mut self, k: &str, ty: u32, raw: &[u8]) -> Self {
        let mut val = ty.to_le_bytes().to_vec();
        val.extend_from_slice(raw);
        self.kv.push((k.into(), val));
        self
    }
    fn tensor(mut self, name: &str, shape: &[u64], ty: u32, offset: u64) -> Self {
        self.tensors.push((name.into(), shape.to_vec(), ty, offset));
        self
    }
    fn data(mut self, n: usize) -> Self {
        self.data_len = n;
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(self.version.to_le_bytes());
        b.extend(
            self.n_tensors_override
                .unwrap_or(self.tensors.len() as u64)
                .to_le_bytes(),
        );
        b.extend((self.kv.len() as u64).to_le_bytes());
        for (k, v) in &self.kv {
            b.extend(string(k));
            b.extend(v);
        }
        for (name, shape, ty, off) in &self.tensors {
            b.extend(string(name));
            b.extend((shape.len() as u32).to_le_bytes());
            for d in shape {
                b.extend(d.to_le_bytes());
            }
            b.extend(ty.to_le_bytes());
            b.extend(off.to_le_bytes());
        }
        while !b.len().is_multiple_of(32) {
            b.push(0);
        }
        b.extend(std::iter::repeat_n(0x3c, self.data_len));
        b
    }
}

fn good() -> Builder {
    // A 64×2 Q8_0 matrix (2 rows of 2 blocks, 34 bytes each) and an F32 vector.
    Builder::new()
        .kv_str("general.architecture", "llama")
        .tensor("w", &[64, 2], 8, 0)
        .tensor("norm", &[64], 0, 160)
        .data(160 + 256)
}

#[test]
fn a_good_file_parses() {
    let g = Gguf::parse(&good().bytes()).expect("parses");
    assert_eq!(g.version, 3);
    assert_eq!(g.get_str("general.architecture").unwrap(), "llama");
    let w = g.tensor("w").unwrap();
    assert_eq!((w.ty, w.n_bytes(), w.n_rows()), (GgmlType::Q8_0, 4 * 34, 2));
    assert_eq!(g.tensor_range(g.tensor("norm").unwrap()).len(), 256);
}

#[test]
fn bad_magic_and_version() {
    let mut b = good().bytes();
    b[0] = b'X';
    assert_eq!(Gguf::parse(&b).unwrap_err(), GgufError::BadMagic);
    let mut v = good();
    v.version = 7;
    assert_eq!(
        Gguf::parse(&v.bytes()).unwrap_err(),
        GgufError::UnsupportedVersion(7)
    );
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let b = good().bytes();
    for n in 0..b.len() {
        assert!(
            Gguf::parse(&b[..n]).is_err(),
            "a file cut at byte {n} of {} parsed",
            b.len()
        );
    }
}

#[test]
fn lying_tensor_offsets() {
    let b = good().tensor("late", &[32], 0, 4096).bytes();
    assert!(matches!(Gguf::parse(&b), Err(GgufError::OutOfBounds { name, .. }) if name == "late"));
    let b = good().tensor("odd", &[32], 0, 8).bytes();
    assert!(matches!(Gguf::parse(&b), Err(GgufError::Misaligned { name, .. }) if name == "odd"));
    let b = good().tensor("wrap", &[32], 0, u64::MAX - 31).bytes();
    assert!(matches!(
        Gguf::parse(&b),
        Err(GgufError::OutOfBounds { .. })
    ));
}

#[test]
fn unknown_types_and_absurd_shapes() {
    let b = good().tensor("t", &[32], 99, 0).bytes();
    assert!(matches!(
        Gguf::parse(&b),
        Err(GgufError::UnknownTensorType { type_id: 99, .. })
    ));
    let b = good().tensor("huge", &[1 << 32, 1 << 32], 0, 0).bytes();
    assert!(matches!(
        Gguf::parse(&b),
        Err(GgufError::AbsurdShape { .. })
    ));
    let b = good().tensor("zero", &[0], 0, 0).bytes();
    assert!(matches!(
        Gguf::parse(&b),
        Err(GgufError::AbsurdShape { .. })
    ));
    let b = good().tensor("five", &[1, 1, 1, 1, 1], 0, 0).bytes();
    assert!(matches!(
        Gguf::parse(&b),
        Err(GgufError::TooManyDims { dims: 5, .. })
    ));
    let b = good().tensor("ragged", &[33, 2], 2, 0).bytes();
    assert!(matches!(
        Gguf::parse(&b),
        Err(GgufError::RaggedBlocks { .. })
    ));
    let b = good().tensor("w", &[32], 0, 0).bytes();
    assert!(matches!(
        Gguf::parse(&b),
        Err(GgufError::DuplicateTensor(_))
    ));
    let b = good().kv_raw("x", 42, &[]).bytes();
    assert_eq!(
        Gguf::parse(&b).unwrap_err(),
        GgufError::UnknownValueType(42)
    );
}

#[test]
fn lying_counts_do_not_allocate() {
    let mut b = good();
    b.n_tensors_override = Some(u64::MAX);
    assert!(matches!(
        Gguf::parse(&b.bytes()),
        Err(GgufError::TooMany {
            what: "tensors",
            ..
        })
    ));
    // A string claiming a petabyte, and an array claiming 2^60 elements.
    let b = good().kv_raw("s", 8, &(1u64 << 50).to_le_bytes()).bytes();
    assert!(matches!(Gguf::parse(&b), Err(GgufError::TooMany { .. })));
    let mut arr = 4u32.to_le_bytes().to_vec();
    arr.extend((1u64 << 60).to_le_bytes());
    let b = good().kv_raw("a", 9, &arr).bytes();
    assert!(matches!(Gguf::parse(&b), Err(GgufError::TooMany { .. })));
    // An array that claims more elements than bytes remain.
    let mut arr = 4u32.to_le_bytes().to_vec();
    arr.extend(1000u64.to_le_bytes());
    let b = good().kv_raw("a", 9, &arr).bytes();
    assert!(matches!(Gguf::parse(&b), Err(GgufError::Truncated(..))));
}

#[test]
fn bad_alignment() {
    let b = good()
        .kv_raw("general.alignment", 4, &3u32.to_le_bytes())
        .bytes();
    assert_eq!(Gguf::parse(&b).unwrap_err(), GgufError::BadAlignment(3));
}
