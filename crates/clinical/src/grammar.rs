//! Constrained decoding: the token mask that makes the model's answer a
//! schema-valid differential whatever the model does (ARCHITECTURE.md,
//! decision 6).
//!
//! [`Grammars`] holds a model's vocabulary in the form the grammar engine
//! (`llguidance`) searches, built once per model. Each answer gets a
//! [`Constraint`]: before sampling a token the decoder takes
//! [`Constraint::mask`] and samples only among allowed tokens, then hands the
//! token to [`Constraint::accept`]:
//!
//! ```text
//! let grammars = Grammars::new(vocabulary)?;            // once per model
//! let mut c = grammars.differential()?;                 // once per answer
//! while !c.is_finished() {
//!     if c.tokens() == cap { c.force_finish()?; break } // see "Bounds"
//!     if c.tokens() == wind_down_at { c.wind_down() }
//!     let mask = c.mask()?;              // bit i of word i/32: token i allowed
//!     let token = sample(logits, &mask); // disallowed logits at -inf
//!     c.accept(token)?;
//! }
//! let differential = Differential::from_json(&c.text())?; // valid by construction
//! ```
//!
//! The JSON is compact (no whitespace between tokens: it would only spend
//! tokens), keys come in the schema's order (`summary` first), and strings
//! may use the escapes `\"`, `\\`, `\n`, `\t` but not `\uXXXX` (raw UTF-8 is
//! shorter and keeps each character to at most 4 bytes, which bounds the
//! output; see [`max_json_bytes`]).
//!
//! # Bounds
//!
//! Every string and array in the differential's schema is bounded, and
//! every token the mask allows carries at least one byte, so generation
//! under the grammar ends within [`Constraint::max_tokens`] tokens. That
//! bound is a guarantee (every field full, every character 4 bytes): 80,885
//! tokens for the differential, far more than a phone should decode. The practical
//! cap is [`crate::Phases::differential_max_tokens`]; to stay valid under it:
//!
//! 1. Some way before the cap, call [`Constraint::wind_down`]: from then on
//!    the mask allows no new array element, so the model finishes the line
//!    and the diagnosis it is writing, gives each list not yet begun one
//!    entry at most, and closes the JSON. For the differential that is at
//!    most about 1,100 more characters (the rest of the summary, one
//!    diagnosis with one entry per list, one red flag), some 300 tokens of
//!    English: a quarter of a 2048-token cap is ample.
//! 2. At the cap, call [`Constraint::force_finish`]: it completes the JSON
//!    itself, without the model, by the shortest route (close the string,
//!    close the lists, fill required fields with `"?"`, `"low"`, `false`,
//!    `[]`). The result is valid but cut short; the caller should say so.
//!
//! This module knows nothing of the model, the sampler or the tokenizer:
//! the engine supplies the vocabulary as bytes ([`Vocabulary`],
//! [`gpt2_token_bytes`] for byte-level BPE models).

mod bound;
mod byte_level;
mod json_cursor;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};
use serde_json::Value;

pub use bound::max_json_bytes;
pub use byte_level::gpt2_token_bytes;
use json_cursor::JsonCursor;

use crate::{Error, Result};

/// A model's vocabulary as raw bytes, for the grammar engine.
///
/// `tokens[i]` is what token `i` writes: for byte-level BPE the decoded
/// bytes ([`gpt2_token_bytes`], or [`Vocabulary::from_byte_level_bpe`]); for
/// SentencePiece, `▁` replaced by a space and byte-fallback tokens `<0xNN>`
/// as the single byte `NN`. [`Constraint::force_finish`] needs a single-byte
/// token for each byte it writes, which every byte-level and byte-fallback
/// vocabulary has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    /// Each token's bytes, indexed by token id.
    pub tokens: Vec<Vec<u8>>,
    /// Per token: a special or control token (BOS, `<|im_end|>` …), never
    /// part of JSON text and never allowed by a mask, except `eos`.
    pub special: Vec<bool>,
    /// The token that ends the answer; allowed exactly when the JSON is
    /// complete. Treated as special whatever `special` says.
    pub eos: u32,
}

