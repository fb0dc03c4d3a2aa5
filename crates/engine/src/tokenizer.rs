//! The tokenizer, built from the GGUF's own vocabulary with HF `tokenizers`.
//!
//! Two of llama.cpp's vocabulary kinds (`tokenizer.ggml.model`) are turned
//! into a `tokenizer.json`, the form `locum shard` writes and the browser
//! loads with [`Tokenizer::from_json`]:
//!
//! - `gpt2` (byte-level BPE, SmolLM2): the vocabulary and merges become a
//!   `tokenizers` BPE model, and `tokenizer.ggml.pre` picks the pre-tokenizer
//!   llama.cpp uses for that model family.
//! - `llama` (SentencePiece with scores, Gemma 3): see `spm_tokenizer`. The file
//!   has no merges; llama.cpp merges, among adjacent symbols, the pair whose
//!   concatenation is the vocabulary token with the highest score. That is
//!   BPE with merges ranked by the merged token's score, so the merges are
//!   derived from the vocabulary.
//!
//! In both, control and user-defined tokens become added tokens, so
//! `<|im_start|>` or `<start_of_turn>` in a chat prompt is one token, as
//! llama.cpp does with special-token parsing on. What this module does not
//! do: chat templates (`chat`), or any tokenizer kind llama.cpp calls
//! otherwise (WordPiece, Unigram, RWKV).

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value as Json};

use crate::format::gguf::Gguf;
use crate::{Error, Result};

/// llama.cpp's token types (`llama_token_type`, `tokenizer.ggml.token_type`).
const TYPE_NORMAL: u64 = 1;
const TYPE_UNKNOWN: u64 = 2;
const TYPE_CONTROL: u64 = 3;
const TYPE_USER_DEFINED: u64 = 4;

/// SentencePiece's stand-in for a space.
const SPM_SPACE: char = '\u{2581}';

/// Token texts llama.cpp takes for end-of-turn when the GGUF names no
/// `tokenizer.ggml.eot_token_id` (`llama_vocab::impl::load` in
/// `src/llama-vocab.cpp`). llama.cpp also lists `</s>` (for PaddleOCR); it is
/// left out here because Gemma's `</s>` is a user-defined HTML tag, text the
/// model may write, and only control tokens are taken anyway.
const END_OF_TURN_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<end_of_utterance>",
];

/// A tokenizer with the GGUF's BOS/EOS rules.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Prepended by [`Tokenizer::encode`] when the GGUF asks for it.
    pub bos: Option<u32>,
    /// Tokens that end a generation: EOS first, then EOT (or, where the GGUF
    /// names none, the control tokens llama.cpp takes for end-of-turn, such
    /// as Gemma's `<end_of_turn>`).
    pub stop: Vec<u32>,
    /// The `tokenizer.json` text it was built from, if it was
    /// ([`Tokenizer::json`]).
    json: Option<String>,
    /// The text of `bos` when it is an added token, so a text that already
    /// starts with it (a chat template's `{{ bos_token }}`) parses to it.
    bos_text: Option<String>,
    /// The added tokens: id, and whether it is special (control) rather
    /// than user-defined.
    added: HashMap<u32, bool>,
    /// SentencePiece (`▁` for spaces, `<0xNN>` byte tokens) rather than
    /// byte-level BPE; decides [`Tokenizer::token_bytes`].
    sentencepiece: bool,
}

/// The GPT-2 split pattern, as llama.cpp and `tokenizers`' ByteLevel use it.
fn gpt2_pretokenizer(individual_digits: bool) -> Json {
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    if individual_digits {
        json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level]})
    } else {
        byte_level
    }
}

/// `tokenizer.ggml.token_type`, one per token (normal where the file has none).
fn token_types(g: &Gguf, n: usize) -> Vec<u64> {
    let stored: Vec<u64> = match g.get("tokenizer.ggml.token_type") {
        Ok(v) => v
            .as_array()
            .unwrap_or(&[])
            .iter()
            .map(|t| t.as_u64().unwrap_or(TYPE_NORMAL))
            .collect(),
        Err(_) => vec![],
    };
    (0..n)
        .map(|i| stored.get(i).copied().unwrap_or(TYPE_NORMAL))
        .collect()
}

