//! The message protocol between Locum's page and its inference worker.
//!
//! The page sends [`Request`]s, the worker answers with [`Event`]s. Both cross
//! `postMessage` as JSON strings ([`Request::to_json`], [`Event::from_json`]
//! and their twins), so the two wasm modules share nothing but these types.
//! This module is always compiled and depends on serde only: the UI links it
//! without the engine (`default-features = false`).
//!
//! A session goes: worker starts → [`Event::Booted`]; page sends
//! [`Request::Load`] → [`Event::Progress`]… (phases: checking, downloading
//! or reading from this device, verifying, uploading, warming up) →
//! [`Event::Ready`]; [`Request::CancelLoad`] ends a load early with
//! [`Event::LoadCancelled`]. Then for each question [`Request::Generate`] →
//! [`Event::PromptRead`]… (a prompt longer than one batch) →
//! [`Event::Token`]… → [`Event::Done`]. [`Request::Stop`] may arrive at any
//! time during a generation and ends it after the current token.
//!
//! A clinical question is
//! [`Request::Assist`] → [`Event::AssistPrompt`] → [`Event::PromptRead`]… →
//! [`Event::Reasoning`]… →
//! [`Event::DifferentialSummary`], [`Event::DifferentialItem`]…,
//! [`Event::RedFlags`] → [`Event::AssistDone`] (or [`Event::AssistStopped`]
//! after a [`Request::Stop`]). Before it, while the clinician reviews the
//! case, [`Request::ReadAhead`] → [`Event::ReadAhead`] reads the case's prompt
//! into the KV cache, so that the Assist reads only what changed since; any
//! other request ends a read-ahead after its batch and runs then. Anything that
//! fails answers [`Event::Error`] (or [`Event::NoWebGpu`] when the browser has
//! no usable GPU), and the worker stays ready for the next request.

use serde::{Deserialize, Serialize};

/// The default size of the KV cache, in token positions.
pub const DEFAULT_CONTEXT: u32 = 2048;

/// What the page asks of the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Request {
    /// Load the sharded model whose `manifest.json` is at `manifest`
    /// (relative to the page) onto the GPU with a KV cache of `context`
    /// positions: shards already stored on this device are read from there,
    /// the others are downloaded, verified and stored. `lookup` turns
    /// prompt-lookup decoding on or off (`Session::lookup`); `None` leaves
    /// the engine's choice for the adapter.
    Load {
        manifest: String,
        context: u32,
        #[serde(default)]
        lookup: Option<bool>,
    },
    /// Abandon the running load. Shards already verified stay stored, so
    /// the next load fetches only the rest.
    CancelLoad,
    /// Answer `prompt`, streaming [`Event::Token`]s.
    Generate {
        prompt: String,
        /// Wrap the prompt in the model's own chat template as a user turn.
        chat: bool,
        /// The most tokens to generate.
        max_tokens: u32,
        sampling: SamplingParams,
    },
    /// Reason over a clinical case, streaming [`Event::Reasoning`] and then
    /// the differential diagnosis piece by piece.
    Assist {
        /// The case in Locum's case JSON format (see `locum-clinical`).
        case_json: String,
        /// The day the case is seen on, `YYYY-MM-DD`: ages and the age of
        /// results are computed from it.
        today: String,
        sampling: SamplingParams,
        /// Shorter phases than the defaults (a quick look on a slow
        /// adapter, or a test); `None`: the pipeline's own limits.
        #[serde(default)]
        lengths: Option<AnswerLengths>,
    },
    /// Read the case's prompt into the KV cache ahead of an [`Request::Assist`]
    /// for it, which then reads only what changed since (the page sends this
    /// once the case has been left unchanged for a moment). Ignored while
    /// the worker is busy; any other request ends it between two batches
    /// and runs after it. Answered by [`Event::ReadAhead`].
    ReadAhead {
        case_json: String,
        today: String,
        /// As the coming Assist's: the phases' lengths set how much of the
        /// case fits.
        #[serde(default)]
        lengths: Option<AnswerLengths>,
    },
    /// End the running generation after the token being computed.
    Stop,
}

/// The most tokens each phase of a clinical answer may take. The
/// differential's JSON is still complete and schema-valid when short: the
/// grammar winds it down before the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerLengths {
    pub reasoning_max_tokens: u32,
    pub differential_max_tokens: u32,
}

