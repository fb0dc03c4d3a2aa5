//! The models this site offers (`model-shards/index.json`, written by
//! `cargo xtask setup`), how much of each this device already holds, and
//! removing one from this device.
//!
//! The worker stores every verified shard (and the tokenizer) in Cache
//! Storage under its sha256 (`crates/worker/src/loader.rs`); the page reads
//! a model's manifest for the hashes and asks the same cache. Nothing here
//! touches the case.

use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, Response};

/// Where the index is, relative to the page.
pub const INDEX_URL: &str = "model-shards/index.json";
/// The worker's caches (`crates/worker/src/net.rs`).
const SHARD_CACHE: &str = "locum-shards-v1";
const MANIFEST_CACHE: &str = "locum-manifests-v1";

/// One model of the index.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub name: String,
    pub architecture: String,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub quant_types: Vec<String>,
    /// All its shards, in bytes.
    pub bytes: u64,
    /// Its manifest, relative to the index.
    pub manifest: String,
}

impl ModelEntry {
    /// The manifest's address relative to the page.
    pub fn manifest_url(&self) -> String {
        format!("model-shards/{}", self.manifest)
    }
}

/// The index file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelIndex {
    #[serde(default)]
    pub default: Option<String>,
    pub models: Vec<ModelEntry>,
}

impl ModelIndex {
    /// Reads the index; models with an id that could escape
    /// `model-shards/` are left out.
    pub fn parse(json: &str) -> Result<ModelIndex, String> {
        let mut index: ModelIndex = serde_json::from_str(json)
            .map_err(|e| format!("the model list is unreadable ({e})"))?;
        index
            .models
            .retain(|m| safe_id(&m.id) && safe_path(&m.manifest));
        Ok(index)
    }
}

fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn safe_path(p: &str) -> bool {
    !p.starts_with('/') && !p.contains("..") && !p.contains(':') && !p.contains('\\')
}

/// The id of the model whose manifest is at `manifest_url` (relative to
/// the page), if it is one of `model-shards/<id>/manifest.json`.
pub fn id_of(manifest_url: &str) -> Option<&str> {
    manifest_url
        .strip_prefix("model-shards/")?
        .strip_suffix("/manifest.json")
        .filter(|id| safe_id(id))
}

/// The content hashes a manifest stores: its shards' and its tokenizer's,
/// with each shard's size.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Blobs {
    pub hashes: Vec<(String, u64)>,
}

#[derive(Deserialize)]
struct ManifestBlobs {
    shards: Vec<ShardBlob>,
    tokenizer: TokenizerBlob,
}

#[derive(Deserialize)]
struct ShardBlob {
    bytes: u64,
    sha256: String,
}

#[derive(Deserialize)]
struct TokenizerBlob {
    sha256: String,
}

impl Blobs {
    /// The hashes in a manifest's JSON (only the fields needed here).
    pub fn from_manifest(json: &str) -> Result<Blobs, String> {
        let m: ManifestBlobs =
            serde_json::from_str(json).map_err(|e| format!("the manifest is unreadable ({e})"))?;
        let mut hashes: Vec<(String, u64)> =
            m.shards.into_iter().map(|s| (s.sha256, s.bytes)).collect();
        hashes.push((m.tokenizer.sha256, 0));
        Ok(Blobs { hashes })
    }
}

/// How much of a model this device holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Shard bytes in this device's storage.
    pub bytes: u64,
    /// Of this many.
    pub total: u64,
}

impl Stored {
    /// "all", "some" or "none" (the picker's `data-stored`).
    pub fn slug(self) -> &'static str {
        if self.total > 0 && self.bytes >= self.total {
            "all"
        } else if self.bytes > 0 {
            "some"
        } else {
            "none"
        }
    }
}

fn origin() -> Option<String> {
    web_sys::window()?.location().origin().ok()
}

fn blob_key(origin: &str, sha256: &str) -> String {
    format!("{origin}/locum-cache/sha256/{sha256}")
}

async fn js<T: JsCast>(p: js_sys::Promise) -> Result<T, String> {
    JsFuture::from(p)
        .await
        .map_err(|e| e.as_string().unwrap_or_else(|| format!("{e:?}")))?
        .dyn_into::<T>()
        .map_err(|_| "an unexpected answer from the browser".to_string())
}

async fn open(name: &str) -> Result<Cache, String> {
    let caches = web_sys::window()
        .ok_or("no window")?
        .caches()
        .map_err(|_| "this browser gives the page no storage".to_string())?;
    js::<Cache>(caches.open(name)).await
}

async fn text_of(response: Response) -> Result<String, String> {
    JsFuture::from(response.text().map_err(|_| "unreadable".to_string())?)
        .await
        .map_err(|_| "unreadable".to_string())?
        .as_string()
        .ok_or_else(|| "not text".to_string())
}

/// Fetches `url` (relative to the page) as text.
pub async fn fetch_text(url: &str) -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = js::<Response>(window.fetch_with_str(url)).await?;
    if !response.ok() {
        return Err(format!("{url} answered {}", response.status()));
    }
    text_of(response).await
}

