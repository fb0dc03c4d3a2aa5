//! The streaming parser: the same events whatever the cut, clear errors
//! for malformed input, and agreement with serde_json on mutated input.

use locum_clinical::{Differential, DifferentialStream, Error, StreamEvent};

/// A differential with everything that makes splitting hard: escapes of
/// every kind, a surrogate pair, multi-byte characters, odd whitespace.
const SAMPLE: &str = r#"{
  "summary": "78-year-old woman, confused, creatinine 88 → 265 µmol/L over 4 months; K⁺ 6.1 \"on ibuprofen\"",
  "differential": [
    {"diagnosis": "Acute kidney injury (NSAID + ACE inhibitor + diuretic: \u201ctriple whammy\u201d)", "likelihood": "high",
     "supporting": ["creatinine 88 → 140 → 210 → 265", "ibuprofen since 2026-02-06", "dry mucous membranes"],
     "against": [], "cant_miss": true, "next_steps": ["stop ibuprofen and ramipril", "renal ultrasound"]},
    {"diagnosis":"Hyperkalaemia","likelihood":"high","supporting":["K 6.1","peaked T waves"],"against":[],"cant_miss":true,"next_steps":["calcium gluconate\tif ECG changes","insulin–dextrose"]},
	{ "diagnosis" : "Delirium secondary to uraemia \ud83e\udec0" , "likelihood" : "moderate" , "supporting" : [ "urea 24.8" ] , "against" : [ "no asterixis" ] , "cant_miss" : false , "next_steps" : [ "\\ reassess \/ after fluids\n" ] },
    {"diagnosis": "Sepsis", "likelihood": "low", "supporting": [], "against": ["afebrile", "CRP 9"], "cant_miss": true, "next_steps": ["blood cultures if febrile"]}
  ],
  "red_flags": ["K⁺ 6.1 with ECG changes", "AMT 4/10 from 10/10"]
}"#;

fn run(pieces: &[&str]) -> (Vec<StreamEvent>, Result<Differential, Error>) {
    let mut s = DifferentialStream::new();
    let mut events = Vec::new();
    for p in pieces {
        match s.push(p) {
            Ok(e) => events.extend(e),
            Err(e) => return (events, Err(e)),
        }
    }
    (events, s.finish())
}

fn reference() -> (Vec<StreamEvent>, Differential) {
    let (events, d) = run(&[SAMPLE]);
    (events, d.expect("the sample parses"))
}

#[test]
fn whole_sample_matches_serde() {
    let (events, d) = reference();
    let expected: Differential = serde_json::from_str(SAMPLE).unwrap();
    assert_eq!(d, expected);
    assert_eq!(events.len(), 1 + 4 + 1);
    assert_eq!(events[0], StreamEvent::Summary(expected.summary.clone()));
    for (i, item) in expected.differential.iter().enumerate() {
        assert_eq!(events[1 + i], StreamEvent::Item(i, item.clone()));
    }
    assert_eq!(events[5], StreamEvent::RedFlags(expected.red_flags.clone()));
    assert!(
        d.differential[2].diagnosis.ends_with('\u{1fac0}'),
        "surrogate pair decoded"
    );
    assert_eq!(
        d.differential[2].next_steps[0],
        "\\ reassess / after fluids\n"
    );
}

#[test]
fn every_two_piece_cut_gives_the_same_events() {
    let (events, d) = reference();
    let mut cuts = 0;
    for (at, _) in SAMPLE.char_indices().skip(1) {
        let (a, b) = SAMPLE.split_at(at);
        let (e, r) = run(&[a, b]);
        assert_eq!(e, events, "cut at byte {at}");
        assert_eq!(r.as_ref(), Ok(&d), "cut at byte {at}");
        cuts += 1;
    }
    // Every byte position that is a char boundary; the rest cannot be
    // expressed as &str pieces at all.
    assert_eq!(cuts, SAMPLE.chars().count() - 1);
    assert!(
        SAMPLE.len() > SAMPLE.chars().count(),
        "the sample has multi-byte text"
    );
}

#[test]
fn one_char_pieces_give_the_same_events_each_as_soon_as_it_closes() {
    let (events, d) = reference();
    let mut s = DifferentialStream::new();
    let mut got = Vec::new();
    let mut buf = [0u8; 4];
    for (at, c) in SAMPLE.char_indices() {
        let e = s.push(c.encode_utf8(&mut buf)).unwrap();
        for ev in &e {
            // An event arrives on the character that closes its value.
            let closer = match ev {
                StreamEvent::Summary(_) => '"',
                StreamEvent::Item(..) => '}',
                StreamEvent::RedFlags(_) => ']',
            };
            assert_eq!(c, closer, "{ev:?} at byte {at}");
            // And it parses from the text so far: nothing was waiting.
            if let StreamEvent::Item(i, _) = ev {
                assert_eq!(s.items().len(), i + 1);
            }
        }
        got.extend(e);
    }
    assert_eq!(got, events);
    assert_eq!(s.finish().unwrap(), d);
}

#[test]
fn every_proper_prefix_is_incomplete() {
    let (all, _) = reference();
    for (at, _) in SAMPLE.char_indices() {
        let (events, r) = run(&[&SAMPLE[..at]]);
        let err = r.expect_err("a prefix is not a differential");
        assert!(
            matches!(err, Error::IncompleteStream(_)),
            "prefix {at}: {err}"
        );
        assert_eq!(
            events,
            all[..events.len()],
            "prefix {at}: the events so far"
        );
    }
    let (_, r) = run(&[&SAMPLE[..SAMPLE.find("\"Hyperkal").unwrap()]]);
    assert_eq!(
        r.unwrap_err().to_string(),
        format!(
            "The differential ended before it was complete: the JSON stopped after {} characters (inside diagnosis 2).",
            SAMPLE[..SAMPLE.find("\"Hyperkal").unwrap()].chars().count()
        )
    );
}

