//! Constrained decoding of the differential: whatever a model samples from
//! the mask, the result is a schema-valid differential in bounded tokens.
//!
//! A seeded random "model" (uniform random logits, with a per-run bias
//! towards tokens that close strings and lists) decodes under the grammar
//! with a small byte-level vocabulary: all 256 bytes, a few hundred JSON
//! fragments and words, multi-byte and partial UTF-8, an end token and two
//! control tokens. An optional test does the same with SmolLM2's vocabulary
//! read from its GGUF.

use locum_clinical::grammar::max_json_bytes;
use locum_clinical::schema::{
    json_schema, json_schema_text, DIAGNOSIS_MAX_CHARS, FINDINGS_MAX_ITEMS, ITEMS, LINE_MAX_CHARS,
    NEXT_STEPS_MAX_ITEMS, RED_FLAGS_MAX_ITEMS, SUMMARY_MAX_CHARS,
};
use std::sync::Arc;

use locum_clinical::grammar::Tokenize;
use locum_clinical::{
    gpt2_token_bytes, Constraint, Differential, Error, Grammars, Item, Likelihood, Vocabulary,
};

/// xorshift64*: a few lines, deterministic, good enough to stand in for a
/// model's logits.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &str = "the of and a to in is with for on patient pain chest fever acute chronic \
    history of onset days weeks hours left right lower upper abdominal tenderness nausea vomiting \
    cough dyspnoea tachycardia hypotension sepsis infection pneumonia appendicitis cholecystitis \
    pancreatitis myocardial infarction pulmonary embolism aortic dissection stroke meningitis \
    headache rash neck stiffness blood pressure heart rate temperature white cell count CRP \
    troponin lactate creatinine urea sodium potassium glucose ECG CT MRI ultrasound X-ray \
    culture biopsy consider exclude urgent review repeat start antibiotics fluids oxygen \
    analgesia monitor admit refer surgical medical likely unlikely possible no not raised low \
    normal elevated mild severe sudden gradual radiating back shoulder jaw arm leg swelling \
    weight loss night sweats smoker diabetes hypertension age male female year old";

const FRAGMENTS: &[&str] = &[
    "{\"",
    "\"}",
    "\":\"",
    "\",\"",
    "\":[\"",
    "\"],\"",
    "\"]",
    "]}",
    "}]",
    "},{\"",
    "\":",
    "\":[",
    "\":[{\"",
    "\":false",
    "\":true",
    "false",
    "true",
    ",\"",
    "\"]}",
    "\"],\"red_flags\":[",
    "summary",
    "differential",
    "diagnosis",
    "likelihood",
    "supporting",
    "against",
    "cant_miss",
    "next_steps",
    "red_flags",
    "{\"summary\":\"",
    "high",
    "moderate",
    "low",
    "\":\"high\",\"",
    "\\\"",
    "\\n",
    "\\\\",
    "\\t",
    "\\",
    ". ",
    ", ",
    "; ",
    " (",
    ") ",
    "12",
    "38.5",
    "mg",
    "mmol/L",
    "°C",
    "µg",
    "é",
    "—",
    "≥",
    "→",
    "😀",
    "a\"b",
    "[]",
    "{}",
    "],",
    "},",
    "\n",
    "  ",
    "\t",
];

/// The synthetic vocabulary: ids 0..256 are the single bytes.
fn synthetic_vocabulary() -> Vocabulary {
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut add = |t: Vec<u8>| {
        if !tokens.contains(&t) {
            tokens.push(t);
        }
    };
    for f in FRAGMENTS {
        add(f.as_bytes().to_vec());
    }
    for w in WORDS.split_whitespace() {
        add(w.as_bytes().to_vec());
        add(format!(" {w}").into_bytes());
    }
    // Tokens that end inside a character: the first two bytes of "—" and
    // the first three of "😀".
    add("—".as_bytes()[..2].to_vec());
    add("😀".as_bytes()[..3].to_vec());
    let mut special = vec![false; tokens.len()];
    for s in ["<|im_start|>", "<|im_end|>", "<|endoftext|>"] {
        tokens.push(s.as_bytes().to_vec());
        special.push(true);
    }
    let eos = tokens.len() as u32 - 1;
    Vocabulary {
        tokens,
        special,
        eos,
    }
}

