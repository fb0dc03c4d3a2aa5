//! ICD-10-CM codes for diagnoses, from a local copy of the 2026 code set.
//!
//! Each diagnosis of a differential can be shown with its code and official
//! title ("N17.9 Acute kidney failure, unspecified"), or as uncoded. The
//! lookup runs wherever this crate does (natively, or in the browser): the
//! index is compiled in, nothing is sent anywhere.
//!
//! This is a convenience for reading and filing, not a coder: it never picks
//! between codes the diagnosis does not choose between. It answers `None`
//! (shown as uncoded) rather than guess.
//!
//! # Where the index comes from
//!
//! `cargo xtask setup` downloads the CMS/NCHS tabular list (April 1, 2026)
//! from PyPI's `simple-icd-10-cm` 1.5.0, checks its sha256 and writes
//! `crates/clinical/icd10/icd10cm-2026.tsv` (gitignored, about 3.2 MB, 0.46
//! MB gzipped); `build.rs` embeds it. Without it the crate still builds,
//! [`index_available`] is false and every lookup is `None`; the build says
//! so once (a cargo warning). Set `LOCUM_ICD10_INDEX` to embed another copy.
//!
//! # The rule
//!
//! A diagnosis and each code's title and inclusion terms are reduced to
//! words (case, accents, apostrophes, British spelling and "the/an/of/and"
//! folded away; `src/icd10/words.rs` has the details). A few abbreviations
//! and synonyms that the list does not use are replaced by its wording
//! ("NSTEMI", "PE", "AKI", "septic arthritis" → "pyogenic arthritis"); the
//! table is short and every entry is checked against the list.
//!
//! A term's words are *essential* unless the list marks them optional: in
//! parentheses or brackets ("Myocardial infarction (acute) NOS"),
//! "unspecified" and the site, organism, type … it leaves unsaid,
//! "not elsewhere classified", "site not specified".
//!
//! 1. **Exact**: the diagnosis contains every essential word of the term
//!    and nothing but the term's words. Score 1.
//! 2. **Partial**: the term's essential words (at least 2) are all in the
//!    diagnosis and explain at least [`MIN_PARTIAL_SCORE`] of its words,
//!    the words left over do not change what it names (history, suspected,
//!    with, due, chronic, neonatal … : see `VETO`), and the term does not
//!    say "unspecified" or NOS: the left-over words may be just what it
//!    leaves unspecified, and another code may say them ("Inferior STEMI"
//!    is not "STEMI of unspecified site"; "COPD exacerbation" is not "COPD,
//!    unspecified"). The code is then true but less specific than the
//!    diagnosis ("Acute kidney injury, prerenal" → N17.9, by its inclusion
//!    term "Acute kidney injury (nontraumatic)"). Score = the share
//!    explained.
//! 3. Otherwise `None`. A term is never matched because it *contains* the
//!    diagnosis: "Meningitis" is not coded as bacterial meningitis.
//!
//! Words after "with" or "without" are told apart from the others, so
//! "Nausea without vomiting" (R11.0) is not "Vomiting without nausea"; an
//! inclusion term under a code "… in Lyme disease" keeps that context.
//!
//! Among the matches, different categories (the first three characters)
//! are different conditions: one must explain more of the diagnosis, or
//! state the term more strongly (NOS, the list's own statement of the
//! default code, beats a title, which beats another inclusion term), or
//! there is no answer ("Laceration of uterus" is both S37.63 and, in
//! childbirth, O71.81). Within the category, a billable code beats one that
//! needs a 7th character, which beats a heading; then NOS, title,
//! inclusion; then fewer unused optional words. So "Pulmonary embolism" is
//! I26.99 ("Pulmonary embolism NOS"), not the heading I26, and "Type 2
//! diabetes" stays at the heading E11: no single code is right without
//! more. Matches still equal on different branches: `None`.

mod words;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The index `build.rs` embeds: empty when it has not been generated.
const INDEX_TEXT: &str = include_str!(concat!(env!("OUT_DIR"), "/icd10cm.tsv"));

/// The first line of a version 1 index starts with this; the rest of the
/// line says where the codes came from.
const HEADER: &str = "#locum-icd10cm 1\t";

/// Least share of a diagnosis's words that a term must explain for a
/// partial match (one word in four may be left over).
pub const MIN_PARTIAL_SCORE: f32 = 0.75;

