//! Loading a sharded model in the browser: manifest, quota, shards from this
//! device or the network, each verified against its sha256, stored by hash,
//! and written straight into GPU buffers.
//!
//! Memory: at most [`LANES`] shards are in wasm memory at once (one buffer
//! per lane, reused), so the worker's peak memory does not grow with the
//! model's size. The shard bytes go from the network into a lane's buffer,
//! through the hash, into Cache Storage (a copy outside wasm memory) and
//! into the GPU (`queue.writeBuffer` copies too); then the buffer is reused.
//!
//! Resume is free: a shard is stored only once verified, so after a reload or
//! a dropped connection the next load finds the stored ones and fetches only
//! the rest. Offline, the manifest comes from its stored copy.

use std::cell::{Cell, RefCell};

use locum_engine::format::manifest::Manifest;
use locum_engine::generate::hex;
use locum_engine::{Gpu, Session};
use locum_worker::{LoadPhase, LoadProgress};
use sha2::{Digest, Sha256};
use web_sys::Cache;

use crate::net::{self, FetchError};

/// Shards fetched at once.
pub const LANES: usize = 3;
/// Tries per shard on a network error or an error status.
const TRIES: u32 = 4;
/// The first back-off; it doubles after each failed try.
const FIRST_BACKOFF_MS: u32 = 500;
/// Progress events at most this often.
const PROGRESS_EVERY_MS: f64 = 150.0;
/// Room left free beyond the model's size when checking the quota.
const QUOTA_MARGIN: u64 = 8 << 20;

/// How a load ended, when it did not end with a model.
pub enum LoadError {
    /// The page pressed Cancel.
    Cancelled,
    /// A sentence for the user.
    Failed(String),
}

impl From<String> for LoadError {
    fn from(s: String) -> Self {
        LoadError::Failed(s)
    }
}

/// A loaded model and what the load did.
pub struct Loaded {
    pub session: Session,
    pub model_name: String,
    pub model_bytes: u64,
    pub downloaded_bytes: u64,
    /// Shards that could not be stored on this device (storage full, or no
    /// Cache Storage): the next visit downloads them again.
    pub not_stored: u32,
}

/// Progress bookkeeping shared by the lanes.
struct Tracker<'a> {
    progress: RefCell<LoadProgress>,
    /// Bytes from the network, for the rate.
    network_bytes: Cell<u64>,
    /// Verified shards that Cache Storage refused (a full disk).
    not_stored: Cell<u32>,
    started: f64,
    last_post: Cell<f64>,
    post: &'a dyn Fn(LoadProgress),
}

impl Tracker<'_> {
    fn update(&self, f: impl FnOnce(&mut LoadProgress), force: bool) {
        f(&mut self.progress.borrow_mut());
        let now = js_sys::Date::now();
        if force || now - self.last_post.get() >= PROGRESS_EVERY_MS {
            self.last_post.set(now);
            let mut p = *self.progress.borrow();
            let secs = (now - self.started) / 1e3;
            p.bytes_per_s = if secs > 0.2 {
                self.network_bytes.get() as f64 / secs
            } else {
                0.0
            };
            (self.post)(p);
        }
    }

    fn phase(&self, phase: LoadPhase) {
        self.update(|p| p.phase = phase, true);
    }
}

/// The key a content-addressed blob is stored under.
fn key(origin_base: &str, sha256: &str) -> String {
    format!("{origin_base}locum-cache/sha256/{sha256}")
}