fn grammars() -> (Grammars, Vocabulary) {
    let vocab = synthetic_vocabulary();
    (
        Grammars::new(vocab.clone()).expect("the vocabulary is usable"),
        vocab,
    )
}

fn allowed(mask: &[u32], token: usize) -> bool {
    mask[token / 32] >> (token % 32) & 1 == 1
}

/// How a fake model picks among allowed tokens.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Argmax,
    /// Softmax sampling at this temperature.
    Temperature(f32),
}

/// One fake model: random logits plus `close_bias` on tokens that contain a
/// quote or bracket, so strings and lists end sooner the larger it is, and
/// `comma_bias` on tokens with a comma, so lists grow longer.
struct FakeModel {
    rng: Rng,
    pick: Pick,
    bias: Vec<f32>,
}

impl FakeModel {
    fn new(
        vocab: &Vocabulary,
        seed: u64,
        pick: Pick,
        close_bias: f32,
        comma_bias: f32,
    ) -> FakeModel {
        let has = |t: &[u8], bytes: &[u8]| t.iter().any(|b| bytes.contains(b));
        let bias = vocab
            .tokens
            .iter()
            .map(|t| {
                let close = if has(t, b"\"]}") { close_bias } else { 0.0 };
                let comma = if has(t, b",") { comma_bias } else { 0.0 };
                close + comma
            })
            .collect();
        FakeModel {
            rng: Rng::new(seed),
            pick,
            bias,
        }
    }

    fn sample(&mut self, mask: &[u32]) -> u32 {
        let logits: Vec<f32> = self.bias.iter().map(|b| self.rng.unit() + b).collect();
        let candidates: Vec<usize> = (0..logits.len()).filter(|&t| allowed(mask, t)).collect();
        assert!(!candidates.is_empty(), "the mask allows no token");
        let best = match self.pick {
            Pick::Argmax => *candidates
                .iter()
                .max_by(|&&a, &&b| logits[a].total_cmp(&logits[b]))
                .unwrap(),
            Pick::Temperature(t) => {
                let max = candidates
                    .iter()
                    .map(|&c| logits[c])
                    .fold(f32::MIN, f32::max);
                let weights: Vec<f32> = candidates
                    .iter()
                    .map(|&c| ((logits[c] - max) / t).exp())
                    .collect();
                let mut r = self.rng.unit() * weights.iter().sum::<f32>();
                let mut chosen = *candidates.last().unwrap();
                for (&c, w) in candidates.iter().zip(&weights) {
                    if r < *w {
                        chosen = c;
                        break;
                    }
                    r -= w;
                }
                chosen
            }
        };
        best as u32
    }
}

/// Decodes until finished, EOS, or `cap` tokens; returns the tokens taken.
/// Every few steps, also offers a token the mask excludes and checks it is
/// refused without changing anything.
fn decode(c: &mut Constraint, model: &mut FakeModel, eos: u32, cap: usize) -> usize {
    let mut steps = 0;
    while !c.is_finished() && steps < cap {
        let mask = c.mask().expect("a mask");
        if steps % 7 == 0 {
            let vocab = model.bias.len();
            let start = model.rng.below(vocab);
            if let Some(bad) = (0..vocab)
                .map(|i| (start + i) % vocab)
                .find(|&t| !allowed(&mask, t))
            {
                let before = c.bytes().to_vec();
                let err = c.accept(bad as u32).expect_err("a token outside the mask");
                assert!(matches!(err, Error::TokenNotAllowed { .. }), "{err}");
                assert_eq!(c.bytes(), before);
            }
        }
        let token = model.sample(&mask);
        c.accept(token).expect("an allowed token is accepted");
        steps += 1;
        if token == eos {
            break;
        }
    }
    steps
}

/// The differential must parse, validate, and be compact JSON with the
/// schema's key order: re-serialising it gives the same text.
fn assert_valid(text: &str, context: &str) -> Differential {
    let d = Differential::from_json(text).unwrap_or_else(|e| panic!("{context}: {e}\n{text}"));
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        serde_json::to_string(&value).unwrap(),
        text,
        "{context}: not compact, or keys out of order"
    );
    assert!(text.starts_with("{\"summary\":\""), "{context}: {text}");
    d
}