/// One diagnosis of a differential, as the page shows it. Mirrors
/// `locum_clinical::Item`, so the page needs no clinical crate (and none of
/// its grammar engine) to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosisCard {
    pub diagnosis: String,
    /// "high", "moderate" or "low".
    pub likelihood: String,
    /// Findings in the case that support it.
    pub supporting: Vec<String>,
    /// Findings in the case that speak against it.
    pub against: Vec<String>,
    /// Must be excluded even if unlikely: missing it would be dangerous.
    pub cant_miss: bool,
    /// Tests or actions that would confirm or exclude it.
    pub next_steps: Vec<String>,
    /// The ICD-10-CM code found by the local lookup ("I21.9"); `None`:
    /// uncoded (the lookup never guesses).
    #[serde(default)]
    pub icd10_code: Option<String>,
    /// The code's official title.
    #[serde(default)]
    pub icd10_title: Option<String>,
}

/// How the next token is chosen; mirrors the engine's `Sampling`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// ≤ 0 means greedy: always the most likely token.
    pub temperature: f32,
    /// Candidates kept (1..=64).
    pub top_k: u32,
    /// Nucleus mass, in (0, 1].
    pub top_p: f32,
    /// Seed of the random draw; the same seed repeats the same answer.
    pub seed: u32,
}

impl SamplingParams {
    /// Always the most likely token: the same prompt gives the same answer.
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 1,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self::greedy()
    }
}

/// What the worker tells the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// The worker's wasm is running and listening. Messages posted to a
    /// worker before it listens are lost, so the page waits for this.
    Booted,
    /// How the model load is going.
    Progress(LoadProgress),
    /// The model is on the GPU and ready for questions.
    Ready {
        /// The model's name, from its manifest.
        model: String,
        /// The GPU adapter's name; empty when the browser hides it.
        adapter: String,
        /// The whole load, from request to ready, in milliseconds.
        load_ms: f64,
        /// Bytes fetched from the network in this load (0 on a visit that
        /// found every shard on this device).
        downloaded_bytes: u64,
        /// The model's size in bytes (all shards).
        model_bytes: u64,
        /// The worker's wasm memory after the load, in bytes. Wasm memory
        /// never shrinks, so this is the peak of the load.
        wasm_memory_bytes: u64,
        /// Shards that could not be stored on this device (its storage is
        /// full, or the browser offers none): the model runs now, but the
        /// next visit downloads them again.
        #[serde(default)]
        not_stored_shards: u32,
    },
    /// The load was cancelled at the page's request; nothing is loaded.
    LoadCancelled,
    /// This browser offers no usable WebGPU adapter; `detail` is the
    /// browser's own reason, for the curious.
    NoWebGpu { detail: String },
    /// `done` of the prompt's `total` tokens have been read (sent after each
    /// batch of a prompt longer than one, before the first token).
    PromptRead { done: u32, total: u32 },
    /// The next piece of the answer (one token's text; may be empty while a
    /// multi-byte character is incomplete).
    Token { text: String },
    /// The generation has ended; how it went.
    Done { stats: GenerationStats },
    /// The case's prompt is ready: its size in tokens, what was left out to
    /// fit the context, and what in the case looks wrong (sentences).
    AssistPrompt {
        tokens: u32,
        omitted: Vec<String>,
        warnings: Vec<String>,
    },
    /// The next piece of the model's free reasoning about the case.
    Reasoning { text: String },
    /// The differential's one- or two-sentence summary of the case.
    DifferentialSummary { text: String },
    /// Diagnosis `index` (0 is the most likely) is complete.
    DifferentialItem { index: u32, card: DiagnosisCard },
    /// Findings that need action now, whatever the diagnosis.
    RedFlags { flags: Vec<String> },
    /// The differential is complete.
    AssistDone {
        /// The whole differential, as JSON that matches its schema.
        differential_json: String,
        /// From the request to the first reasoning token.
        time_to_first_token_ms: f64,
        /// From the request to the complete differential.
        total_ms: f64,
        reasoning_tokens: u32,
        differential_tokens: u32,
        /// Prompt tokens the KV cache already held (read ahead, or from
        /// the case asked before), not read again.
        #[serde(default)]
        kept_tokens: u32,
        /// Of the reasoning and differential tokens, those prompt lookup
        /// drafted and a batch accepted (none with `lookup` off).
        #[serde(default)]
        drafted_tokens: u32,
    },
    /// The clinical answer was stopped at the page's request; what arrived
    /// so far is all there is.
    AssistStopped,
    /// A [`Request::ReadAhead`] ended: `kept` prompt tokens were already in
    /// the cache, `read` more were read (fewer than asked if another request
    /// ended it), of the prompt's `tokens`.
    ReadAhead { tokens: u32, kept: u32, read: u32 },
    /// Something failed; `message` is a sentence for the user.
    Error { message: String },
}