/// Loads the model whose manifest is at `manifest_url` onto `gpu`.
pub async fn load(
    gpu: &Gpu,
    manifest_url: &str,
    context: u32,
    cancelled: &dyn Fn() -> bool,
    post: &dyn Fn(LoadProgress),
) -> Result<Loaded, LoadError> {
    let here = net::here();
    let manifest_url = net::resolve(manifest_url, &here)?;
    let root = net::resolve("/", &here)?;
    let tracker = Tracker {
        progress: RefCell::new(LoadProgress {
            phase: LoadPhase::Checking,
            done_bytes: 0,
            total_bytes: 0,
            from_device_bytes: 0,
            shards_done: 0,
            shards_total: 0,
            bytes_per_s: 0.0,
        }),
        network_bytes: Cell::new(0),
        not_stored: Cell::new(0),
        started: js_sys::Date::now(),
        last_post: Cell::new(0.0),
        post,
    };
    tracker.phase(LoadPhase::Checking);

    let shard_cache = net::open_cache(net::SHARD_CACHE).await;
    let manifest_cache = net::open_cache(net::MANIFEST_CACHE).await;
    let manifest = fetch_manifest(&manifest_url, manifest_cache.as_ref()).await?;
    let total = manifest.total_bytes();
    tracker.update(
        |p| {
            p.total_bytes = total;
            p.shards_total = manifest.shards.len() as u32;
        },
        true,
    );

    // Which shards this device already has.
    let mut stored = vec![false; manifest.shards.len()];
    if let Some(c) = &shard_cache {
        for (i, s) in manifest.shards.iter().enumerate() {
            stored[i] = net::cached(c, &key(&root, &s.sha256)).await.is_some();
        }
    }
    let missing: u64 = manifest
        .shards
        .iter()
        .zip(&stored)
        .filter(|(_, &have)| !have)
        .map(|(s, _)| s.bytes)
        .sum();
    check_quota(missing).await?;

    // Refuses a model too large for this GPU before any download.
    let tokenizer = fetch_tokenizer(&manifest, &manifest_url, &root, shard_cache.as_ref()).await?;
    let session = Session::prepare(gpu, &manifest, tokenizer, context)
        .map_err(|e| format!("This model cannot run on this device: {e}."))?;
    if cancelled() {
        return Err(LoadError::Cancelled);
    }

    tracker.phase(if missing == 0 {
        LoadPhase::FromDevice
    } else {
        LoadPhase::Downloading
    });
    let next = Cell::new(0usize);
    // The first lane to fail for good stops the others, so the user hears
    // about a missing or damaged shard without waiting for the rest.
    let failed = Cell::new(false);
    let stop_lanes = || cancelled() || failed.get();
    let lanes = (0..LANES).map(|_| async {
        let mut buf = Vec::new();
        loop {
            let i = next.get();
            if i >= manifest.shards.len() || failed.get() {
                return Ok(());
            }
            next.set(i + 1);
            if cancelled() {
                return Err(LoadError::Cancelled);
            }
            let got = shard(
                &manifest,
                i,
                &manifest_url,
                &root,
                shard_cache.as_ref(),
                stored[i],
                &mut buf,
                &tracker,
                &stop_lanes,
            )
            .await
            .and_then(|()| {
                session
                    .upload_shard(&manifest, i as u32, &buf)
                    .map_err(|e| format!("The model could not be copied to the GPU: {e}.").into())
            });
            if let Err(e) = got {
                if matches!(e, LoadError::Failed(_)) {
                    failed.set(true);
                }
                return Err(e);
            }
        }
    });
    let results = futures_util::future::join_all(lanes).await;
    // A real failure outranks the cancellations it caused in other lanes.
    let mut cancelled_lane = false;
    for r in results {
        match r {
            Err(LoadError::Failed(m)) => return Err(LoadError::Failed(m)),
            Err(LoadError::Cancelled) => cancelled_lane = true,
            Ok(()) => {}
        }
    }
    if cancelled_lane || cancelled() {
        return Err(LoadError::Cancelled);
    }

    tracker.phase(LoadPhase::Uploading);
    session
        .model
        .finish_upload()
        .map_err(|e| format!("The model is incomplete: {e}."))?;
    gpu.wait_idle()
        .await
        .map_err(|e| format!("The GPU stopped while receiving the model: {e}."))?;

    tracker.phase(LoadPhase::WarmingUp);
    let mut session = session;
    warm_up(&mut session).await?;
    Ok(Loaded {
        model_name: manifest.model.name.clone(),
        model_bytes: total,
        downloaded_bytes: tracker.network_bytes.get(),
        not_stored: tracker.not_stored.get()
            + u32::from(shard_cache.is_none()) * manifest.shards.len() as u32,
        session,
    })
}

/// One forward pass over one token, so the kernels are compiled before the
/// first question rather than during it.
async fn warm_up(session: &mut Session) -> Result<(), String> {
    let first = session.tokenizer.bos.unwrap_or(0);
    session
        .model
        .prefill(&[first])
        .await
        .map_err(|e| format!("The model failed its first run on this GPU: {e}."))?;
    session.model.reset();
    Ok(())
}