#[test]
fn random_models_always_produce_a_valid_differential() {
    let (grammars, vocab) = grammars();
    let (mut longest, mut longest_line, mut most_items) = (0, 0, 0);
    for seed in 0..50u64 {
        let close_bias = (seed % 5) as f32 * 0.25;
        let comma_bias = if seed % 3 == 0 { 1.0 } else { 0.0 };
        for pick in [Pick::Argmax, Pick::Temperature(0.3)] {
            let context = format!("seed {seed}, {pick:?}, biases {close_bias} {comma_bias}");
            let mut c = grammars.differential().unwrap();
            let bound = c.max_tokens().expect("the differential is bounded");
            let mut model = FakeModel::new(&vocab, seed, pick, close_bias, comma_bias);
            let steps = decode(&mut c, &mut model, vocab.eos, bound + 1);
            assert!(
                c.is_finished(),
                "{context}: not finished after {steps} tokens"
            );
            assert!(steps <= bound, "{context}: {steps} tokens > bound {bound}");
            assert_eq!(c.tokens(), steps);
            let d = assert_valid(&c.text(), &context);
            let lines = d
                .differential
                .iter()
                .flat_map(|i| i.supporting.iter().chain(&i.against).chain(&i.next_steps));
            let line_chars = lines.chain(&d.red_flags).map(|l| l.chars().count());
            longest_line = line_chars.fold(longest_line, usize::max);
            most_items = most_items.max(d.differential.len());
            // Finished: only EOS, which changes nothing.
            let mask = c.mask().unwrap();
            let allowed_now: Vec<usize> = (0..vocab.tokens.len())
                .filter(|&t| allowed(&mask, t))
                .collect();
            assert_eq!(allowed_now, vec![vocab.eos as usize], "{context}");
            c.accept(vocab.eos).unwrap();
            assert!(c.accept(b'}' as u32).is_err(), "{context}");
            longest = longest.max(steps);
        }
    }
    // The bias-free runs write long strings and lists: the bounds were
    // reached, and held.
    eprintln!("longest run {longest} tokens; longest line {longest_line} characters; most diagnoses {most_items}");
    assert_eq!(longest_line, LINE_MAX_CHARS);
    assert_eq!(most_items, *ITEMS.end());
}

