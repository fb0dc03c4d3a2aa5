//! `locum-shard`: the converter from a GGUF file to the shard directory the
//! browser downloads, and the checker for such a directory.
//!
//! [`convert`] reads and checks the GGUF, plans its tensors in the GPU layout
//! (`locum_engine::format::plan`), packs them whole into shard files of about
//! `shard_bytes` each (a tensor never straddles two shards; one larger than a
//! shard gets a shard of its own, and one larger than 128 MiB was already
//! split into row blocks by the plan), and writes `manifest.json` with every
//! shard's sha256, and `tokenizer.json`. Nothing in the output depends on the
//! time or the machine: the same GGUF gives byte-identical files.
//!
//! [`verify`] re-hashes every file a manifest names and reports each bad one.
//! Native only: it reads and writes files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use locum_engine::format::manifest::{
    Manifest, ModelMeta, ShardEntry, TokenizerMeta, FORMAT_NAME, FORMAT_VERSION, MAX_PART_BYTES,
};
use locum_engine::format::plan;
use locum_engine::generate::sha256_hex;
use locum_engine::{ChatTemplate, Config, Gguf, Tokenizer};
use sha2::Digest;

/// The default shard size: small enough that a dropped connection loses
/// little, large enough that a model is a few dozen requests.
pub const DEFAULT_SHARD_BYTES: u64 = 32 << 20;

/// What can go wrong converting or verifying, as sentences.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Engine(#[from] locum_engine::Error),
    #[error("the shard size must be at least 1 MiB")]
    ShardSize,
}

pub type Result<T> = std::result::Result<T, Error>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a conversion wrote.
#[derive(Debug, Clone)]
pub struct Report {
    pub manifest: Manifest,
    pub out: PathBuf,
}

/// Converts the GGUF at `gguf_path` into a shard directory `out` (created if
/// needed; files of an earlier conversion are overwritten, other files left).
/// `name` replaces the GGUF's `general.name` as the name people see.
pub fn convert(
    gguf_path: &Path,
    out: &Path,
    shard_bytes: u64,
    name: Option<&str>,
) -> Result<Report> {
    if shard_bytes < 1 << 20 {
        return Err(Error::ShardSize);
    }
    let file = fs::read(gguf_path).map_err(io(gguf_path))?;
    let g = Gguf::parse(&file).map_err(locum_engine::Error::from)?;
    let mut config = Config::from_gguf(&g)?;
    if let Some(name) = name {
        config.name = name.to_string();
    }
    let planned = plan::plan(&g, MAX_PART_BYTES)?;
    let tokenizer = Tokenizer::from_gguf(&g)?;
    let template = ChatTemplate::from_gguf(&g).ok();

    fs::create_dir_all(out).map_err(io(out))?;
    let mut tensors = Vec::with_capacity(planned.len());
    let mut shards: Vec<ShardEntry> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let flush = |current: &mut Vec<u8>, shards: &mut Vec<ShardEntry>| -> Result<()> {
        let name = format!("shard-{:03}.bin", shards.len());
        let path = out.join(&name);
        fs::write(&path, &current).map_err(io(&path))?;
        shards.push(ShardEntry {
            file: name,
            bytes: current.len() as u64,
            sha256: sha256_hex(current),
        });
        current.clear();
        Ok(())
    };
    for p in &planned {
        let bytes = plan::tensor_bytes(&g, &file, p)?;
        if !current.is_empty() && (current.len() + bytes.len()) as u64 > shard_bytes {
            flush(&mut current, &mut shards)?;
        }
        let mut entry = p.entry.clone();
        entry.shard = shards.len() as u32;
        entry.offset = current.len() as u64;
        current.extend_from_slice(&bytes);
        tensors.push(entry);
    }
    if !current.is_empty() {
        flush(&mut current, &mut shards)?;
    }

    let tok_path = out.join("tokenizer.json");
    let tokenizer_json = tokenizer.json()?;
    fs::write(&tok_path, &tokenizer_json).map_err(io(&tok_path))?;
    let mut quant_types: Vec<String> = tensors.iter().map(|t| t.ty.clone()).collect();
    quant_types.sort();
    quant_types.dedup();
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        model: ModelMeta {
            name: config.name.clone(),
            architecture: g
                .get_str("general.architecture")
                .map_err(locum_engine::Error::from)?
                .to_string(),
            license: g.get_str("general.license").ok().map(str::to_string),
            source_file: gguf_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            source_sha256: sha256_hex(&file),
            source_bytes: file.len() as u64,
            quant_types,
        },
        config,
        tokenizer: TokenizerMeta {
            file: "tokenizer.json".into(),
            sha256: sha256_hex(tokenizer_json.as_bytes()),
            bos: tokenizer.bos,
            stop: tokenizer.stop.clone(),
            chat_template: template.map(|t| t.meta()),
        },
        tensors,
        shards,
    };
    let text = manifest.to_json();
    // Read back through the loader's own checks before calling it done.
    Manifest::parse(&text)?;
    let man_path = out.join("manifest.json");
    let mut f = fs::File::create(&man_path).map_err(io(&man_path))?;
    f.write_all(text.as_bytes()).map_err(io(&man_path))?;
    Ok(Report {
        manifest,
        out: out.to_path_buf(),
    })
}

/// One file of a shard directory that is not what the manifest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub file: String,
    /// "missing", "size 123, expected 456", or "sha256 mismatch".
    pub problem: String,
}

/// Re-hashes every shard and the tokenizer that `dir/manifest.json` names.
/// Returns the manifest and the bad files (empty when all is well); an
/// unreadable or invalid manifest is an error.
pub fn verify(dir: &Path) -> Result<(Manifest, Vec<Bad>)> {
    let man_path = dir.join("manifest.json");
    let text = fs::read_to_string(&man_path).map_err(io(&man_path))?;
    let manifest = Manifest::parse(&text)?;
    let mut bad = Vec::new();
    let mut check = |file: &str, bytes: Option<u64>, sha: &str| {
        let problem = match fs::read(dir.join(file)) {
            Err(_) => Some("missing".to_string()),
            Ok(b) if bytes.is_some_and(|n| n != b.len() as u64) => Some(format!(
                "size {}, expected {}",
                b.len(),
                bytes.unwrap_or_default()
            )),
            Ok(b) if hex(&sha2::Sha256::digest(&b)) != sha => Some("sha256 mismatch".into()),
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            bad.push(Bad {
                file: file.to_string(),
                problem,
            });
        }
    };
    check(&manifest.tokenizer.file, None, &manifest.tokenizer.sha256);
    for s in &manifest.shards {
        check(&s.file, Some(s.bytes), &s.sha256);
    }
    Ok((manifest, bad))
}

fn hex(bytes: &[u8]) -> String {
    locum_engine::generate::hex(bytes)
}