/// Where a model load is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadPhase {
    /// Reading the manifest, checking the GPU's limits, the storage quota
    /// and which shards this device already has.
    Checking,
    /// Fetching shards from the server (some may come from this device).
    Downloading,
    /// Every shard is on this device; reading them from there.
    FromDevice,
    /// Hashing shards that have arrived.
    Verifying,
    /// Copying weights into GPU memory.
    Uploading,
    /// Compiling the GPU kernels with a first tiny forward pass.
    WarmingUp,
}

/// A snapshot of a model load, sent a few times a second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadProgress {
    pub phase: LoadPhase,
    /// Bytes of the model ready so far (downloaded or read from this
    /// device, and verified).
    pub done_bytes: u64,
    /// The model's size in bytes.
    pub total_bytes: u64,
    /// Of `done_bytes`, those read from this device rather than the network.
    pub from_device_bytes: u64,
    pub shards_done: u32,
    pub shards_total: u32,
    /// Network rate over the last seconds, bytes per second (0 when unknown).
    pub bytes_per_s: f64,
}

impl LoadProgress {
    /// Seconds left at the current rate, when it can be told.
    pub fn seconds_left(&self) -> Option<f64> {
        let left = self.total_bytes.saturating_sub(self.done_bytes);
        (self.bytes_per_s > 0.0 && left > 0).then(|| left as f64 / self.bytes_per_s)
    }

    /// Done, as a percentage of the whole model (0 to 100).
    pub fn percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        (self.done_bytes as f64 * 100.0 / self.total_bytes as f64).min(100.0)
    }
}

/// What a generation did, and how fast.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GenerationStats {
    /// Prompt tokens read.
    pub prompt_tokens: u32,
    /// Prompt tokens not read again: the start the KV cache kept from the
    /// question before.
    #[serde(default)]
    pub kept_tokens: u32,
    pub generated_tokens: u32,
    /// Prompt processing up to and including the first generated token.
    pub time_to_first_token_ms: f64,
    /// Prompt tokens per second.
    pub prefill_tokens_per_s: f64,
    /// Tokens per second after the first.
    pub decode_tokens_per_s: f64,
    /// Why it stopped: "eos", "max_tokens", "stopped" or "context".
    pub stop_reason: String,
    /// Generated tokens that prompt lookup drafted and a batch accepted,
    /// without a decode step of their own (`Session::lookup`).
    #[serde(default)]
    pub drafted_tokens: u32,
}

macro_rules! json_methods {
    ($t:ty) => {
        impl $t {
            /// This message as the JSON string that crosses `postMessage`.
            pub fn to_json(&self) -> String {
                // Serializing these plain enums cannot fail: no maps with
                // non-string keys, no custom serializers.
                serde_json::to_string(self).unwrap_or_default()
            }

            /// Reads a message sent with `to_json`.
            pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
                serde_json::from_str(s)
            }
        }
    };
}