#[test]
fn the_mask_constrains_from_the_first_token() {
    let (grammars, vocab) = grammars();
    let mut c = grammars.differential().unwrap();
    assert_eq!(grammars.vocab_size(), vocab.tokens.len());
    let mask = c.mask().unwrap();
    assert_eq!(mask.len(), vocab.tokens.len().div_ceil(32));
    // Everything allowed agrees with the only possible start.
    let start = b"{\"summary\":\"";
    for t in (0..vocab.tokens.len()).filter(|&t| allowed(&mask, t)) {
        let bytes = &vocab.tokens[t];
        let n = bytes.len().min(start.len());
        assert_eq!(
            &bytes[..n],
            &start[..n],
            "token {t} {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    for (t, expected) in [
        (b'{' as usize, true),
        (b'a' as usize, false),
        (b' ' as usize, false),
    ] {
        assert_eq!(allowed(&mask, t), expected, "byte {:?}", t as u8 as char);
    }
    let fragment = |s: &str| vocab.tokens.iter().position(|t| t == s.as_bytes()).unwrap();
    assert!(allowed(&mask, fragment("{\"")));
    assert!(allowed(&mask, fragment("{\"summary\":\"")));
    assert!(!allowed(&mask, fragment("summary")));
    assert!(!allowed(&mask, vocab.eos as usize), "EOS before the JSON");
    for special in (0..vocab.tokens.len()).filter(|&t| vocab.special[t]) {
        assert!(!allowed(&mask, special), "special token {special}");
    }

    // A disallowed token is refused, and the constraint goes on.
    let refused = c.accept(b'a' as u32).unwrap_err();
    assert_eq!(
        refused,
        Error::TokenNotAllowed {
            token: b'a' as u32,
            at: 0
        }
    );
    assert!(c.accept(vocab.tokens.len() as u32).is_err(), "out of range");
    c.accept(fragment("{\"summary\":\"") as u32).unwrap();
    assert_eq!(c.text(), "{\"summary\":\"");

    // Inside a string: words are allowed, a raw newline is not (JSON needs
    // \n), nor whitespace between tokens outside strings later.
    let mask = c.mask().unwrap();
    assert!(allowed(&mask, fragment("fever")));
    assert!(allowed(&mask, fragment("\\n")));
    assert!(!allowed(&mask, b'\n' as usize));
    assert!(
        !allowed(&mask, fragment("\"}")),
        "the summary may not be empty"
    );
    for b in "Fever".bytes() {
        c.accept(b as u32).unwrap();
    }
    let mask = c.mask().unwrap();
    assert!(allowed(&mask, fragment("\",\"")));
    assert!(!allowed(&mask, fragment("\"}")), "differential is required");
    c.accept(fragment("\",\"") as u32).unwrap();
    let mask = c.mask().unwrap();
    assert!(
        !allowed(&mask, b' ' as usize),
        "no whitespace between tokens"
    );
    assert!(!allowed(&mask, fragment("red_flags")), "keys come in order");
    assert!(allowed(&mask, fragment("differential")));
}

/// Writes `text` byte by byte (ids 0..256 are the single bytes).
fn write(c: &mut Constraint, text: &str) {
    for b in text.bytes() {
        c.accept(b as u32)
            .unwrap_or_else(|e| panic!("{e} in {:?} + {:?}", c.text(), b as char));
    }
}

#[test]
fn force_finish_closes_by_the_shortest_route() {
    let (grammars, _) = grammars();
    let rest_of_item =
        r#""likelihood":"low","supporting":[],"against":[],"cant_miss":false,"next_steps":[]}"#;
    let empty = format!(
        r#"{{"summary":"?","differential":[{{"diagnosis":"?",{rest_of_item}],"red_flags":[]}}"#
    );
    let cases: &[(&str, &str)] = &[
        ("", &empty),
        ("{\"summary\":\"Fever", &empty.replacen('?', "Fever", 1)),
        // An escape left open is completed, then the string closed.
        ("{\"summary\":\"A \\", &empty.replacen('?', "A \\\"", 1)),
        (
            "{\"summary\":\"S\",\"differential\":[{\"diagnosis\":\"Sepsis\",\"likelihood\":\"m",
            "{\"summary\":\"S\",\"differential\":[{\"diagnosis\":\"Sepsis\",\"likelihood\":\"moderate\",\"supporting\":[],\"against\":[],\"cant_miss\":false,\"next_steps\":[]}],\"red_flags\":[]}",
        ),
        (
            "{\"summary\":\"S\",\"differential\":[{\"diagnosis\":\"Sepsis\",\"likelihood\":\"high\",\"supporting\":[\"fever\",\"",
            "{\"summary\":\"S\",\"differential\":[{\"diagnosis\":\"Sepsis\",\"likelihood\":\"high\",\"supporting\":[\"fever\",\"?\"],\"against\":[],\"cant_miss\":false,\"next_steps\":[]}],\"red_flags\":[]}",
        ),
        (
            "{\"summary\":\"S\",\"differential\":[{\"diagnosis\":\"D\",\"likelihood\":\"low\",\"supporting\":[],\"against\":[],\"cant_miss\":f",
            "{\"summary\":\"S\",\"differential\":[{\"diagnosis\":\"D\",\"likelihood\":\"low\",\"supporting\":[],\"against\":[],\"cant_miss\":false,\"next_steps\":[]}],\"red_flags\":[]}",
        ),
        (
            "{\"summary\":\"S\",\"differential\":[{\"diagnosis\":\"D\",\"likelihood\":\"low\",\"supporting\":[],\"against\":[],\"cant_miss\":true,\"next_steps\":[]},",
            "{\"summary\":\"S\",\"differential\":[{\"diagnosis\":\"D\",\"likelihood\":\"low\",\"supporting\":[],\"against\":[],\"cant_miss\":true,\"next_steps\":[]},{\"diagnosis\":\"?\",\"likelihood\":\"low\",\"supporting\":[],\"against\":[],\"cant_miss\":false,\"next_steps\":[]}],\"red_flags\":[]}",
        ),
    ];
    for (prefix, expected) in cases {
        let mut c = grammars.differential().unwrap();
        write(&mut c, prefix);
        let added = c
            .force_finish()
            .unwrap_or_else(|e| panic!("{prefix:?}: {e}"));
        let text = c.text();
        assert_eq!(text, *expected, "after {prefix:?}");
        assert_eq!(format!("{prefix}{added}"), text);
        assert!(c.is_finished());
        assert_valid(&text, prefix);
        assert_eq!(
            c.force_finish().unwrap(),
            "",
            "finishing twice adds nothing"
        );
    }

    // A character left half-written is completed first.
    let mut c = grammars.differential().unwrap();
    write(&mut c, "{\"summary\":\"");
    for &b in &"—".as_bytes()[..2] {
        c.accept(b as u32).unwrap();
    }
    c.force_finish().unwrap();
    assert_valid(&c.text(), "half a character");
}

#[test]
fn force_finish_at_any_cap_gives_a_valid_differential() {
    let (grammars, vocab) = grammars();
    for seed in 0..40u64 {
        let mut rng = Rng::new(seed + 1000);
        let cap = rng.below(400);
        let mut c = grammars.differential().unwrap();
        let mut model = FakeModel::new(&vocab, seed, Pick::Temperature(0.5), 0.25, 0.0);
        decode(&mut c, &mut model, vocab.eos, cap);
        let context = format!("seed {seed}, cut after {cap} tokens: {}", c.text());
        c.force_finish()
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        assert_valid(&c.text(), &context);
    }
}

/// Byte offsets of the commas that separate array elements in `json`.
fn array_commas(json: &str) -> Vec<usize> {
    let (mut in_string, mut escaped, mut stack, mut out) = (false, false, vec![], vec![]);
    for (i, b) in json.bytes().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => stack.push(b),
            b']' | b'}' => {
                stack.pop();
            }
            b',' if stack.last() == Some(&b'[') => out.push(i),
            _ => {}
        }
    }
    out
}