/// The site's model list.
pub async fn load_index() -> Result<ModelIndex, String> {
    ModelIndex::parse(&fetch_text(INDEX_URL).await?)
}

/// A model's manifest: from the site, else the copy the worker kept for
/// visits without a network.
async fn manifest_text(entry: &ModelEntry) -> Result<String, String> {
    match fetch_text(&entry.manifest_url()).await {
        Ok(t) => Ok(t),
        Err(e) => {
            let url = web_sys::Url::new_with_base(
                &entry.manifest_url(),
                &web_sys::window()
                    .and_then(|w| w.location().href().ok())
                    .unwrap_or_default(),
            )
            .map(|u| u.href())
            .map_err(|_| e.clone())?;
            let cache = open(MANIFEST_CACHE).await?;
            let hit = JsFuture::from(cache.match_with_str(&url))
                .await
                .map_err(|_| e.clone())?;
            let response = hit.dyn_into::<Response>().map_err(|_| e)?;
            text_of(response).await
        }
    }
}

/// How much of `entry` this device holds.
pub async fn stored(entry: &ModelEntry) -> Result<Stored, String> {
    let blobs = Blobs::from_manifest(&manifest_text(entry).await?)?;
    let origin = origin().ok_or("no origin")?;
    let cache = open(SHARD_CACHE).await?;
    let mut bytes = 0;
    let total = blobs.hashes.iter().map(|(_, b)| b).sum();
    for (hash, size) in &blobs.hashes {
        let hit = JsFuture::from(cache.match_with_str(&blob_key(&origin, hash)))
            .await
            .map_err(|_| "the storage could not be read".to_string())?;
        if !hit.is_undefined() {
            bytes += size;
        }
    }
    Ok(Stored { bytes, total })
}

/// Deletes `entry`'s shards and tokenizer from this device; the bytes
/// freed. What one of `others` also uses (the same hash: a shared
/// tokenizer, say) is kept.
pub async fn remove(entry: &ModelEntry, others: &[ModelEntry]) -> Result<u64, String> {
    let blobs = Blobs::from_manifest(&manifest_text(entry).await?)?;
    let mut shared = std::collections::HashSet::new();
    for other in others.iter().filter(|o| o.id != entry.id) {
        // A model whose manifest cannot be read shares nothing we know of.
        if let Ok(b) = manifest_text(other)
            .await
            .and_then(|t| Blobs::from_manifest(&t))
        {
            shared.extend(b.hashes.into_iter().map(|(h, _)| h));
        }
    }
    let origin = origin().ok_or("no origin")?;
    let cache = open(SHARD_CACHE).await?;
    let mut freed = 0;
    for (hash, size) in blobs.hashes.iter().filter(|(h, _)| !shared.contains(h)) {
        let gone = JsFuture::from(cache.delete_with_str(&blob_key(&origin, hash)))
            .await
            .map_err(|_| "the storage could not be changed".to_string())?;
        if gone.as_bool() == Some(true) {
            freed += size;
        }
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_read_and_unsafe_entries_are_dropped() {
        let json = r#"{"default": "a", "models": [
            {"id": "a", "name": "A", "architecture": "llama", "license": "apache-2.0",
             "quant_types": ["Q4_1"], "bytes": 10, "manifest": "a/manifest.json"},
            {"id": "../x", "name": "X", "architecture": "llama", "bytes": 1, "manifest": "x/manifest.json"},
            {"id": "y", "name": "Y", "architecture": "llama", "bytes": 1, "manifest": "../y/manifest.json"}
        ]}"#;
        let index = ModelIndex::parse(json).unwrap();
        assert_eq!(index.models.len(), 1);
        assert_eq!(
            index.models[0].manifest_url(),
            "model-shards/a/manifest.json"
        );
        assert_eq!(index.default.as_deref(), Some("a"));
        assert!(ModelIndex::parse("{").unwrap_err().contains("unreadable"));
    }

    #[test]
    fn ids_come_from_manifest_urls() {
        assert_eq!(
            id_of("model-shards/smollm2-135m-instruct/manifest.json"),
            Some("smollm2-135m-instruct")
        );
        assert_eq!(id_of("elsewhere/manifest.json"), None);
        assert_eq!(id_of("model-shards/../manifest.json"), None);
    }

    #[test]
    fn the_real_manifest_names_its_blobs() {
        let m = r#"{"shards": [{"file": "shard-000.bin", "bytes": 5, "sha256": "aa"},
                               {"file": "shard-001.bin", "bytes": 7, "sha256": "bb"}],
                    "tokenizer": {"file": "tokenizer.json", "sha256": "cc"}, "other": 1}"#;
        let b = Blobs::from_manifest(m).unwrap();
        assert_eq!(
            b.hashes,
            [("aa".into(), 5), ("bb".into(), 7), ("cc".into(), 0)]
        );
        assert_eq!(
            Stored {
                bytes: 12,
                total: 12
            }
            .slug(),
            "all"
        );
        assert_eq!(
            Stored {
                bytes: 5,
                total: 12
            }
            .slug(),
            "some"
        );
        assert_eq!(
            Stored {
                bytes: 0,
                total: 12
            }
            .slug(),
            "none"
        );
    }
}