json_methods!(Request);
json_methods!(Event);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let all = [
            Request::Load {
                manifest: "model-shards/manifest.json".into(),
                context: DEFAULT_CONTEXT,
                lookup: Some(false),
            },
            Request::CancelLoad,
            Request::Generate {
                prompt: "What is the capital of France?\n\"quoted\" ünïcode".into(),
                chat: true,
                max_tokens: 30,
                sampling: SamplingParams::greedy(),
            },
            Request::Assist {
                case_json: r#"{"notes":[{"text":"fever \"and\" rash"}]}"#.into(),
                today: "2026-03-06".into(),
                sampling: SamplingParams {
                    temperature: 0.7,
                    top_k: 40,
                    top_p: 0.95,
                    seed: 7,
                },
                lengths: Some(AnswerLengths {
                    reasoning_max_tokens: 24,
                    differential_max_tokens: 96,
                }),
            },
            Request::ReadAhead {
                case_json: r#"{"notes":[{"text":"cough"}]}"#.into(),
                today: "2026-03-06".into(),
                lengths: None,
            },
            Request::Stop,
        ];
        for r in all {
            assert_eq!(Request::from_json(&r.to_json()).unwrap(), r);
        }
    }

    #[test]
    fn events_round_trip() {
        let all = [
            Event::Booted,
            Event::Progress(LoadProgress {
                phase: LoadPhase::Downloading,
                done_bytes: 1 << 33,
                total_bytes: 1 << 34,
                from_device_bytes: 1 << 20,
                shards_done: 3,
                shards_total: 40,
                bytes_per_s: 1.5e6,
            }),
            Event::Ready {
                model: "SmolLM2".into(),
                adapter: "SwiftShader".into(),
                load_ms: 12.5,
                downloaded_bytes: 0,
                model_bytes: 98 << 20,
                wasm_memory_bytes: 40 << 20,
                not_stored_shards: 2,
            },
            Event::LoadCancelled,
            Event::NoWebGpu {
                detail: "no adapter".into(),
            },
            Event::PromptRead {
                done: 128,
                total: 521,
            },
            Event::Token {
                text: " Paris".into(),
            },
            Event::Done {
                stats: GenerationStats {
                    prompt_tokens: 3,
                    kept_tokens: 12,
                    generated_tokens: 7,
                    time_to_first_token_ms: 10.0,
                    prefill_tokens_per_s: 300.0,
                    decode_tokens_per_s: 2.5,
                    stop_reason: "eos".into(),
                    drafted_tokens: 4,
                },
            },
            Event::AssistPrompt {
                tokens: 812,
                omitted: vec!["3 older creatinine results".into()],
                warnings: vec!["The age is over 125 years.".into()],
            },
            Event::Reasoning {
                text: " Septic arthritis".into(),
            },
            Event::DifferentialSummary {
                text: "A febrile child who will not bear weight.".into(),
            },
            Event::DifferentialItem {
                index: 0,
                card: DiagnosisCard {
                    diagnosis: "Septic arthritis of the hip".into(),
                    likelihood: "high".into(),
                    supporting: vec!["fever 38.9 °C".into(), "refuses to bear weight".into()],
                    against: vec![],
                    cant_miss: true,
                    next_steps: vec!["CRP, ESR, blood cultures".into()],
                    icd10_code: Some("M00.9".into()),
                    icd10_title: Some("Pyogenic arthritis, unspecified".into()),
                },
            },
            Event::RedFlags {
                flags: vec!["Non-weight-bearing with fever".into()],
            },
            Event::AssistDone {
                differential_json: r#"{"summary":"x","differential":[],"red_flags":[]}"#.into(),
                time_to_first_token_ms: 120.5,
                total_ms: 9_000.0,
                reasoning_tokens: 100,
                differential_tokens: 300,
                kept_tokens: 700,
                drafted_tokens: 150,
            },
            Event::AssistStopped,
            Event::ReadAhead {
                tokens: 812,
                kept: 195,
                read: 615,
            },
            Event::Error {
                message: "it broke".into(),
            },
        ];
        for e in all {
            assert_eq!(Event::from_json(&e.to_json()).unwrap(), e);
        }
    }

    #[test]
    fn progress_reads_as_a_person_would() {
        let p = LoadProgress {
            phase: LoadPhase::Downloading,
            done_bytes: 25,
            total_bytes: 100,
            from_device_bytes: 0,
            shards_done: 1,
            shards_total: 4,
            bytes_per_s: 5.0,
        };
        assert_eq!(p.percent(), 25.0);
        assert_eq!(p.seconds_left(), Some(15.0));
        let stalled = LoadProgress {
            bytes_per_s: 0.0,
            ..p
        };
        assert_eq!(stalled.seconds_left(), None);
    }

    #[test]
    fn the_wire_format_is_tagged() {
        assert_eq!(Request::Stop.to_json(), r#"{"type":"Stop"}"#);
        assert!(Request::from_json(r#"{"type":"Launch"}"#).is_err());
    }
}