#[test]
fn winding_down_begins_no_new_element() {
    let (grammars, vocab) = grammars();
    let mut finished_by_the_model = 0;
    for seed in 0..30u64 {
        let mut rng = Rng::new(seed + 2000);
        let wind_down_at = 20 + rng.below(300);
        let mut c = grammars.differential().unwrap();
        let mut model = FakeModel::new(&vocab, seed, Pick::Temperature(0.5), 0.5, 0.0);
        decode(&mut c, &mut model, vocab.eos, wind_down_at);
        let from = c.bytes().len();
        c.wind_down();
        decode(&mut c, &mut model, vocab.eos, 4000);
        let context = format!("seed {seed}, wind down after {wind_down_at} tokens");
        if c.is_finished() {
            finished_by_the_model += 1;
        } else {
            c.force_finish().unwrap();
        }
        let text = c.text();
        assert_valid(&text, &context);
        let late: Vec<usize> = array_commas(&text)
            .into_iter()
            .filter(|&i| i >= from)
            .collect();
        assert!(
            late.is_empty(),
            "{context}: new elements at {late:?} in {text}"
        );
    }
    assert!(finished_by_the_model > 20, "{finished_by_the_model} of 30");
}

/// The fullest differential the schema allows, in 2-byte characters.
fn fullest() -> Differential {
    let line = |n: usize| "é".repeat(n);
    let lines = |k: usize| vec![line(LINE_MAX_CHARS); k];
    Differential {
        summary: line(SUMMARY_MAX_CHARS),
        differential: vec![
            Item {
                diagnosis: line(DIAGNOSIS_MAX_CHARS),
                likelihood: Likelihood::Moderate,
                supporting: lines(FINDINGS_MAX_ITEMS),
                against: lines(FINDINGS_MAX_ITEMS),
                cant_miss: false,
                next_steps: lines(NEXT_STEPS_MAX_ITEMS),
            };
            *ITEMS.end()
        ],
        red_flags: lines(RED_FLAGS_MAX_ITEMS),
    }
}