/// The manifest: from the network, stored for next time; from the stored
/// copy when the network fails.
async fn fetch_manifest(url: &str, cache: Option<&Cache>) -> Result<Manifest, String> {
    let text = match net::get(url, false).await {
        Ok(r) => {
            let t = net::text(&r).await.map_err(|e| {
                format!("The model's description could not be read ({e}). Try again.")
            })?;
            if let Some(c) = cache {
                if let Err(e) = net::store_text(c, url, &t).await {
                    log::warn!("the manifest could not be stored: {e}");
                }
            }
            t
        }
        Err(e) => {
            let stored = match cache {
                Some(c) => match net::cached(c, url).await {
                    Some(r) => net::text(&r).await.ok(),
                    None => None,
                },
                None => None,
            };
            match (stored, e) {
                (Some(t), _) => t,
                (None, FetchError::Status(404, _)) => {
                    return Err(format!(
                        "No model was found at {url} (the server answered 404). \
                         Check that the model's shards were copied to the server."
                    ))
                }
                (None, e) => {
                    return Err(format!(
                        "The model's description could not be downloaded: {}, and this \
                         device has no stored copy. Check the connection and try again.",
                        e.describe()
                    ))
                }
            }
        }
    };
    Manifest::parse(&text).map_err(|e| format!("This model cannot be loaded: {e}."))
}

/// `tokenizer.json`, content-addressed like a shard.
async fn fetch_tokenizer(
    manifest: &Manifest,
    manifest_url: &str,
    root: &str,
    cache: Option<&Cache>,
) -> Result<String, String> {
    let t = &manifest.tokenizer;
    let k = key(root, &t.sha256);
    if let Some(c) = cache {
        if let Some(r) = net::cached(c, &k).await {
            if let Ok(text) = net::text(&r).await {
                if hex(&Sha256::digest(text.as_bytes())) == t.sha256 {
                    return Ok(text);
                }
            }
            net::forget(c, &k).await;
        }
    }
    let url = net::resolve(&t.file, manifest_url)?;
    let mut last = String::new();
    for attempt in 0..TRIES {
        if attempt > 0 {
            net::sleep(FIRST_BACKOFF_MS << (attempt - 1)).await;
        }
        match net::get(&url, attempt > 0).await {
            Ok(r) => match net::text(&r).await {
                Ok(text) if hex(&Sha256::digest(text.as_bytes())) == t.sha256 => {
                    if let Some(c) = cache {
                        let _ = net::store_text(c, &k, &text).await;
                    }
                    return Ok(text);
                }
                Ok(_) => last = "its checksum does not match the manifest".into(),
                Err(e) => last = e,
            },
            Err(e) => last = e.describe(),
        }
    }
    Err(format!(
        "The model's tokenizer ({}) could not be downloaded: {last}. Check the connection and try again.",
        t.file
    ))
}

/// Refuses, before downloading, a model the browser has no room for.
async fn check_quota(needed: u64) -> Result<(), String> {
    if needed == 0 {
        return Ok(());
    }
    let Some((usage, quota)) = net::storage_estimate().await else {
        return Ok(()); // The browser does not say: try, and report a full disk if it comes.
    };
    let free = quota.saturating_sub(usage);
    if free < needed + QUOTA_MARGIN {
        return Err(format!(
            "This device does not have room for the model: it needs {} of storage, \
             and the browser allows this site {} more. Free some disk space \
             (or remove other sites' data in the browser's settings), then try again.",
            mb(needed + QUOTA_MARGIN),
            mb(free)
        ));
    }
    Ok(())
}