/// A model's vocabulary prepared for the grammar engine. Built once per
/// model (building the token trie and its slices is the expensive part:
/// for SmolLM2's 49,152 tokens about 0.1 s natively, 0.2 s as wasm), cheap
/// to clone.
#[derive(Clone)]
pub struct Grammars {
    inner: Arc<Inner>,
}

struct Inner {
    factory: ParserFactory,
    /// The token that writes exactly this byte, where there is one.
    byte_tokens: [Option<TokenId>; 256],
    eos: TokenId,
    vocab_size: usize,
}

/// The options every schema is compiled with (llguidance's `x-guidance`):
/// compact JSON, and no `\uXXXX` escapes (see the module documentation).
const COMPILE_OPTIONS: &str = r#"{
    "whitespace_flexible": false,
    "item_separator": ",",
    "key_separator": ":",
    "json_allowed_escapes": "nt\"\\"
}"#;

/// How a model tokenizes a piece of text: its ids without a BOS, or `None`
/// where it cannot (see [`Grammars::with_tokenizer`]).
pub type Tokenize = Arc<dyn Fn(&str) -> Option<Vec<u32>> + Send + Sync>;

/// The model's own tokenizer as llguidance's tokenizer environment, so that
/// it forces bytes the grammar fixes as the tokens the model would read
/// them as. Bytes that are not UTF-8 are split greedily by the trie.
struct ModelTokEnv {
    trie: TokTrie,
    tokenize: Tokenize,
}

impl TokenizerEnv for ModelTokEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|text| (self.tokenize)(text))
            .unwrap_or_else(|| self.trie.greedy_tokenize(s))
    }

    fn tokenize_is_canonical(&self) -> bool {
        true
    }
}

impl Grammars {
    /// Prepares `vocab` for constrained decoding. Nothing is forced
    /// ([`Constraint::forced`] is always empty): the model spells even the
    /// bytes the grammar fixes with whichever allowed tokens it prefers.
    pub fn new(vocab: Vocabulary) -> Result<Grammars> {
        Grammars::build(vocab, None)
    }

    /// [`Grammars::new`] with the model's tokenizer: where the grammar
    /// allows one text only (a key, the punctuation between fields),
    /// [`Constraint::forced`] names its tokens as `tokenize` spells them,
    /// to be fed without sampling.
    pub fn with_tokenizer(vocab: Vocabulary, tokenize: Tokenize) -> Result<Grammars> {
        Grammars::build(vocab, Some(tokenize))
    }

    fn build(vocab: Vocabulary, tokenize: Option<Tokenize>) -> Result<Grammars> {
        let Vocabulary {
            tokens,
            special,
            eos,
        } = vocab;
        let n = tokens.len();
        if special.len() != n {
            return Err(Error::Grammar(format!(
                "the vocabulary has {n} tokens but {} special-token flags",
                special.len()
            )));
        }
        let vocab_size = u32::try_from(n).ok().filter(|&v| v > eos).ok_or_else(|| {
            Error::Grammar(format!(
                "the end token {eos} is not among the vocabulary's {n} tokens"
            ))
        })?;

        // llguidance marks special tokens by a leading 0xFF, a byte that
        // never occurs in UTF-8 and so never in JSON text.
        let mut byte_tokens = [None; 256];
        let words: Vec<Vec<u8>> = tokens
            .into_iter()
            .zip(special)
            .enumerate()
            .map(|(i, (bytes, special))| {
                if special || i == eos as usize {
                    let mut w = Vec::with_capacity(bytes.len() + 1);
                    w.push(TokTrie::SPECIAL_TOKEN_MARKER);
                    w.extend_from_slice(&bytes);
                    w
                } else {
                    if let [b] = bytes[..] {
                        byte_tokens[b as usize].get_or_insert(i as TokenId);
                    }
                    bytes
                }
            })
            .collect();
        let trie = TokTrie::from(&TokRxInfo::new(vocab_size, eos), &words);
        // Without the model's tokenizer the environment is not canonical:
        // llguidance then never forces a tokenization of bytes the grammar
        // fixes. With it, it forces the model's own.
        let env: TokEnv = match tokenize {
            Some(tokenize) => Arc::new(ModelTokEnv { trie, tokenize }),
            None => Arc::new(ApproximateTokEnv::new(trie)),
        };
        let mut factory = ParserFactory::new_simple(&env).map_err(grammar_error)?;
        factory.quiet();
        Ok(Grammars {
            inner: Arc::new(Inner {
                factory,
                byte_tokens,
                eos,
                vocab_size: n,
            }),
        })
    }