#[test]
fn the_bound_holds_for_the_fullest_differential() {
    let (grammars, _) = grammars();
    let mut c = grammars.differential().unwrap();
    let bound = c.max_tokens().unwrap();
    assert_eq!(Some(bound - 1), max_json_bytes(&json_schema()));
    assert_eq!(bound, 80_885, "the number in grammar.rs' documentation");
    let json = serde_json::to_string(&fullest()).unwrap();
    assert!(json.len() < bound, "{} bytes, bound {bound}", json.len());
    write(&mut c, &json);
    assert!(c.is_finished());
    assert_eq!(c.text(), json);

    // One character more, anywhere, is refused: here, in the summary.
    let mut c = grammars.differential().unwrap();
    write(
        &mut c,
        &format!("{{\"summary\":\"{}", "a".repeat(SUMMARY_MAX_CHARS)),
    );
    assert!(c.accept(b'a' as u32).is_err());
    // And a ninth diagnosis.
    let mut d = fullest();
    d.differential.truncate(1);
    let one = serde_json::to_string(&d.differential[0]).unwrap();
    let mut c = grammars.differential().unwrap();
    let items = vec![one.as_str(); *ITEMS.end()].join(",");
    write(
        &mut c,
        &format!("{{\"summary\":\"s\",\"differential\":[{items}"),
    );
    assert!(c.accept(b',' as u32).is_err());
    c.accept(b']' as u32).unwrap();
}