/// Bytes as people read them.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Gets shard `i` into `buf`, verified: from this device when stored there
/// (and intact), else from the network (stored once verified).
#[allow(clippy::too_many_arguments)]
async fn shard(
    m: &Manifest,
    i: usize,
    manifest_url: &str,
    root: &str,
    cache: Option<&Cache>,
    stored: bool,
    buf: &mut Vec<u8>,
    tracker: &Tracker<'_>,
    cancelled: &dyn Fn() -> bool,
) -> Result<(), LoadError> {
    let s = &m.shards[i];
    let k = key(root, &s.sha256);
    if let (true, Some(c)) = (stored, cache) {
        if let Some(r) = net::cached(c, &k).await {
            if net::read_all(&r, buf).await.is_ok()
                && buf.len() as u64 == s.bytes
                && hex(&Sha256::digest(&buf[..])) == s.sha256
            {
                tracker.update(
                    |p| {
                        p.done_bytes += s.bytes;
                        p.from_device_bytes += s.bytes;
                        p.shards_done += 1;
                    },
                    false,
                );
                return Ok(());
            }
            // Damaged on disk: forget it and fetch it again.
            log::warn!(
                "stored {} does not match its hash; fetching it again",
                s.file
            );
            net::forget(c, &k).await;
        }
    }

    let url = net::resolve(&s.file, manifest_url)?;
    // A bad checksum gets one more download (bypassing the HTTP cache).
    for checksum_try in 0..2 {
        download(
            &url,
            s.bytes,
            buf,
            tracker,
            cancelled,
            &s.file,
            checksum_try > 0,
        )
        .await?;
        tracker.update(|p| p.phase = LoadPhase::Verifying, false);
        if hex(&Sha256::digest(&buf[..])) == s.sha256 {
            if let Some(c) = cache {
                if let Err(e) = net::store(c, &k, buf).await {
                    // A full disk: the model still runs now, it is just not
                    // kept; the page says so.
                    log::warn!("{} could not be stored on this device: {e}", s.file);
                    tracker.not_stored.set(tracker.not_stored.get() + 1);
                }
            }
            tracker.update(
                |p| {
                    p.shards_done += 1;
                    p.phase = LoadPhase::Downloading;
                },
                false,
            );
            return Ok(());
        }
        log::warn!("{} failed its checksum (try {})", s.file, checksum_try + 1);
        tracker.update(|p| p.done_bytes -= s.bytes, false);
    }
    Err(LoadError::Failed(format!(
        "The model file {} is damaged: it was downloaded twice and both times its content \
         did not match the manifest's checksum. The copy on the server is corrupt; ask whoever \
         hosts the model to convert and upload it again.",
        s.file
    )))
}

/// Downloads `url` (expected to be `bytes` long) into `buf`, counting
/// progress; retries network errors and error statuses with back-off.
#[allow(clippy::too_many_arguments)]
async fn download(
    url: &str,
    bytes: u64,
    buf: &mut Vec<u8>,
    tracker: &Tracker<'_>,
    cancelled: &dyn Fn() -> bool,
    file: &str,
    reload: bool,
) -> Result<(), LoadError> {
    let mut last = String::new();
    for attempt in 0..TRIES {
        if attempt > 0 {
            net::sleep(FIRST_BACKOFF_MS << (attempt - 1)).await;
        }
        if cancelled() {
            return Err(LoadError::Cancelled);
        }
        let response = match net::get(url, reload || attempt > 0).await {
            Ok(r) => r,
            Err(e) => {
                last = e.describe();
                continue;
            }
        };
        buf.clear();
        buf.resize(bytes as usize, 0);
        let mut at = 0usize;
        let streamed = net::stream_body(
            &response,
            |chunk| {
                let n = chunk.length() as usize;
                if at + n > buf.len() {
                    return Err(format!("{file} is larger than the manifest says"));
                }
                chunk.copy_to(&mut buf[at..at + n]);
                at += n;
                tracker
                    .network_bytes
                    .set(tracker.network_bytes.get() + n as u64);
                tracker.update(|p| p.done_bytes += n as u64, false);
                Ok(())
            },
            cancelled,
        )
        .await;
        let undo = at as u64;
        match streamed {
            Ok(true) if at == buf.len() => return Ok(()),
            Ok(true) => last = format!("it stopped after {at} of {bytes} bytes"),
            Ok(false) => {
                tracker.update(|p| p.done_bytes -= undo, false);
                return Err(LoadError::Cancelled);
            }
            Err(e) => last = e,
        }
        tracker.update(|p| p.done_bytes -= undo, false);
    }
    Err(LoadError::Failed(format!(
        "The model file {file} could not be downloaded: {last} ({TRIES} tries). Check the \
         connection, then load the model again: the parts already stored on this device are \
         kept and will not be downloaded again."
    )))
}
