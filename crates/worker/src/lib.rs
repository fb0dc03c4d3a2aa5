//! The message protocol between Locum's page and its inference worker.
//!
//! The page sends [`Request`]s, the worker answers with [`Event`]s. Both cross
//! `postMessage` as JSON strings ([`Request::to_json`], [`Event::from_json`]
//! and their twins), so the two wasm modules share nothing but these types.
//! This module is always compiled and depends on serde only: the UI links it
//! without the engine (`default-features = false`).
//!
//! A session goes: worker starts → [`Event::Booted`]; page sends
//! [`Request::Load`] → [`Event::Progress`]… → [`Event::Preparing`] →
//! [`Event::Ready`]; then for each question [`Request::Generate`] →
//! [`Event::Token`]… → [`Event::Done`]. [`Request::Stop`] may arrive at any
//! time during a generation and ends it after the current token. Anything that
//! fails answers [`Event::Error`] (or [`Event::NoWebGpu`] when the browser has
//! no usable GPU), and the worker stays ready for the next request.

use serde::{Deserialize, Serialize};

/// The default size of the KV cache, in token positions.
pub const DEFAULT_CONTEXT: u32 = 2048;

/// What the page asks of the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Request {
    /// Download the GGUF model at `url` (relative to the page) and load it
    /// onto the GPU with a KV cache of `context` positions.
    Load { url: String, context: u32 },
    /// Answer `prompt`, streaming [`Event::Token`]s.
    Generate {
        prompt: String,
        /// Wrap the prompt in the model's own chat template as a user turn.
        chat: bool,
        /// The most tokens to generate.
        max_tokens: u32,
        sampling: SamplingParams,
    },
    /// End the running generation after the token being computed.
    Stop,
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
    /// Model download progress: `loaded` bytes so far of `total` (when the
    /// server said how many).
    Progress { loaded: u64, total: Option<u64> },
    /// The download is complete; the model is being checked and copied to
    /// the GPU, which takes a few seconds with no progress to show.
    Preparing,
    /// The model is on the GPU and ready for questions.
    Ready {
        /// The model's name, from its file.
        model: String,
        /// The GPU adapter's name; empty when the browser hides it.
        adapter: String,
        /// Download and preparation together, in milliseconds.
        load_ms: f64,
    },
    /// This browser offers no usable WebGPU adapter; `detail` is the
    /// browser's own reason, for the curious.
    NoWebGpu { detail: String },
    /// The next piece of the answer (one token's text; may be empty while a
    /// multi-byte character is incomplete).
    Token { text: String },
    /// The generation has ended; how it went.
    Done { stats: GenerationStats },
    /// Something failed; `message` is a sentence for the user.
    Error { message: String },
}

/// What a generation did, and how fast.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GenerationStats {
    pub prompt_tokens: u32,
    pub generated_tokens: u32,
    /// Prompt processing up to and including the first generated token.
    pub time_to_first_token_ms: f64,
    /// Prompt tokens per second.
    pub prefill_tokens_per_s: f64,
    /// Tokens per second after the first.
    pub decode_tokens_per_s: f64,
    /// Why it stopped: "eos", "max_tokens", "stopped" or "context".
    pub stop_reason: String,
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
                url: "model-shards/model.gguf".into(),
                context: DEFAULT_CONTEXT,
            },
            Request::Generate {
                prompt: "What is the capital of France?\n\"quoted\" ünïcode".into(),
                chat: true,
                max_tokens: 30,
                sampling: SamplingParams::greedy(),
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
            Event::Progress {
                loaded: 1 << 33,
                total: None,
            },
            Event::Preparing,
            Event::Ready {
                model: "SmolLM2".into(),
                adapter: "SwiftShader".into(),
                load_ms: 12.5,
            },
            Event::NoWebGpu {
                detail: "no adapter".into(),
            },
            Event::Token {
                text: " Paris".into(),
            },
            Event::Done {
                stats: GenerationStats {
                    prompt_tokens: 3,
                    generated_tokens: 7,
                    time_to_first_token_ms: 10.0,
                    prefill_tokens_per_s: 300.0,
                    decode_tokens_per_s: 2.5,
                    stop_reason: "eos".into(),
                },
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
    fn the_wire_format_is_tagged() {
        assert_eq!(Request::Stop.to_json(), r#"{"type":"Stop"}"#);
        assert!(Request::from_json(r#"{"type":"Launch"}"#).is_err());
    }
}