#[test]
fn other_schemas_and_bad_input() {
    let (grammars, _) = grammars();
    let mut c = grammars
        .json_schema(r#"{"type": "object", "additionalProperties": false, "required": ["n"], "properties": {"n": {"type": "integer"}}}"#)
        .unwrap();
    assert_eq!(c.max_tokens(), None, "integers are unbounded");
    write(&mut c, "{\"n\":12");
    assert_eq!(c.force_finish().unwrap(), "}");
    assert_eq!(c.text(), "{\"n\":12}");

    assert!(matches!(
        grammars.json_schema("not json"),
        Err(Error::Grammar(_))
    ));
    assert!(matches!(
        grammars.json_schema("[1]"),
        Err(Error::Grammar(_))
    ));
    let unsatisfiable = r#"{"type": "string", "minLength": 3, "maxLength": 2}"#;
    assert!(matches!(
        grammars.json_schema(unsatisfiable),
        Err(Error::Grammar(_))
    ));

    let mut vocab = synthetic_vocabulary();
    vocab.special.pop();
    assert!(matches!(Grammars::new(vocab), Err(Error::Grammar(_))));
    let mut vocab = synthetic_vocabulary();
    vocab.eos = vocab.tokens.len() as u32;
    assert!(matches!(Grammars::new(vocab), Err(Error::Grammar(_))));
}

#[test]
fn the_schema_text_keeps_summary_first() {
    // The grammar generates keys in the order of the text it is given.
    let text = json_schema_text();
    let s = text.find("\"summary\"").unwrap();
    let d = text.find("\"differential\": {").unwrap();
    assert!(s < d);
}

#[test]
fn gpt2_byte_level_tokens_decode_to_bytes() {
    assert_eq!(gpt2_token_bytes("Ġthe"), b" the");
    assert_eq!(gpt2_token_bytes("Ċ"), b"\n");
    assert_eq!(gpt2_token_bytes("ĊĊ"), b"\n\n");
    assert_eq!(gpt2_token_bytes("ĉ"), b"\t");
    assert_eq!(gpt2_token_bytes("hello"), b"hello");
    assert_eq!(gpt2_token_bytes("Ã©"), "é".as_bytes());
    assert_eq!(gpt2_token_bytes("âĢĶ"), "—".as_bytes());
    assert_eq!(gpt2_token_bytes("{\""), b"{\"");
    // Not part of the mapping: kept as UTF-8.
    assert_eq!(gpt2_token_bytes("<|im_end|>"), b"<|im_end|>");

    let v =
        Vocabulary::from_byte_level_bpe(&["<|im_end|>", "Ġthe", "Ċ", "<think>"], &[3, 1, 1, 4], 0);
    assert_eq!(
        v.tokens,
        vec![
            b"<|im_end|>".to_vec(),
            b" the".to_vec(),
            b"\n".to_vec(),
            b"<think>".to_vec()
        ]
    );
    assert_eq!(v.special, vec![true, false, false, false]);
}

/// SmolLM2's own vocabulary, from the GGUF the project downloads with
/// `cargo xtask setup`; skipped with a message if it is missing.
#[test]
fn smollm2_vocabulary() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.models/SmolLM2-135M-Instruct.Q4_1.gguf"
    );
    let Ok(file) = std::fs::read(path) else {
        eprintln!("skipped: {path} is missing (cargo xtask setup downloads it)");
        return;
    };
    let gguf = locum_engine::Gguf::parse(&file).expect("the GGUF parses");
    let tokens = gguf.get_str_array("tokenizer.ggml.tokens").unwrap();
    let types: Vec<i32> = gguf
        .get("tokenizer.ggml.token_type")
        .ok()
        .and_then(|v| v.as_array())
        .map(|a| a.iter().map(|t| t.as_u64().unwrap_or(1) as i32).collect())
        .unwrap_or_default();
    let eos = gguf.get_u64("tokenizer.ggml.eos_token_id").unwrap() as u32;
    let vocab = Vocabulary::from_byte_level_bpe(&tokens, &types, eos);
    let t0 = std::time::Instant::now();
    let grammars = Grammars::new(vocab.clone()).unwrap();
    let built = t0.elapsed();
    assert_eq!(grammars.vocab_size(), 49152);
    let the = tokens.iter().position(|t| *t == "Ġthe").unwrap();
    assert_eq!(vocab.tokens[the], b" the");

    let (mut mask_time, mut slowest, mut masks) =
        (std::time::Duration::ZERO, std::time::Duration::ZERO, 0u32);
    // Short strings (a model that closes them readily), then long ones
    // (closing tokens no likelier than any other) cut at 600 tokens.
    for (seed, close_bias) in [(0u64, 0.9), (1, 0.9), (2, 0.9), (3, 0.0)] {
        let t1 = std::time::Instant::now();
        let mut c = grammars.differential().unwrap();
        let compiled = t1.elapsed();
        let mut model = FakeModel::new(&vocab, seed, Pick::Argmax, close_bias, 0.0);
        while !c.is_finished() && c.tokens() < 600 {
            let t = std::time::Instant::now();
            let mask = c.mask().unwrap();
            let took = t.elapsed();
            mask_time += took;
            slowest = slowest.max(took);
            masks += 1;
            let token = model.sample(&mask);
            c.accept(token).unwrap();
        }
        let cut = !c.is_finished();
        if cut {
            c.force_finish().unwrap();
        }
        assert_valid(&c.text(), &format!("SmolLM2, seed {seed}"));
        eprintln!(
            "SmolLM2 seed {seed}: {} tokens, {} bytes{}; grammar compiled in {compiled:?}",
            c.tokens(),
            c.bytes().len(),
            if cut { ", cut and force-finished" } else { "" }
        );
    }
    eprintln!(
        "SmolLM2: vocabulary prepared in {built:?}; {masks} masks, {:?} on average, {slowest:?} at most",
        mask_time / masks
    );
}

#[test]
fn grammars_and_constraints_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Grammars>();
    send::<Constraint>();
}

/// Decodes as the engine does with forced tokens: after each sampled token,
/// the tokens [`Constraint::forced`] names are taken without sampling. Each
/// is the one token the mask allows there, its bytes are the forced bytes
/// the grammar reports, and the result is as valid as sampling every token.
/// Returns (tokens, of which forced).
fn decode_forcing(c: &mut Constraint, model: &mut FakeModel, vocab: &Vocabulary) -> (usize, usize) {
    let mut forced_count = 0;
    while !c.is_finished() {
        let mask = c.mask().expect("a mask");
        let token = model.sample(&mask);
        c.accept(token).expect("an allowed token is accepted");
        if token == vocab.eos {
            break;
        }
        loop {
            let forced = c.forced();
            if forced.is_empty() {
                break;
            }
            for t in forced {
                let mask = c.mask().expect("a mask");
                assert!(
                    allowed(&mask, t as usize),
                    "forced token {t} outside the mask"
                );
                let at = c.bytes().len();
                c.accept(t).expect("a forced token is accepted");
                assert_eq!(&c.bytes()[at..], &vocab.tokens[t as usize][..]);
                forced_count += 1;
            }
        }
    }
    (c.tokens(), forced_count)
}