/// Most words of a diagnosis looked at: longer text is not a diagnosis name.
const MAX_WORDS: usize = 24;

/// Left-over words that stop a partial match: each can turn a condition
/// into a different code (history of, neonatal, secondary …) or negate it.
#[rustfmt::skip]
const VETO: &[&str] = &[
    "no", "not", "without", "with", "history", "old", "previous", "prior", "past", "family",
    "risk", "suspected", "possible", "probable", "query", "ruled", "rule", "excluded", "negative",
    "screening", "secondary", "due", "induced", "post", "after", "following", "chronic", "acute",
    "subacute", "recurrent", "neonatal", "newborn", "congenital", "pregnancy", "gestational",
    "puerperal", "traumatic", "nontraumatic", "malignant", "metastatic", "benign", "sequelae",
];

/// A diagnosis's ICD-10-CM code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Icd10Match {
    /// The code with its dot ("I21.9").
    pub code: String,
    /// The code's official title ("Acute myocardial infarction, unspecified").
    pub title: String,
    /// A complete code. When false, the code is a heading with subcodes, or
    /// a code that takes a 7th character (encounter, laterality …): the
    /// diagnosis did not say which, so neither does the match.
    pub billable: bool,
    /// 1 for an exact match, less for a partial one (see the module docs);
    /// for [`search`], the share of the term's words the query matched.
    pub score: f32,
}

/// Whether the ICD-10-CM index was compiled in (`cargo xtask setup`
/// generates it). Without it every lookup is `None`.
pub fn index_available() -> bool {
    index().is_some()
}

/// Where the compiled-in codes come from ("ICD-10-CM 2026 tabular list …"),
/// for an about box; `None` without the index.
pub fn source() -> Option<&'static str> {
    index().map(|i| i.source)
}

/// The code for a diagnosis, by the rule in the module docs; `None` when no
/// code matches well enough, when the best matches disagree, or without the
/// index.
pub fn lookup(diagnosis: &str) -> Option<Icd10Match> {
    index()?.lookup(diagnosis)
}

/// Up to `n` codes whose title or an inclusion term contains every word of
/// `query`, each word as a prefix ("pulm emb"), best first: for a picker
/// where the clinician chooses. Not for coding without a person: use
/// [`lookup`].
pub fn search(query: &str, n: usize) -> Vec<Icd10Match> {
    index().map(|i| i.search(query, n)).unwrap_or_default()
}

/// A code's title, given the code with or without its dot ("i219" works).
pub fn find_code(code: &str) -> Option<Icd10Match> {
    let index = index()?;
    let key: String = code
        .trim()
        .chars()
        .filter(|c| *c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let &i = index.by_code.get(&key)?;
    Some(index.to_match(i, 1.0))
}

fn index() -> Option<&'static Index<'static>> {
    static INDEX: OnceLock<Option<Index<'static>>> = OnceLock::new();
    INDEX.get_or_init(|| Index::parse(INDEX_TEXT)).as_ref()
}

/// How complete a code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// It has subcodes.
    Heading,
    /// It takes a 7th character to be complete.
    NeedsSeventh,
    Billable,
}

/// Which text of a code a term is; ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Inclusion,
    Title,
    /// A title or inclusion term ending in NOS.
    Nos,
}

struct Code<'a> {
    code: &'a str,
    title: &'a str,
    kind: Kind,
}

/// One title or inclusion term, as word ids (sorted, no repeats).
struct Term {
    code: u32,
    source: Source,
    /// The term says something is unspecified, so it never matches a
    /// diagnosis that says more (see the module docs).
    unspecified: bool,
    essential: Box<[u32]>,
    optional: Box<[u32]>,
}

struct Index<'a> {
    source: &'a str,
    codes: Vec<Code<'a>>,
    /// Code without its dot → index in `codes`.
    by_code: HashMap<String, u32>,
    terms: Vec<Term>,
    vocab: HashMap<String, u32>,
    /// Word id → its text.
    words: Vec<String>,
    /// Word id → the terms that have it as an essential word.
    postings: Vec<Vec<u32>>,
}

