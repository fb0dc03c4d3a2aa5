//! Gemma 3's SentencePiece tokenizer against llama.cpp's own ids for the same
//! GGUF, and the chat prompt built from the built-in Gemma template. The
//! reference file `data/llamacpp-gemma3-270m-q4_k_m.json` was made by
//! `scripts/llama_reference.py` with llama-cpp-python 0.3.36 (command in the
//! script's doc); llama.cpp is not built in CI, its numbers are.
//!
//! Beyond the fixed texts, random texts are checked against a plain copy of
//! llama.cpp's algorithm (`llm_tokenizer_spm_session`) over the same
//! vocabulary, since the tokenizer here is that algorithm recast as BPE
//! merges.
#![cfg(not(target_arch = "wasm32"))]

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use locum_engine::{ChatTemplate, Gguf, Message, Tokenizer};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const TOKENIZE: &str = include_str!("data/tokenize.txt");
const TOKENIZE_SPM: &str = include_str!("data/tokenize-spm.txt");
const ENGLISH: &str = include_str!("data/english.txt");
const PROMPT: &str = include_str!("data/gemma3-prompt.txt");
const QUESTION: &str = "What are the common causes of chest pain in adults?";

fn model_path() -> PathBuf {
    match std::env::var_os("LOCUM_GEMMA_MODEL") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.models/gemma-3-270m-q4_k_m.gguf")
        }
    }
}

/// The model's metadata (the tensors are not needed).
fn gguf() -> &'static Gguf {
    static G: OnceLock<Gguf> = OnceLock::new();
    G.get_or_init(|| {
        let p = model_path();
        let bytes = std::fs::read(&p)
            .with_context(|| {
                format!(
                    "the Gemma 3 model is missing at {}: run `cargo xtask setup --gemma`, \
                     or set LOCUM_GEMMA_MODEL to a gemma-3-270m Q4_K_M GGUF",
                    p.display()
                )
            })
            .unwrap();
        Gguf::parse(&bytes).unwrap()
    })
}

/// Built once: the merges take a moment to derive.
fn tokenizer() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| Tokenizer::from_gguf(gguf()).unwrap())
}

fn reference() -> Result<serde_json::Value> {
    Ok(serde_json::from_str(include_str!(
        "data/llamacpp-gemma3-270m-q4_k_m.json"
    ))?)
}

fn reference_ids(key: &str) -> Result<Vec<u32>> {
    serde_json::from_value(reference()?[key].clone())
        .with_context(|| format!("no {key} in the reference"))
}

/// Asserts `ids == want`, naming the first difference and its tokens.
fn assert_ids(tok: &Tokenizer, what: &str, ids: &[u32], want: &[u32]) {
    let text = |i: Option<&u32>| i.and_then(|&i| tok.token_text(i));
    if let Some(i) = (0..ids.len().max(want.len())).find(|&i| ids.get(i) != want.get(i)) {
        panic!(
            "{what}: index {i}: locum {:?} {:?} vs llama.cpp {:?} {:?} \
             (locum made {} tokens, llama.cpp {}; before it: {:?})",
            ids.get(i),
            text(ids.get(i)),
            want.get(i),
            text(want.get(i)),
            ids.len(),
            want.len(),
            ids[i.saturating_sub(4)..i.min(ids.len())]
                .iter()
                .map(|&t| tok.token_text(t))
                .collect::<Vec<_>>(),
        );
    }
}

/// The fixed texts and the reference key holding llama.cpp's ids for each.
const CASES: [(&str, &str, &str); 4] = [
    ("tokenize.txt", TOKENIZE, "tokenize_ids"),
    ("tokenize-spm.txt", TOKENIZE_SPM, "tokenize_spm_ids"),
    ("english.txt", ENGLISH, "perplexity_ids"),
    ("gemma3-prompt.txt", PROMPT, "greedy_prompt_ids"),
];

#[test]
fn token_ids_equal_llamacpp() -> Result<()> {
    let tok = tokenizer();
    for (name, text, key) in CASES {
        assert_ids(tok, name, &tok.encode(text)?, &reference_ids(key)?);
    }
    Ok(())
}