/// The synthetic vocabulary's tokenizer: longest match first.
fn greedy_tokenizer(vocab: &Vocabulary) -> Tokenize {
    let tokens: Vec<Vec<u8>> = vocab
        .tokens
        .iter()
        .zip(&vocab.special)
        .map(|(t, &special)| if special { Vec::new() } else { t.clone() })
        .collect();
    Arc::new(move |text: &str| {
        let mut rest = text.as_bytes();
        let mut ids = Vec::new();
        while !rest.is_empty() {
            let (id, len) = tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.is_empty() && rest.starts_with(t))
                .map(|(i, t)| (i as u32, t.len()))
                .max_by_key(|&(_, len)| len)?;
            ids.push(id);
            rest = &rest[len..];
        }
        Some(ids)
    })
}

#[test]
fn without_a_tokenizer_nothing_is_forced() {
    let (grammars, vocab) = grammars();
    let mut c = grammars.differential().unwrap();
    assert!(c.forced().is_empty());
    let mut model = FakeModel::new(&vocab, 3, Pick::Argmax, 0.5, 0.0);
    let (n, forced) = decode_forcing(&mut c, &mut model, &vocab);
    assert!(c.is_finished() && n > 20);
    assert_eq!(forced, 0);
}

#[test]
fn forced_tokens_are_the_grammars_only_choice() {
    let vocab = synthetic_vocabulary();
    let grammars = Grammars::with_tokenizer(vocab.clone(), greedy_tokenizer(&vocab)).unwrap();
    let (mut total, mut forced) = (0, 0);
    for seed in 0..12u64 {
        let close_bias = (seed % 4) as f32 * 0.3;
        let context = format!("seed {seed}, bias {close_bias}");
        let mut c = grammars.differential().unwrap();
        // The opening `{"summary":"` is forced before any token: the grammar
        // allows no other start.
        let opening = c.forced();
        let opening: Vec<u8> = opening
            .iter()
            .flat_map(|&t| vocab.tokens[t as usize].clone())
            .collect();
        assert!(
            b"{\"summary\":\"".starts_with(&opening),
            "{context}: {opening:?}"
        );
        let mut model = FakeModel::new(&vocab, seed, Pick::Argmax, close_bias, 0.0);
        let (n, f) = decode_forcing(&mut c, &mut model, &vocab);
        assert!(c.is_finished(), "{context}: not finished");
        let text = c.text().into_owned();
        assert_valid(&text, &context);
        // Every key is forced once its object's previous field closes.
        for key in [
            "\"likelihood\":\"",
            "\"supporting\":[",
            "\"cant_miss\":",
            "\"next_steps\":[",
        ] {
            assert!(text.contains(key), "{context}: {key} missing from {text}");
        }
        total += n;
        forced += f;
    }
    eprintln!("{forced} of {total} tokens forced");
    assert!(
        forced * 5 > total,
        "{forced} of {total} tokens forced: fewer than a fifth"
    );
}

#[test]
fn valid_prefix_counts_what_the_grammar_takes_and_takes_nothing() {
    let (g, _) = grammars();
    let mut c = g.differential().unwrap();
    write(&mut c, r#"{"summary":"Chest pain"#);
    let before = c.text().into_owned();
    let bytes = |s: &str| s.bytes().map(u32::from).collect::<Vec<_>>();
    // The string may go on, close, and be followed by the next key; a
    // key out of order is refused where it begins.
    let good = bytes(r#" and fever","differential":["#);
    assert_eq!(c.valid_prefix(&good), good.len());
    let bad = bytes(r#"","red_flags""#);
    assert_eq!(c.valid_prefix(&bad), 3, "refused at the key out of order");
    assert_eq!(c.valid_prefix(&[]), 0);
    assert_eq!(c.text(), before, "nothing was taken");
    // What it counted is what accept takes.
    for &t in &good {
        c.accept(t).unwrap();
    }
    assert_eq!(c.text(), format!("{before} and fever\",\"differential\":["));
}