    /// Tokens in the vocabulary; masks have `vocab_size().div_ceil(32)` words.
    pub fn vocab_size(&self) -> usize {
        self.inner.vocab_size
    }

    /// A constraint for one differential
    /// ([`crate::schema::json_schema_text`]).
    pub fn differential(&self) -> Result<Constraint> {
        self.json_schema(&crate::schema::json_schema_text())
    }

    /// A constraint for JSON matching the JSON Schema `schema_text`, with
    /// its properties generated in the order the text lists them.
    ///
    /// The schema is compiled with this module's options unless it carries
    /// its own `x-guidance`. Fails if the schema does not compile, or if
    /// llguidance would enforce it only in part (any warning): structured
    /// output is enforced, not hoped for.
    pub fn json_schema(&self, schema_text: &str) -> Result<Constraint> {
        // llguidance turns on serde_json's `preserve_order`, so the object
        // keeps the order of the text, which is the order of generation.
        let mut schema: Value = serde_json::from_str(schema_text)
            .map_err(|e| Error::Grammar(format!("the schema is not JSON: {e}")))?;
        let object = schema
            .as_object_mut()
            .ok_or_else(|| Error::Grammar("the schema is not a JSON object".into()))?;
        let own_options = object.contains_key("x-guidance");
        if !own_options {
            let options: Value = serde_json::from_str(COMPILE_OPTIONS).map_err(grammar_error)?;
            object.insert("x-guidance".into(), options);
        }
        let max_bytes = if own_options {
            None
        } else {
            max_json_bytes(&schema)
        };

        let parser = self
            .inner
            .factory
            .create_parser(TopLevelGrammar::from_json_schema(schema))
            .map_err(grammar_error)?;
        let mut matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(Error::Grammar(e));
        }
        let warnings = matcher.grammar_warnings();
        if !warnings.is_empty() {
            return Err(Error::Grammar(format!(
                "the schema would be enforced only in part ({})",
                warnings.join("; ")
            )));
        }
        Ok(Constraint {
            matcher,
            grammars: self.clone(),
            bytes: Vec::new(),
            cursor: JsonCursor::default(),
            tokens: 0,
            max_bytes,
            winding_down: false,
        })
    }

    fn trie(&self) -> &TokTrie {
        self.inner.factory.tok_env().tok_trie()
    }

    fn mask_words(&self) -> usize {
        self.inner.vocab_size.div_ceil(32)
    }
}

impl fmt::Debug for Grammars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grammars")
            .field("vocab_size", &self.inner.vocab_size)
            .field("eos", &self.inner.eos)
            .finish_non_exhaustive()
    }
}

/// The grammar state of one answer: which tokens may come next, and what
/// has been generated so far.
pub struct Constraint {
    matcher: Matcher,
    grammars: Grammars,
    bytes: Vec<u8>,
    cursor: JsonCursor,
    /// Tokens taken by [`Constraint::accept`].
    tokens: usize,
    max_bytes: Option<usize>,
    winding_down: bool,
}

impl Constraint {
    /// The tokens allowed next, as a bitset of `vocab_size.div_ceil(32)`
    /// words: bit `i % 32` of word `i / 32` is set when token `i` is allowed.
    /// EOS is allowed exactly when the JSON is complete; once it is, EOS is
    /// the only token allowed.
    ///
    /// This is the expensive call, a walk of the token trie. For SmolLM2's
    /// vocabulary: about 30 µs on average and under 0.5 ms at worst natively
    /// (`tests/grammar.rs`, `smollm2_vocabulary`); about 0.1 ms on average
    /// and 5 ms at worst as wasm in Node. Compute it while the GPU runs the
    /// forward pass.
    pub fn mask(&mut self) -> Result<Vec<u32>> {
        let words = self.grammars.mask_words();
        let mut mask = vec![0u32; words];
        if self.is_finished() {
            let eos = self.grammars.inner.eos as usize;
            mask[eos / 32] |= 1 << (eos % 32);
            return Ok(mask);
        }
        let allowed = self.matcher.compute_mask().map_err(grammar_error)?;
        let bits = allowed.as_slice();
        let n = words.min(bits.len());
        mask[..n].copy_from_slice(&bits[..n]);
        let tail = self.grammars.inner.vocab_size % 32;
        if tail != 0 {
            mask[words - 1] &= (1 << tail) - 1;
        }
        if self.winding_down {
            self.narrow_to_closing(&mut mask);
        }
        Ok(mask)
    }