impl<'a> Index<'a> {
    /// Reads the index text (format: `xtask/src/icd10.rs`). Lines that do
    /// not parse are skipped; a missing or foreign header, or no codes at
    /// all, means no index.
    fn parse(text: &'a str) -> Option<Index<'a>> {
        let mut lines = text.lines();
        let source = lines.next()?.strip_prefix(HEADER)?;
        let mut index = Index {
            source,
            codes: Vec::new(),
            by_code: HashMap::new(),
            terms: Vec::new(),
            vocab: HashMap::new(),
            words: Vec::new(),
            postings: Vec::new(),
        };
        for line in lines {
            let mut fields = line.splitn(3, '\t');
            let (Some(code), Some(kind), Some(text)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let kind = match kind {
                "B" => Kind::Billable,
                "H" => Kind::Heading,
                "X" => Kind::NeedsSeventh,
                "I" => {
                    // An inclusion term belongs to the code just above it.
                    if let Some(last) = index.codes.len().checked_sub(1) {
                        if index.codes[last].code == code {
                            let title = index.codes[last].title;
                            index.add_term(last as u32, text, Source::Inclusion, Some(title));
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            let i = index.codes.len() as u32;
            index.codes.push(Code {
                code,
                title: text,
                kind,
            });
            index.by_code.insert(code.replace('.', ""), i);
            index.add_term(i, text, Source::Title, None);
        }
        (!index.codes.is_empty()).then_some(index)
    }

    /// Adds a title, or (with its code's `title`) an inclusion term.
    fn add_term(&mut self, code: u32, text: &str, source: Source, title: Option<&str>) {
        let t = words::term_words(text, title);
        if t.essential.is_empty() {
            return; // it would match anything
        }
        let mut essential: Vec<u32> = t.essential.iter().map(|w| self.word_id(w)).collect();
        essential.sort_unstable();
        essential.dedup();
        let mut optional: Vec<u32> = t.optional.iter().map(|w| self.word_id(w)).collect();
        optional.sort_unstable();
        optional.dedup();
        optional.retain(|o| essential.binary_search(o).is_err());
        let id = self.terms.len() as u32;
        for &w in &essential {
            self.postings[w as usize].push(id);
        }
        self.terms.push(Term {
            code,
            source: if t.nos { Source::Nos } else { source },
            unspecified: t.unspecified,
            essential: essential.into(),
            optional: optional.into(),
        });
    }

    fn word_id(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.vocab.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.vocab.insert(word.to_string(), id);
        self.words.push(word.to_string());
        self.postings.push(Vec::new());
        id
    }

    fn to_match(&self, code: u32, score: f32) -> Icd10Match {
        let c = &self.codes[code as usize];
        Icd10Match {
            code: c.code.to_string(),
            title: c.title.to_string(),
            billable: c.kind == Kind::Billable,
            score,
        }
    }

    fn lookup(&self, diagnosis: &str) -> Option<Icd10Match> {
        let words = words::diagnosis_words(diagnosis);
        if words.is_empty() || words.len() > MAX_WORDS {
            return None;
        }
        // Word ids, sorted; a word the list never uses has none, and no
        // term can explain it.
        let mut ids: Vec<u32> = words
            .iter()
            .filter_map(|w| self.vocab.get(w).copied())
            .collect();
        ids.sort_unstable();
        // The terms whose essential words are all in the diagnosis: each is
        // in the postings of every one of them, so its count reaches their
        // number exactly once.
        let mut counts = vec![0u8; self.terms.len()];
        let mut candidates: Vec<u32> = Vec::new();
        for &w in &ids {
            for &t in &self.postings[w as usize] {
                let c = &mut counts[t as usize];
                *c = c.saturating_add(1);
                if usize::from(*c) == self.terms[t as usize].essential.len() {
                    candidates.push(t);
                }
            }
        }

        // (rank, code) of every acceptable term; the rank orders as the
        // module docs say, best last.
        let mut found: Vec<(Rank, u32)> = Vec::new();
        for &t in &candidates {
            let term = &self.terms[t as usize];
            let explains = |w: &u32| term.essential.contains(w) || term.optional.contains(w);
            let explained = ids.iter().filter(|w| explains(w)).count();
            if explained < words.len() {
                let left_over_vetoed = words.iter().any(|w| {
                    VETO.contains(&w.as_str()) && self.vocab.get(w).is_none_or(|id| !explains(id))
                });
                if term.unspecified
                    || term.essential.len() < 2
                    || (explained as f32) < MIN_PARTIAL_SCORE * words.len() as f32
                    || left_over_vetoed
                {
                    continue;
                }
            }
            let rank = Rank {
                explained_per_mille: (explained * 1000 / words.len()) as u32,
                kind: self.codes[term.code as usize].kind,
                source: term.source,
                unused_optional: std::cmp::Reverse(
                    term.optional
                        .iter()
                        .filter(|o| ids.binary_search(o).is_err())
                        .count(),
                ),
            };
            found.push((rank, term.code));
        }
        // Different categories (a code's first three characters) are
        // different conditions, and the list's conventions do not rank one
        // above another: the best category must win on how much of the
        // diagnosis it explains and how the list states the term (NOS,
        // title, inclusion), or there is no answer.
        let category = |c: u32| self.codes[c as usize].code.get(..3).unwrap_or_default();
        let strength = |r: &Rank| (r.explained_per_mille, r.source);
        let top = found.iter().map(|(r, _)| strength(r)).max()?;
        let mut categories: Vec<&str> = found
            .iter()
            .filter(|(r, _)| strength(r) == top)
            .map(|&(_, c)| category(c))
            .collect();
        categories.sort_unstable();
        categories.dedup();
        let [winner] = categories[..] else {
            return None;
        };
        found.retain(|&(_, c)| category(c) == winner);

        // Within it, the best rank; equal ranks on one branch of the list (a
        // heading and its subcode): the most specific; on different
        // branches: no answer.
        let best = found.iter().map(|(r, _)| *r).max()?;
        let mut codes: Vec<u32> = found
            .iter()
            .filter(|(r, _)| *r == best)
            .map(|(_, c)| *c)
            .collect();
        codes.sort_by_key(|&c| (self.codes[c as usize].code.len(), c));
        codes.dedup();
        let most_specific = *codes.last()?;
        let specific = self.codes[most_specific as usize].code;
        let one_branch = codes
            .iter()
            .all(|&c| specific.starts_with(self.codes[c as usize].code));
        one_branch.then(|| self.to_match(most_specific, best.explained_per_mille as f32 / 1000.0))
    }

    fn search(&self, query: &str, n: usize) -> Vec<Icd10Match> {
        let query = words::diagnosis_words(query);
        if query.is_empty() || query.len() > MAX_WORDS || n == 0 {
            return Vec::new();
        }
        // For each query word, the ids of the words it is a prefix of.
        let matching: Vec<HashSet<u32>> = query
            .iter()
            .map(|q| {
                (0..self.words.len() as u32)
                    .filter(|&id| self.words[id as usize].starts_with(q.as_str()))
                    .collect()
            })
            .collect();
        if matching.iter().any(HashSet::is_empty) {
            return Vec::new();
        }
        let mut found: Vec<(u32, Kind, Source, u32)> = Vec::new();
        for term in &self.terms {
            let all_words = || term.essential.iter().chain(term.optional.iter());
            if !matching.iter().all(|m| all_words().any(|w| m.contains(w))) {
                continue;
            }
            let hit = term
                .essential
                .iter()
                .filter(|w| matching.iter().any(|m| m.contains(w)))
                .count();
            let per_mille = (hit * 1000 / term.essential.len()) as u32;
            found.push((
                per_mille,
                self.codes[term.code as usize].kind,
                term.source,
                term.code,
            ));
        }
        // Best first; ties in the list's order.
        found.sort_by(|a, b| (b.0, b.1, b.2, a.3).cmp(&(a.0, a.1, a.2, b.3)));
        let mut seen = HashSet::new();
        found
            .into_iter()
            .filter(|f| seen.insert(f.3))
            .take(n)
            .map(|(per_mille, _, _, code)| self.to_match(code, per_mille as f32 / 1000.0))
            .collect()
    }
}

/// How good a match is; greater is better, compared field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    /// Share of the diagnosis's words the term explains, × 1000.
    explained_per_mille: u32,
    kind: Kind,
    source: Source,
    /// Fewer optional words the diagnosis did not use is better.
    unused_optional: std::cmp::Reverse<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few real lines of the 2026 list, enough to test the rule without
    /// the generated index.
    const SAMPLE: &str = "#locum-icd10cm 1\tsample
G00\tH\tBacterial meningitis, not elsewhere classified
G00\tI\tbacterial meningitis
G00.9\tB\tBacterial meningitis, unspecified
G00.9\tI\tPurulent meningitis NOS
G03\tH\tMeningitis due to other and unspecified causes
G03.9\tB\tMeningitis, unspecified
I21\tH\tAcute myocardial infarction
I21.4\tB\tNon-ST elevation (NSTEMI) myocardial infarction
I21.9\tB\tAcute myocardial infarction, unspecified
I21.9\tI\tMyocardial infarction (acute) NOS
I26\tH\tPulmonary embolism
I26.9\tH\tPulmonary embolism without acute cor pulmonale
I26.99\tB\tOther pulmonary embolism without acute cor pulmonale
I26.99\tI\tPulmonary embolism NOS
M67.3\tH\tTransient synovitis
M67.30\tB\tTransient synovitis, unspecified site
M67.319\tB\tTransient synovitis, unspecified shoulder
N17.9\tB\tAcute kidney failure, unspecified
N17.9\tI\tAcute kidney injury (nontraumatic)
R57.9\tB\tShock, unspecified
S72.00\tH\tFracture of unspecified part of neck of femur
S72.009\tX\tFracture of unspecified part of neck of unspecified femur
X1\tB\tTwo branches
X2\tB\tTwo branches
R11.0\tB\tNausea
R11.0\tI\tNausea without vomiting
R11.11\tB\tVomiting without nausea
S37.63\tX\tLaceration of uterus
O71.81\tB\tLaceration of uterus, not elsewhere classified
bad line
";

    fn code(index: &Index, diagnosis: &str) -> Option<(String, f32)> {
        index.lookup(diagnosis).map(|m| (m.code, m.score))
    }

    #[test]
    fn the_rule_on_a_sample() {
        let index = Index::parse(SAMPLE).expect("the sample parses");
        let exact = |c: &str| Some((c.to_string(), 1.0));
        assert_eq!(code(&index, "Bacterial meningitis"), exact("G00.9"));
        assert_eq!(code(&index, "Meningitis"), exact("G03.9"));
        assert_eq!(code(&index, "Acute myocardial infarction"), exact("I21.9"));
        assert_eq!(code(&index, "Myocardial infarction"), exact("I21.9"));
        assert_eq!(code(&index, "NSTEMI"), exact("I21.4"));
        assert_eq!(code(&index, "Acute MI"), exact("I21.9"));
        assert_eq!(code(&index, "PE"), exact("I26.99"));
        assert_eq!(code(&index, "Transient synovitis"), exact("M67.30"));
        assert_eq!(code(&index, "Fracture of neck of femur"), exact("S72.009"));
        assert_eq!(code(&index, "AKI"), exact("N17.9"));
        // Partial: true but less specific than the diagnosis.
        assert_eq!(
            code(&index, "Acute kidney injury, prerenal"),
            Some(("N17.9".into(), 0.75))
        );
        // Never more specific than the diagnosis, never a weak match.
        assert_eq!(code(&index, "Septic shock"), None);
        assert_eq!(code(&index, "Pulmonary embolism with infarction"), None);
        assert_eq!(code(&index, "Pulmonary embolism, saddle, bilateral"), None);
        assert_eq!(code(&index, "History of myocardial infarction"), None);
        assert_eq!(code(&index, "banana fever"), None);
        assert_eq!(code(&index, ""), None);
        assert_eq!(code(&index, "Two branches"), None);
        assert_eq!(code(&index, "Laceration of uterus"), None);
        assert_eq!(code(&index, "Nausea without vomiting"), exact("R11.0"));
        assert_eq!(code(&index, "Vomiting without nausea"), exact("R11.11"));
    }

    #[test]
    fn sample_codes_kinds_and_search() {
        let index = Index::parse(SAMPLE).expect("the sample parses");
        assert_eq!(index.codes.len(), 23);
        let m = index.lookup("Fracture of neck of femur").expect("a match");
        assert!(!m.billable);
        assert_eq!(
            m.title,
            "Fracture of unspecified part of neck of unspecified femur"
        );
        let found: Vec<String> = index
            .search("pulm emb", 5)
            .into_iter()
            .map(|m| m.code)
            .collect();
        assert_eq!(found, ["I26.99", "I26", "I26.9"]);
        assert!(index.search("", 5).is_empty());
        assert!(index.search("zzz", 5).is_empty());
    }

    #[test]
    fn no_index_without_its_header() {
        assert!(Index::parse("").is_none());
        assert!(Index::parse("I21\tH\tAcute myocardial infarction\n").is_none());
        assert!(Index::parse("#locum-icd10cm 1\tnothing\n").is_none());
    }
}