#[test]
fn malformed_input_is_a_clear_error() {
    let cases: &[(&str, &str)] = &[
        ("", "no JSON was received"),
        ("[", "must be a JSON object starting with '{', not '['"),
        (r#"{"summary": "x",}"#, "trailing commas are not JSON"),
        (r#"{"summary": "x" "differential""#, "expected ',' or '}' after a value, found '\"'"),
        (r#"{"summery": "x"}"#, "unexpected field \"summery\""),
        (r#"{"summary": 5}"#, "the summary is not valid: invalid type: integer `5`, expected a string"),
        (r#"{"differential": {}}"#, "\"differential\" must be an array of diagnoses"),
        (r#"{"summary": "a\qb"}"#, "'\\q' is not a JSON escape"),
        (r#"{"summary": "a\u12x4"}"#, "expected four hex digits after '\\u', found 'x'"),
        (
            r#"{"summary": "\u123"}"#,
            "expected four hex digits after '\\u', found '\"'",
        ),
        ("{\"summary\": \"line\nbreak\"}", "unescaped control character (U+000A)"),
        (r#"{"summary": "x", "summary": "y"}"#, "the field \"summary\" appears twice"),
        (r#"{"red_flags": [tru]}"#, "expected 'true', found ']'"),
        (r#"{"red_flags": [-]}"#, "a number is cut short by ']'"),
        (r#"{"red_flags": ["a"}"#, "'}' closes a container that ']' should close"),
        (r#"{"red_flags": [1.e5]}"#, "a number is cut short by 'e'"),
        (r#"{"red_flags": [01]}"#, "expected ',' or ']' after a value, found '1'"),
        (r#"{"summary": "x"} x"#, "there is text after the differential's closing '}': 'x'"),
        (r#"{"summary": "x"}}"#, "there is text after the differential's closing '}': '}'"),
        (r#"{"differential": [[[[[[[[[[[[[[[[[[[[["#, "nests deeper than 16 levels"),
        ("{\u{a0}}", "expected a field name in double quotes or '}', found '\u{a0}'"),
        (r#"{"summary": "x", "differential": [], "red_flags": []}"#, "the differential has 0 diagnoses; it must have 1 to 8"),
        (r#"{"summary": "x", "red_flags": []}"#, "the field \"differential\" is missing"),
        (
            r#"{"summary": "x", "differential": [{"diagnosis": "A", "likelihood": "likely"}]}"#,
            "diagnosis 1 is not valid: unknown variant `likely`, expected one of `high`, `moderate`, `low`",
        ),
        (
            r#"{"summary": "x", "differential": [{"diagnosis": "A", "likelihood": "low", "supporting": [], "against": [], "cant_miss": false}]}"#,
            "diagnosis 1 is not valid: missing field `next_steps`",
        ),
    ];
    for (input, words) in cases {
        let (_, r) = run(&[input]);
        let err = r.expect_err(input).to_string();
        assert!(
            err.contains(words),
            "{input:?}\n  error: {err}\n  wanted: {words}"
        );
        // The same input one character at a time fails the same way.
        let pieces: Vec<String> = input.chars().map(String::from).collect();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let (_, r) = run(&pieces);
        assert_eq!(r.expect_err(input).to_string(), err, "{input:?} in pieces");
    }
    let err = run(&["{\"summary\" 1"]).1.unwrap_err();
    assert_eq!(
        err,
        Error::MalformedStream {
            at: 12,
            reason: "expected ':' after a field name, found '1'".into()
        }
    );
}

#[test]
fn a_failed_stream_stays_failed() {
    let mut s = DifferentialStream::new();
    let first = s.push("{x").unwrap_err();
    assert_eq!(s.push("\"summary\": \"fine\"").unwrap_err(), first);
    assert_eq!(s.finish().unwrap_err(), first);
}

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_input_agrees_with_serde_and_never_panics() {
    const ALPHABET: &[char] = &[
        '{', '}', '[', ']', '"', '\\', ',', ':', ' ', '\n', 'u', '0', '9', 'e', '-', '.', 't', 'x',
        'é', '→',
    ];
    let mut rng = Rng(0x10c0_5eed);
    let chars: Vec<char> = SAMPLE.chars().collect();
    let (mut accepted, mut rejected) = (0, 0);
    for round in 0..3000 {
        let mut text = chars.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(text.len());
            match rng.below(3) {
                0 => text[at] = ALPHABET[rng.below(ALPHABET.len())],
                1 => text.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                _ => {
                    text.remove(at);
                }
            }
        }
        let text: String = text.into_iter().collect();
        // Random pieces.
        let mut pieces = Vec::new();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let n = 1 + rng.below(12);
            let at = rest.char_indices().nth(n).map_or(rest.len(), |(i, _)| i);
            pieces.push(&rest[..at]);
            rest = &rest[at..];
        }
        let (_, ours) = run(&pieces);
        let serde = Differential::from_json(&text);
        match (&ours, &serde) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "round {round}: {text}");
                accepted += 1;
            }
            (Err(_), Err(_)) => rejected += 1,
            _ => panic!("round {round}: ours {ours:?}, serde {serde:?}\n{text}"),
        }
    }
    // Both outcomes were exercised.
    assert!(
        accepted > 100 && rejected > 100,
        "{accepted} accepted, {rejected} rejected"
    );
}
