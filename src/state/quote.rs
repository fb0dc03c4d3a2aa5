//! Where a finding in the differential came from in the case.
//!
//! The model is asked to quote the case in its supporting and against
//! findings. A finding whose words appear in one of the case's text fields
//! (verbatim, ignoring ASCII case and spacing, at least three words or the
//! whole finding) is linked to that field and range, so the page can show
//! the clinician the exact words; a finding that names a result in the case
//! is linked to that result. Anything else is shown as the model's own
//! words: never guessed.

use super::case::Field;

/// The source of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Characters `start..end` (UTF-16 units, as text controls count them)
    /// of a text field.
    Text { field: Field, start: u32, end: u32 },
    /// A result in the timeline, by name as written in the case.
    Result(String),
}

/// Fewest words a partial quote must share with the case.
const MIN_WORDS: usize = 3;

/// Finds the source of `finding` in `fields` (each text field's content)
/// and `results` (the names of the case's results).
pub fn find(finding: &str, fields: &[(Field, String)], results: &[String]) -> Option<Source> {
    let words: Vec<&str> = finding
        .split(|c: char| c.is_whitespace() || ",;:()".contains(c))
        .map(|w| w.trim_matches(|c: char| ".!?\"'".contains(c)))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return None;
    }
    // The longest run of the finding's words found in a field wins.
    for len in (1..=words.len()).rev() {
        if len < MIN_WORDS && len < words.len() {
            break;
        }
        for start in 0..=words.len() - len {
            let phrase = &words[start..start + len];
            if phrase.iter().map(|w| w.len()).sum::<usize>() < 4 {
                continue;
            }
            for (field, text) in fields {
                if let Some((s, e)) = find_words(text, phrase) {
                    return Some(Source::Text {
                        field: *field,
                        start: utf16_len(&text[..s]),
                        end: utf16_len(&text[..e]),
                    });
                }
            }
        }
    }
    let lower = finding.to_lowercase();
    results
        .iter()
        .filter(|n| n.chars().count() >= 3 && contains_word(&lower, &n.to_lowercase()))
        .max_by_key(|n| n.len())
        .map(|n| Source::Result(n.clone()))
}

/// The byte range of `words` in `text`, in order, separated by anything
/// that is not a letter or digit, ignoring ASCII case.
fn find_words(text: &str, words: &[&str]) -> Option<(usize, usize)> {
    let hay = text.to_ascii_lowercase();
    let first = words[0].to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = hay[from..].find(&first) {
        let start = from + pos;
        if at_word_start(&hay, start) {
            if let Some(end) = match_rest(&hay, start + first.len(), &words[1..]) {
                if at_word_end(&hay, end) {
                    return Some((start, end));
                }
            }
        }
        from = start + first.len().max(1);
        while !hay.is_char_boundary(from) {
            from += 1;
        }
    }
    None
}

fn match_rest(hay: &str, mut at: usize, words: &[&str]) -> Option<usize> {
    for w in words {
        let gap = hay[at..]
            .char_indices()
            .find(|(_, c)| c.is_alphanumeric())
            .map(|(i, _)| i)?;
        // Words are separated by spaces and punctuation only.
        if gap == 0 || gap > 4 {
            return None;
        }
        at += gap;
        let w = w.to_ascii_lowercase();
        if !hay[at..].starts_with(&w) {
            return None;
        }
        at += w.len();
    }
    Some(at)
}

fn at_word_start(hay: &str, i: usize) -> bool {
    hay[..i]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric())
}

fn at_word_end(hay: &str, i: usize) -> bool {
    hay[i..].chars().next().is_none_or(|c| !c.is_alphanumeric())
}

fn contains_word(hay: &str, word: &str) -> bool {
    hay.match_indices(word)
        .any(|(i, _)| at_word_start(hay, i) && at_word_end(hay, i + word.len()))
}

fn utf16_len(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<(Field, String)> {
        vec![
            (
                Field::PresentingComplaint,
                "Central chest pain for 2 hours".into(),
            ),
            (
                Field::History,
                "Heavy central chest pain that began at rest, radiating to the left arm and jaw, \
                 with sweating and nausea. Café owner."
                    .into(),
            ),
            (Field::Examination, "Clammy. HR 104, BP 150/90.".into()),
        ]
    }

    fn results() -> Vec<String> {
        vec!["Troponin I".into(), "Heart rate".into(), "Hb".into()]
    }

    #[test]
    fn a_verbatim_quote_points_at_its_words() {
        let got = find("Radiating to the left arm.", &fields(), &results());
        let text = &fields()[1].1;
        let Some(Source::Text { field, start, end }) = got else {
            panic!("{got:?}")
        };
        assert_eq!(field, Field::History);
        assert_eq!(
            &text[start as usize..end as usize],
            "radiating to the left arm"
        );
    }

    #[test]
    fn part_of_a_finding_is_enough_with_three_words() {
        let got = find("pain began at rest (typical)", &fields(), &results());
        assert!(
            matches!(
                got,
                Some(Source::Text {
                    field: Field::History,
                    ..
                })
            ),
            "{got:?}"
        );
        // Two words are not a quote.
        assert_eq!(
            find(
                "chest tightness on exertion",
                &[(Field::Note, "chest x".into())],
                &[]
            ),
            None
        );
    }

    #[test]
    fn offsets_count_utf16_units_and_ignore_case() {
        let fields = vec![(Field::Note, "Écho: café owner, SMOKES daily".into())];
        let Some(Source::Text { start, end, .. }) = find("smokes daily", &fields, &[]) else {
            panic!()
        };
        let units: Vec<u16> = fields[0].1.encode_utf16().collect();
        assert_eq!(
            String::from_utf16(&units[start as usize..end as usize]).unwrap(),
            "SMOKES daily"
        );
    }

    #[test]
    fn a_named_result_points_at_the_result() {
        assert_eq!(
            find("Troponin I rising to 52 ng/L", &fields(), &results()),
            Some(Source::Result("Troponin I".into()))
        );
        // A name inside another word does not count.
        assert_eq!(find("Hbx is odd", &fields(), &results()), None);
    }

    #[test]
    fn words_not_in_the_case_are_not_linked() {
        assert_eq!(
            find("Family history of aortic dissection", &fields(), &results()),
            None
        );
        assert_eq!(find("", &fields(), &results()), None);
    }
}