/// The added tokens: control tokens (special) and user-defined ones (text
/// such as `"\n\n"`), matched in the raw text before anything else. Each as
/// (id, special).
fn added_token_list(
    types: &[u64],
    unknown_is_control: bool,
) -> impl Iterator<Item = (usize, bool)> + '_ {
    types.iter().enumerate().filter_map(move |(id, &ty)| {
        let control = ty == TYPE_CONTROL || (unknown_is_control && ty == TYPE_UNKNOWN);
        (control || ty == TYPE_USER_DEFINED).then_some((id, control))
    })
}

/// [`added_token_list`] as `tokenizer.json`'s `added_tokens`.
fn added_tokens(tokens: &[&str], types: &[u64], unknown_is_control: bool) -> Vec<Json> {
    added_token_list(types, unknown_is_control)
        .map(|(id, special)| {
            json!({"id": id, "content": tokens[id], "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": special})
        })
        .collect()
}

/// The `tokenizer.json` of a byte-level BPE vocabulary (`gpt2`).
fn gpt2_json(g: &Gguf, tokens: &[&str], types: &[u64]) -> Result<String> {
    let pre = g.get_str("tokenizer.ggml.pre").unwrap_or("default");
    let pre_tokenizer = match pre {
        // SmolLM, StarCoder: single digits, then the GPT-2 pattern.
        "smollm" | "starcoder" | "refact" => gpt2_pretokenizer(true),
        "gpt2" | "default" | "gpt-2" => gpt2_pretokenizer(false),
        other => {
            return Err(Error::UnsupportedTokenizer(format!(
                "pre-tokenizer {other:?}"
            )))
        }
    };
    let merges = g.get_str_array("tokenizer.ggml.merges")?;
    let mut vocab = serde_json::Map::new();
    for (id, tok) in tokens.iter().enumerate() {
        vocab.insert(tok.to_string(), json!(id));
    }
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens(tokens, types, false),
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges},
    });
    Ok(doc.to_string())
}

/// The merges that reproduce llama.cpp's SentencePiece tokenizer
/// (`llm_tokenizer_spm_session` in `src/llama-vocab.cpp`), best first.
///
/// llama.cpp splits a text into characters and, while any adjacent pair's
/// concatenation is in the vocabulary, merges the pair whose concatenation
/// has the highest score, the leftmost on ties. So every way of writing a
/// token as the concatenation of two tokens is a merge, ranked by the score
/// of the token it makes. Control and user-defined tokens are neither parts
/// nor results: they are cut out of the text before it gets here. Byte
/// tokens can be results: llama.cpp looks pieces up by text, so the text
/// `<0x41>` can merge into the byte token for `A`; this copies that.
///
/// One difference is possible: where two different pairs make the same
/// token and overlap (`[ab][a][ba]`: `ab+a` and `a+ba` both make `aba`),
/// llama.cpp takes the leftmost, `tokenizers` the better-ranked, and ranks
/// are never equal; here the pair with the longer left part ranks first.
/// The random texts of `tests/gemma3_tokenizer.rs` (periodic runs among
/// them) never met such a case with Gemma 3's vocabulary. Scores tie across
/// tokens only in a vocabulary without them, ranked then by id.
fn spm_merges<'a>(tokens: &[&'a str], types: &[u64], scores: &[f32]) -> Vec<(&'a str, &'a str)> {
    let mergeable =
        |id: usize| !matches!(types[id], TYPE_CONTROL | TYPE_USER_DEFINED | TYPE_UNKNOWN);
    let mut id_of: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (id, tok) in tokens.iter().enumerate() {
        if mergeable(id) {
            // Of duplicate texts the last wins, as in llama.cpp's token_to_id
            // (and the vocabulary below).
            id_of.insert(tok, id);
        }
    }
    // (result id, left part length in bytes)
    let mut found: Vec<(usize, usize)> = Vec::new();
    for (id, tok) in tokens.iter().enumerate() {
        if !mergeable(id) || id_of.get(tok) != Some(&id) {
            continue;
        }
        for (cut, _) in tok.char_indices().skip(1) {
            let (a, b) = tok.split_at(cut);
            if id_of.contains_key(a) && id_of.contains_key(b) {
                found.push((id, cut));
            }
        }
    }
    found.sort_by(|&(x, cx), &(y, cy)| {
        scores[y]
            .total_cmp(&scores[x])
            .then(x.cmp(&y))
            .then(cy.cmp(&cx))
    });
    found
        .into_iter()
        .map(|(id, cut)| tokens[id].split_at(cut))
        .collect()
}