#[test]
fn decode_gives_the_text_back() -> Result<()> {
    let tok = tokenizer();
    for (name, text, _) in CASES {
        let ids = tok.encode(text)?;
        assert_eq!(ids[0], 2, "{name}: the first token is not <bos>");
        assert_eq!(tok.decode(&ids[1..])?, text, "{name}");
    }
    Ok(())
}

/// What `locum shard` writes and the browser loads is the same tokenizer.
#[test]
fn json_round_trip_gives_the_same_ids() -> Result<()> {
    let tok = tokenizer();
    let again = Tokenizer::from_json(tok.json()?, tok.bos, tok.stop.clone())?;
    for (name, text, _) in CASES {
        assert_ids(&again, name, &again.encode(text)?, &tok.encode(text)?);
    }
    Ok(())
}

#[test]
fn chat_prompt_has_one_bos_and_equals_llamacpp() -> Result<()> {
    let tok = tokenizer();
    let template = ChatTemplate::from_gguf(gguf())?;
    let text = template.render(&[Message::new("user", QUESTION)], true)?;
    assert_eq!(text, format!("<bos>{PROMPT}"));
    let ids = tok.encode(&text)?;
    assert_eq!(
        ids.iter().filter(|&&t| Some(t) == tok.bos).count(),
        1,
        "BOS twice: {ids:?}"
    );
    assert_ids(
        tok,
        "chat prompt",
        &ids,
        &reference_ids("greedy_prompt_ids")?,
    );
    Ok(())
}

#[test]
fn end_of_turn_stops() {
    let tok = tokenizer();
    assert_eq!(tok.token_text(106).as_deref(), Some("<end_of_turn>"));
    assert_eq!(tok.stop, [1, 106], "EOS, then <end_of_turn>");
    assert!(tok.is_stop(106));
}

/// One symbol of [`llama_spm`]: a run of the text, linked to its neighbours.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of the symbols at `left` and `right`: the best score
/// first, the leftmost on ties.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Ord for Bigram {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then(o.left.cmp(&self.left))
    }
}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}

