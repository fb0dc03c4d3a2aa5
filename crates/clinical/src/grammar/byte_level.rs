//! GPT-2 byte-level BPE token strings back to the bytes they stand for.
//!
//! Byte-level BPE vocabularies (GPT-2, Llama 3, Qwen, SmolLM2) store each
//! token as text in which every byte is one printable character: the bytes
//! that are printable Latin-1 stand for themselves, the other 68 (controls,
//! space, DEL, NBSP, soft hyphen) are shifted to U+0100 and up, so a space
//! is `Ġ` (U+0120) and a newline `Ċ` (U+010A). This is the inverse of
//! `bytes_to_unicode` in OpenAI's GPT-2 `encoder.py`. SentencePiece
//! vocabularies (Gemma, Llama 2) are not written this way.

use super::Vocabulary;

/// Bytes that GPT-2's mapping leaves as the Latin-1 character of the same
/// value.
const fn printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The other bytes, in order: byte `SHIFTED[n]` is written as U+0100 + n.
const SHIFTED: [u8; 68] = {
    let mut table = [0u8; 68];
    let (mut b, mut n) = (0usize, 0usize);
    while b < 256 {
        if !printable(b as u8) {
            table[n] = b as u8;
            n += 1;
        }
        b += 1;
    }
    assert!(n == 68);
    table
};

/// The raw bytes a GPT-2 byte-level BPE token string stands for:
/// `"Ġthe"` → `b" the"`, `"Ċ"` → `b"\n"`, `"Ã©"` → `"é".as_bytes()`.
///
/// Characters outside the mapping (which byte-level tokens never contain,
/// but added tokens may) are kept as their own UTF-8.
pub fn gpt2_token_bytes(token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    for c in token.chars() {
        let u = c as u32;
        match u {
            0..=255 if printable(u as u8) => out.push(u as u8),
            256..=323 => out.push(SHIFTED[(u - 256) as usize]),
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// llama.cpp's token types (`tokenizer.ggml.token_type` in a GGUF).
const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;
const TYPE_UNUSED: i32 = 5;

impl Vocabulary {
    /// A byte-level BPE vocabulary as a GGUF stores it: `tokens` from
    /// `tokenizer.ggml.tokens`, `token_types` from `tokenizer.ggml.token_type`
    /// (llama.cpp's `llama_token_type`; empty if the file has none) and the
    /// end-of-generation token (`tokenizer.ggml.eos_token_id`).
    ///
    /// Control, unknown and unused tokens are special. User-defined tokens
    /// are text as written, not byte-level encoded (llama.cpp copies their
    /// text verbatim when decoding), so they keep their UTF-8.
    pub fn from_byte_level_bpe(tokens: &[&str], token_types: &[i32], eos: u32) -> Vocabulary {
        let kind = |i: usize| token_types.get(i).copied().unwrap_or(1);
        Vocabulary {
            tokens: tokens
                .iter()
                .enumerate()
                .map(|(i, t)| match kind(i) {
                    TYPE_USER_DEFINED | TYPE_CONTROL => t.as_bytes().to_vec(),
                    _ => gpt2_token_bytes(t),
                })
                .collect(),
            special: (0..tokens.len())
                .map(|i| matches!(kind(i), TYPE_UNKNOWN | TYPE_CONTROL | TYPE_UNUSED))
                .collect(),
            eos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        // The forward mapping, written out independently of SHIFTED.
        let mut n = 0;
        for b in 0..=255u8 {
            let c = if printable(b) {
                char::from(b)
            } else {
                n += 1;
                char::from_u32(256 + n - 1).unwrap()
            };
            assert_eq!(gpt2_token_bytes(&c.to_string()), vec![b], "byte {b}");
        }
        assert_eq!(n, 68);
    }
}