    /// Advances by the sampled token. An error, leaving the state as it
    /// was, if the grammar does not allow the token here. EOS after the
    /// JSON is complete is accepted and changes nothing.
    ///
    /// [`Constraint::wind_down`] narrows the mask only: `accept` still takes
    /// any token the grammar allows.
    pub fn accept(&mut self, token: u32) -> Result<()> {
        let inner = &self.grammars.inner;
        let not_allowed = Error::TokenNotAllowed {
            token,
            at: self.bytes.len(),
        };
        if token as usize >= inner.vocab_size {
            return Err(not_allowed);
        }
        if self.is_finished() {
            return if token == inner.eos {
                Ok(())
            } else {
                Err(not_allowed)
            };
        }
        if self
            .matcher
            .validate_tokens(&[token])
            .map_err(grammar_error)?
            != 1
        {
            return Err(not_allowed);
        }
        self.matcher.consume_token(token).map_err(grammar_error)?;
        self.tokens += 1;
        if token != inner.eos {
            let bytes = self.grammars.trie().token(token);
            self.bytes.extend_from_slice(bytes);
            self.cursor.feed(bytes);
        }
        Ok(())
    }

    /// The JSON is complete (the top-level value closed, or EOS accepted):
    /// generation should stop.
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped() && !self.matcher.is_error()
    }

    /// The bytes generated under the constraint so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The text generated so far; exact once finished (the grammar admits
    /// only UTF-8), lossy in between if a token ended inside a character.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }

    /// The tokens the grammar forces next, where it allows no other bytes
    /// (a key's name, the punctuation between fields): llguidance's
    /// fast-forward tokens, the forced bytes tokenized canonically, less
    /// any last token that the text after them could have merged into.
    /// Not accepted yet: pass each to [`Constraint::accept`]. Empty when
    /// nothing is forced or the JSON is complete.
    ///
    /// The engine feeds them in one batch with the sampled token before
    /// them, instead of a sampling step each.
    pub fn forced(&mut self) -> Vec<u32> {
        if self.is_finished() {
            return Vec::new();
        }
        let eos = self.grammars.inner.eos;
        let mut tokens = self.matcher.compute_ff_tokens();
        if let Some(i) = tokens.iter().position(|&t| t == eos) {
            tokens.truncate(i);
        }
        // Only what the grammar takes: a tokenizer that spells a piece
        // otherwise than in context (a SentencePiece prefix) forces less.
        let valid = self.matcher.validate_tokens(&tokens).unwrap_or(0);
        tokens.truncate(valid);
        tokens
    }

    /// How many of `tokens`, taken in turn from here, the grammar allows;
    /// nothing is accepted. For drafted tokens (speculative decoding):
    /// those past this are not worth checking. The grammar only:
    /// [`Constraint::wind_down`]'s narrowing is the mask's, not this.
    pub fn valid_prefix(&mut self, tokens: &[u32]) -> usize {
        if self.is_finished() {
            return 0;
        }
        self.matcher.validate_tokens(tokens).unwrap_or(0)
    }

    /// Tokens taken by [`Constraint::accept`] (EOS included).
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Most tokens [`Constraint::accept`] can take before the grammar is
    /// finished, EOS included: a proven bound (see the module documentation),
    /// or `None` for a schema that admits unbounded JSON.
    pub fn max_tokens(&self) -> Option<usize> {
        self.max_bytes.map(|b| b + 1)
    }

    /// From now on, [`Constraint::mask`] allows no token that would begin
    /// another element of an array: lists and the differential end after the
    /// element being written, and lists not yet begun get one element at
    /// most. Required fields are still written, so the model closes the JSON
    /// in far fewer tokens than it otherwise might, and in its own words. If
    /// the grammar leaves no other choice (an array below its `minItems`),
    /// the mask is left as it is.
    pub fn wind_down(&mut self) {
        self.winding_down = true;
    }

    fn narrow_to_closing(&self, mask: &mut [u32]) {
        let trie = self.grammars.trie();
        let mut narrowed = mask.to_vec();
        for (w, word) in narrowed.iter_mut().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                let token = (w * 32) as TokenId + bit;
                if self.cursor.starts_array_element(trie.token(token)) {
                    *word &= !(1 << bit);
                }
            }
        }
        if narrowed.iter().any(|&w| w != 0) {
            mask.copy_from_slice(&narrowed);
        }
    }

    /// Completes the JSON without the model, by the shortest route the
    /// grammar allows, and returns what it appended. Use it when the model
    /// reaches its token cap: the result parses and validates, but whatever
    /// the model had not yet written is missing (a string closed mid-word,
    /// lists ended, required strings not begun filled with `"?"`, a
    /// likelihood not begun as `"low"`, a flag as `false`).
    ///
    /// Needs a single-byte token for every byte it writes (see
    /// [`Vocabulary`]). Does nothing if the JSON is already complete.
    pub fn force_finish(&mut self) -> Result<String> {
        let start = self.bytes.len();
        // The route is at most a few hundred bytes for any bounded schema;
        // this only guards against a grammar that never closes.
        let limit = self.max_bytes.unwrap_or(1 << 16).min(1 << 16);
        for _ in 0..limit {
            if self.is_finished() {
                break;
            }
            if self.matcher.is_accepting().map_err(grammar_error)? {
                let eos = self.grammars.inner.eos;
                self.matcher.consume_token(eos).map_err(grammar_error)?;
                break;
            }
            let forced = self.matcher.compute_ff_bytes();
            if let Some(&b) = forced.first() {
                self.push_byte(b)?;
                continue;
            }
            let b = self.closing_byte()?;
            self.push_byte(b)?;
        }
        if !self.is_finished() {
            return Err(Error::Grammar(format!(
                "the JSON could not be completed within {limit} bytes"
            )));
        }
        Ok(String::from_utf8_lossy(&self.bytes[start..]).into_owned())
    }

    /// The first byte the grammar allows among those that close what is
    /// open soonest; any allowed byte if none of them is.
    fn closing_byte(&mut self) -> Result<u8> {
        let preferred: &[u8] = if self.cursor.in_string() {
            // Close the string; if it may not end yet (minLength, an enum),
            // write the filler or start "low".
            b"\"?l"
        } else {
            match self.cursor.innermost() {
                Some(b'[') => b"],\"{[fn0",
                Some(_) => b"},\"{[fn0",
                None => b"{[\"fn0",
            }
        };
        // After the preferred bytes, the rest in order: this finishes a
        // UTF-8 sequence or an escape the model left open.
        for b in preferred.iter().copied().chain(0..=255) {
            let Some(token) = self.grammars.inner.byte_tokens[b as usize] else {
                continue;
            };
            if self
                .matcher
                .validate_tokens(&[token])
                .map_err(grammar_error)?
                == 1
            {
                return Ok(b);
            }
        }
        Err(Error::Grammar(format!(
            "no single-byte token can continue the JSON after {:?}",
            self.text()
        )))
    }

    fn push_byte(&mut self, b: u8) -> Result<()> {
        let token = self.grammars.inner.byte_tokens[b as usize].ok_or_else(|| {
            Error::Grammar(format!(
                "the vocabulary has no token for the single byte {b:#04x}, which the JSON needs next"
            ))
        })?;
        self.matcher.consume_token(token).map_err(grammar_error)?;
        self.bytes.push(b);
        self.cursor.feed(&[b]);
        Ok(())
    }
}

impl fmt::Debug for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Constraint")
            .field("text", &self.text())
            .field("tokens", &self.tokens)
            .field("finished", &self.is_finished())
            .field("winding_down", &self.winding_down)
            .finish_non_exhaustive()
    }
}

fn grammar_error(e: impl fmt::Display) -> Error {
    Error::Grammar(e.to_string())
}