/// llama.cpp's SentencePiece tokenization of one run of text with no added
/// tokens in it, spaces already written as `▁`, written plainly.
fn llama_spm(text: &str, id_of: &HashMap<&str, u32>, scores: &[f32]) -> Vec<u32> {
    let mut syms: Vec<Symbol> = text
        .char_indices()
        .map(|(start, c)| Symbol {
            start,
            len: c.len_utf8(),
            prev: None,
            next: None,
        })
        .collect();
    let n = syms.len();
    for (i, s) in syms.iter_mut().enumerate() {
        s.prev = i.checked_sub(1);
        s.next = (i + 1 < n).then_some(i + 1);
    }
    let mut heap = BinaryHeap::new();
    let add = |heap: &mut BinaryHeap<Bigram>,
               syms: &[Symbol],
               left: Option<usize>,
               right: Option<usize>| {
        let (Some(l), Some(r)) = (left, right) else {
            return;
        };
        let piece = &text[syms[l].start..syms[r].start + syms[r].len];
        if let Some(&id) = id_of.get(piece) {
            heap.push(Bigram {
                score: scores[id as usize],
                left: l,
                right: r,
                len: piece.len(),
            });
        }
    };
    for i in 1..n {
        add(&mut heap, &syms, Some(i - 1), Some(i));
    }
    while let Some(b) = heap.pop() {
        let (l, r) = (syms[b.left], syms[b.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != b.len {
            continue;
        }
        syms[b.left].len += r.len;
        syms[b.right].len = 0;
        syms[b.left].next = r.next;
        if let Some(nx) = r.next {
            syms[nx].prev = Some(b.left);
        }
        add(&mut heap, &syms, l.prev, Some(b.left));
        add(&mut heap, &syms, Some(b.left), r.next);
    }
    let mut out = Vec::new();
    let mut at = (n > 0).then_some(0);
    while let Some(i) = at {
        let piece = &text[syms[i].start..syms[i].start + syms[i].len];
        match id_of.get(piece) {
            Some(&id) => out.push(id),
            None => out.extend(
                piece
                    .bytes()
                    .map(|b| id_of[format!("<0x{b:02X}>").as_str()]),
            ),
        }
        at = syms[i].next;
    }
    out
}

/// Random texts with no added tokens in them (no newlines, tabs, runs of
/// spaces or tags), rich in what SentencePiece merging finds hard: repeats
/// whose pieces overlap, digits, punctuation runs, characters only byte
/// fallback can write.
fn random_text(rng: &mut SmallRng) -> String {
    const PIECES: &[&str] = &[
        "the", " the", " patient", " pain", " chest", "ing", "ed", " a", "a", "b", "ab", "ha",
        "hah", "aha", "-", "--", "=", "==", ".", "..", "!", "?", "*", "_", "0", "1", "7", "42",
        "365", " ", "é", "ü", "ß", "日本", "語", "中", "한국", "🩺", "🫀", "𠀋", "ꙮ", "ᚠ",
        "\u{301}", "µ", "°", "Ω", "₂", "≥", "«", "»", "'", "\"", "(", ")", "/", ":", ";", ",", "x",
        "y", "z", "Q", "KK", "mm", "Hg", "ll", "ss", "oo", "ee", ">", "<0x", "41>", "un", "used",
    ];
    // Half the texts from a tiny alphabet: long periodic runs, where two
    // different pairs can make the same token.
    if rng.gen_bool(0.5) {
        const TINY: &[&str] = &["a", "h", "b", "-", "=", ".", "ab", "ha", " "];
        let k = rng.gen_range(1..TINY.len());
        let n = rng.gen_range(1..60);
        let mut s = String::new();
        for _ in 0..n {
            let p = TINY[rng.gen_range(0..k)];
            if !(p == " " && s.ends_with(' ')) {
                s.push_str(p);
            }
        }
        return s;
    }
    let n = rng.gen_range(1..40);
    let mut s = String::new();
    for _ in 0..n {
        let p = PIECES[rng.gen_range(0..PIECES.len())];
        // A run of spaces is a user-defined token: keep spaces single.
        if !(p.starts_with(' ') && s.ends_with(' ')) {
            s.push_str(p);
        }
    }
    s
}

#[test]
fn random_texts_equal_llamacpps_algorithm() -> Result<()> {
    let g = gguf();
    let tok = tokenizer();
    let tokens = g.get_str_array("tokenizer.ggml.tokens")?;
    let scores: Vec<f32> = g
        .get("tokenizer.ggml.scores")?
        .as_array()
        .context("scores are not an array")?
        .iter()
        .map(|v| v.as_f64().unwrap_or(0.0) as f32)
        .collect();
    let id_of: HashMap<&str, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, i as u32))
        .collect();
    let mut rng = SmallRng::seed_from_u64(0x6e6d_6133);
    let mut differ = Vec::new();
    const N: usize = 20000;
    for _ in 0..N {
        let text = random_text(&mut rng);
        let want = llama_spm(&text.replace(' ', "\u{2581}"), &id_of, &scores);
        let ids = tok.encode(&text)?;
        if ids[1..] != want[..] {
            differ.push((text, ids, want));
        }
    }
    for (text, ids, want) in differ.iter().take(5) {
        let show = |v: &[u32]| v.iter().map(|&i| tokens[i as usize]).collect::<Vec<_>>();
        eprintln!(
            "{text:?}:\n  locum     {:?}\n  llama.cpp {:?}",
            show(&ids[1..]),
            show(want)
        );
    }
    assert!(
        differ.is_empty(),
        "{} of {N} random texts tokenize differently",
        differ.len()
    );
    Ok(())
}

/// What a grammar engine is told each token writes is what decoding writes.
#[test]
fn token_bytes_agree_with_decode() -> Result<()> {
    let tok = tokenizer();
    for id in 0..tok.vocab_size() as u32 {
        let bytes = tok.token_bytes(id).context("an id in the vocabulary")?;
        let decoded = tok.decode(&[id])?;
        match std::str::from_utf8(&bytes) {
            Ok(text) => assert_eq!(decoded, text, "token {id}"),
            // A lone byte of a longer character.
            Err(_) => assert_eq!(decoded, "\u{fffd}", "token {id} {bytes:?}"),
        }
    }
    assert_eq!(tok.token_bytes(236743).as_deref(), Some(&b" "[..]));
    Ok(())
}