/// The tokenizer of a SentencePiece vocabulary with scores (`llama`), built
/// through `tokenizers`' own types rather than from `tokenizer.json` text:
/// for Gemma 3's 262,144 tokens and 513,511 merges, writing that text and
/// parsing it back took about 1.2 of the 1.7–2.2 s the tokenizer took, which
/// natively was the longest part of a Gemma load. `locum shard` writes its
/// `tokenizer.json` from it ([`Tokenizer::json`]).
///
/// The normalizer writes spaces as `▁` (after a leading `▁` when
/// `add_space_prefix`); there is no pre-tokenizer, so a whole run of text
/// between added tokens is one BPE word, as llama.cpp tokenizes it. Characters
/// outside the vocabulary fall back to their UTF-8 bytes (`<0xNN>`). The
/// decoder undoes both.
fn spm_tokenizer(
    tokens: &[&str],
    types: &[u64],
    scores: &[f32],
    add_space_prefix: bool,
    unk: Option<&str>,
) -> Result<tokenizers::Tokenizer> {
    use tokenizers::decoders::{
        byte_fallback::ByteFallback, fuse::Fuse, sequence::Sequence as Decoders, strip::Strip,
    };
    use tokenizers::models::bpe::{Vocab, BPE};
    use tokenizers::normalizers::{Prepend, Replace, Sequence as Normalizers};
    use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper};
    let bad = |e: tokenizers::Error| Error::Tokenizer(e.to_string());
    // Of duplicate texts the last id wins, as in llama.cpp's token_to_id.
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, tok)| (tok.to_string(), id as u32))
        .collect();
    let merges = spm_merges(tokens, types, scores)
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true);
    if let Some(unk) = unk {
        bpe = bpe.unk_token(unk.to_string());
    }
    let mut inner = tokenizers::Tokenizer::new(bpe.build().map_err(bad)?);
    let space = Replace::new(" ", SPM_SPACE.to_string()).map_err(bad)?;
    let normalizer: NormalizerWrapper = match add_space_prefix {
        true => Normalizers::new(vec![
            Prepend::new(SPM_SPACE.to_string()).into(),
            space.into(),
        ])
        .into(),
        false => space.into(),
    };
    inner.with_normalizer(Some(normalizer)).map_err(bad)?;
    let mut decoders: Vec<DecoderWrapper> = vec![
        Replace::new(SPM_SPACE.to_string(), " ")
            .map_err(bad)?
            .into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    inner.with_decoder(Some(Decoders::new(decoders)));
    let added = added_token_list(types, true).map(|(id, special)| {
        AddedToken::from(tokens[id].to_string(), special)
            .single_word(false)
            .lstrip(false)
            .rstrip(false)
            .normalized(false)
    });
    inner.add_tokens(added).map_err(bad)?;
    Ok(inner)
}

/// `tokenizers`' tokenizer from `tokenizer.json` text.
fn parse_json(json: &str) -> Result<tokenizers::Tokenizer> {
    tokenizers::Tokenizer::from_bytes(json.as_bytes()).map_err(|e| Error::Tokenizer(e.to_string()))
}

/// A `bool` from the metadata, `default` where it is absent.
fn flag(g: &Gguf, key: &str, default: bool) -> bool {
    g.get(key).ok().and_then(|v| v.as_bool()).unwrap_or(default)
}

impl Tokenizer {
    /// Builds the tokenizer described by the GGUF metadata.
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer> {
        let model = g.get_str("tokenizer.ggml.model")?;
        let tokens = g.get_str_array("tokenizer.ggml.tokens")?;
        let types = token_types(g, tokens.len());
        // llama.cpp's defaults where the keys are absent: a SentencePiece
        // vocabulary adds a BOS and a leading space, a byte-level one neither.
        let (inner, json, add_bos) = match model {
            "gpt2" => {
                let json = gpt2_json(g, &tokens, &types)?;
                (
                    parse_json(&json)?,
                    Some(json),
                    flag(g, "tokenizer.ggml.add_bos_token", false),
                )
            }
            "llama" => {
                let scores: Vec<f32> = match g.get("tokenizer.ggml.scores") {
                    Ok(v) => v
                        .as_array()
                        .unwrap_or(&[])
                        .iter()
                        .map(|s| s.as_f64().unwrap_or(0.0) as f32)
                        .collect(),
                    Err(_) => vec![],
                };
                let scores: Vec<f32> = (0..tokens.len())
                    .map(|i| scores.get(i).copied().unwrap_or(0.0))
                    .collect();
                let unk = g
                    .get_u64("tokenizer.ggml.unknown_token_id")
                    .ok()
                    .and_then(|i| tokens.get(i as usize).copied());
                let add_space_prefix = flag(g, "tokenizer.ggml.add_space_prefix", true);
                (
                    spm_tokenizer(&tokens, &types, &scores, add_space_prefix, unk)?,
                    None,
                    flag(g, "tokenizer.ggml.add_bos_token", true),
                )
            }
            other => {
                return Err(Error::UnsupportedTokenizer(format!(
                    "tokenizer model {other:?}"
                )))
            }
        };
        let id = |k: &str| g.get_u64(k).ok().map(|v| v as u32);
        let bos = if add_bos {
            id("tokenizer.ggml.bos_token_id")
        } else {
            None
        };
        let eot = id("tokenizer.ggml.eot_token_id");
        let mut stop: Vec<u32> = [id("tokenizer.ggml.eos_token_id"), eot]
            .into_iter()
            .flatten()
            .collect();
        if eot.is_none() {
            for (i, (tok, &ty)) in tokens.iter().zip(&types).enumerate() {
                if ty == TYPE_CONTROL && END_OF_TURN_TEXTS.contains(tok) {
                    stop.push(i as u32);
                }
            }
        }
        let mut seen = HashSet::new();
        stop.retain(|t| seen.insert(*t));
        Ok(Tokenizer::from_inner(inner, json, bos, stop))
    }

    /// A tokenizer from HF `tokenizer.json` text (as [`Tokenizer::from_gguf`]
    /// builds it and `locum shard` writes it) with its BOS and stop tokens.
    pub fn from_json(json: String, bos: Option<u32>, stop: Vec<u32>) -> Result<Tokenizer> {
        let inner = parse_json(&json)?;
        Ok(Tokenizer::from_inner(inner, Some(json), bos, stop))
    }

    fn from_inner(
        inner: tokenizers::Tokenizer,
        json: Option<String>,
        bos: Option<u32>,
        stop: Vec<u32>,
    ) -> Tokenizer {
        let added = inner.get_added_tokens_decoder();
        let bos_text = bos.and_then(|b| added.get(&b).map(|t| t.content.clone()));
        let added = added.into_iter().map(|(id, t)| (id, t.special)).collect();
        // Only the byte-level BPE vocabulary decodes with ByteLevel.
        let sentencepiece = !matches!(
            inner.get_decoder(),
            Some(tokenizers::DecoderWrapper::ByteLevel(_))
        );
        Tokenizer {
            inner,
            bos,
            stop,
            json,
            bos_text,
            added,
            sentencepiece,
        }
    }

    /// Its `tokenizer.json` text, as `locum shard` writes it and
    /// [`Tokenizer::from_json`] reads it back: the text it was built from,
    /// or for one built from a SentencePiece vocabulary, `tokenizers`' own
    /// serialization of it.
    pub fn json(&self) -> Result<String> {
        match &self.json {
            Some(json) => Ok(json.clone()),
            None => self
                .inner
                .to_string(false)
                .map_err(|e| Error::Tokenizer(e.to_string())),
        }
    }

    /// Token ids of `text`, with the BOS the model wants. Special tokens
    /// written in the text (`<|im_start|>`) become their ids.
    ///
    /// A text that already starts with the BOS token's text (a chat template
    /// that writes `{{ bos_token }}`, as Gemma's does) gets no second BOS:
    /// llama.cpp strips the template's BOS when the vocabulary adds one
    /// (`common/chat.cpp`), so the model sees one either way.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let written = self
            .bos_text
            .as_deref()
            .is_some_and(|b| text.starts_with(b));
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if !written {
            ids.extend(self.bos);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// The ids of `text` as a piece of a longer text: [`Tokenizer::encode`]
    /// without the BOS.
    pub fn encode_piece(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens included as written.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    pub fn is_stop(&self, id: u32) -> bool {
        self.stop.contains(&id)
    }

    /// Tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The special (control) tokens such as `<|im_end|>`, which never
    /// stand for text, sorted.
    pub fn special_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The text of one token, as stored in the vocabulary.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The bytes one token puts into the text, as llama.cpp's
    /// `token_to_piece` gives them (with special tokens rendered): a control
    /// token is its text; in a SentencePiece vocabulary `▁` is a space and a
    /// byte token `<0xNN>` the byte NN; in a byte-level one a user-defined
    /// token is its text and each character of another stands for the byte
    /// GPT-2's table maps to it. For a grammar engine, which needs every
    /// token as bytes. `None` for an id outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        let text = self.inner.id_to_token(id)?;
        let added = self.added.get(&id).copied();
        if added == Some(true) {
            return Some(text.into_bytes());
        }
        if self.sentencepiece {
            if let (None, Some(b)) = (added, byte_token(&text)) {
                return Some(vec![b]);
            }
            return Some(text.replace(SPM_SPACE, " ").into_bytes());
        }
        if added.is_some() {
            return Some(text.into_bytes());
        }
        let mut out = Vec::with_capacity(text.len());
        for c in text.chars() {
            match gpt2_byte(c) {
                Some(b) => out.push(b),
                // Not in GPT-2's alphabet: the character itself.
                None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        Some(out)
    }
}

/// The byte of a SentencePiece byte token `<0xNN>`.
fn byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// The byte a byte-level BPE character stands for: GPT-2's `bytes_to_unicode`
/// keeps the printable bytes (`!`..=`~`, `¡`..=`¬`, `®`..=`ÿ`) as themselves
/// and maps the other 68 (0x00..=0x20, 0x7F..=0xA0, 0xAD), in order, to
/// U+0100..=U+0143.
fn gpt2_byte(c: char) -> Option<u8> {
    match c as u32 {
        u @ (0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff) => Some(u as u8),
        u @ 0x100..=0x120 => Some((u - 0x100) as u8),
        u @ 0x121..=0x142 => Some((u - 0x121 + 0x7f) as u8),
        0x143 => Some(0xad),
        _ => None,
    }
}

/// Turns a stream of token ids into a stream of text, holding back bytes
/// until they form whole UTF-8 characters.
#[derive(Default)]
pub struct TextStream {
    ids: Vec<u32>,
    emitted: usize,
}

impl TextStream {
    /// Adds a token and returns the new text it completes (maybe empty).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String> {
        self.ids.push(id);
        let text = tok.decode(&self.ids)?;
        // A trailing U+FFFD means a character is still incomplete.
        if text.ends_with('\u{fffd}') || text.len() < self.emitted {
            return Ok(String::new());
        }
        let new = text[self.emitted..].to_string();
        self.emitted = text.len();
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small SentencePiece vocabulary: control tokens, a user-defined
    /// newline, all 256 byte tokens, then scored pieces.
    fn toy(add_space_prefix: bool) -> Tokenizer {
        let mut tokens: Vec<String> = ["<pad>", "<eos>", "<bos>", "<unk>", "\n", "<end_of_turn>"]
            .map(String::from)
            .to_vec();
        let mut types = vec![
            TYPE_CONTROL,
            TYPE_CONTROL,
            TYPE_CONTROL,
            TYPE_CONTROL,
            TYPE_USER_DEFINED,
            TYPE_CONTROL,
        ];
        tokens.extend((0..=255).map(|b| format!("<0x{b:02X}>")));
        types.extend([6; 256]);
        let pieces = [
            "▁", "a", "b", "c", "h", "ab", "bc", "abc", "▁a", "ha", "hah", "haha", "é",
        ];
        tokens.extend(pieces.map(String::from));
        types.extend([TYPE_NORMAL; 13]);
        let mut scores = vec![0.0; tokens.len()];
        for (i, s) in scores.iter_mut().rev().take(pieces.len()).enumerate() {
            // -rank, as in Gemma's file: the later a piece, the worse.
            *s = -((pieces.len() - 1 - i) as f32);
        }
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let inner = spm_tokenizer(&refs, &types, &scores, add_space_prefix, Some("<unk>")).unwrap();
        Tokenizer::from_inner(inner, None, Some(2), vec![1, 5])
    }

    fn texts(t: &Tokenizer, ids: &[u32]) -> Vec<String> {
        ids.iter().map(|&i| t.token_text(i).unwrap()).collect()
    }

    #[test]
    fn spm_merges_by_score_and_falls_back_to_bytes() {
        let t = toy(false);
        // "ab" (score -5) beats "bc" (-6); then "abc" (-7).
        assert_eq!(texts(&t, &t.encode("abc").unwrap()), ["<bos>", "abc"]);
        // A space is "▁"; "▁a" is a piece, "▁b" is not.
        assert_eq!(
            texts(&t, &t.encode("a a b").unwrap()),
            ["<bos>", "a", "▁a", "▁", "b"]
        );
        // "ç" is not in the vocabulary: its two UTF-8 bytes; "é" is.
        assert_eq!(
            texts(&t, &t.encode("çé").unwrap()),
            ["<bos>", "<0xC3>", "<0xA7>", "é"]
        );
        // Added tokens are cut out first.
        assert_eq!(
            texts(&t, &t.encode("ab\nc<end_of_turn>").unwrap()),
            ["<bos>", "ab", "\n", "c", "<end_of_turn>"]
        );
        let ids = t.encode("a b\ncç  é").unwrap();
        assert_eq!(t.decode(&ids[1..]).unwrap(), "a b\ncç  é");
    }

    #[test]
    fn spm_space_prefix() {
        let t = toy(true);
        assert_eq!(
            texts(&t, &t.encode("a b").unwrap()),
            ["<bos>", "▁a", "▁", "b"]
        );
        let ids = t.encode("a b").unwrap();
        assert_eq!(t.decode(&ids[1..]).unwrap(), "a b");
    }

    #[test]
    fn spm_merges_are_every_split_best_token_first() {
        let tokens = ["a", "b", "c", "ab", "bc", "abc", "<x>", "<0x41>"];
        let types = [1, 1, 1, 1, 1, 1, TYPE_CONTROL, 6];
        let scores = [0.0, 0.0, 0.0, -2.0, -1.0, -3.0, 0.0, 0.0];
        let merges = spm_merges(&tokens, &types, &scores);
        assert_eq!(merges, [("b", "c"), ("a", "b"), ("ab", "c"), ("a", "bc")]);
    }

    #[test]
    fn a_written_bos_is_not_doubled() {
        let t = toy(false);
        let plain = t.encode("ab").unwrap();
        assert_eq!(plain, t.encode("<bos>ab").unwrap());
        assert_eq!(plain.iter().filter(|&&i| i == 2).count(), 1);
        // Anywhere else it is just a token in the text.
        assert_eq!(t.encode("ab<bos>").unwrap(), [2, plain[1], 2]);
    }

    #[test]
    fn token_bytes_are_what_the_token_writes() {
        let t = toy(false);
        let id = |s: &str| t.encode(s).unwrap()[1];
        assert_eq!(t.token_bytes(id("a a")).unwrap(), b"a");
        let ids = t.encode("a a").unwrap();
        assert_eq!(t.token_bytes(ids[2]).unwrap(), b" a");
        assert_eq!(t.token_bytes(id("ç")).unwrap(), [0xC3]);
        assert_eq!(t.token_bytes(id("\n")).unwrap(), b"\n");
        assert_eq!(t.token_bytes(5).unwrap(), b"<end_of_turn>");
        assert_eq!(t.token_bytes(100_000), None);
    }

    #[test]
    fn gpt2_byte_table() {
        assert_eq!(gpt2_byte('a'), Some(b'a'));
        assert_eq!(gpt2_byte('Ġ'), Some(b' '));
        assert_eq!(gpt2_byte('Ċ'), Some(b'\n'));
        assert_eq!(gpt2_byte('\u{121}'), Some(0x7f));
        assert_eq!(gpt2_byte('\u{142}'), Some(0xa0));
        assert_eq!(gpt2_byte('\u{143}'), Some(0xad));
        assert_eq!(gpt2_byte('é'), Some(0xe9));
        assert_eq!(gpt2_byte('▁'), None);
        // All 256 bytes, each once.
        let mut seen = [false; 256];
        for c in (0x21..=0xffu32).chain(0x100..=0x143) {
            if let Some(b) = char::from_u32(c).and_then(gpt2_byte) {
                assert!(!seen[b as usize], "byte {b} twice");
                seen[b as usize] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
}
