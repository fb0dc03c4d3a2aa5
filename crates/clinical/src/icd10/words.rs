//! Words, for matching a diagnosis to ICD-10-CM terms: the same
//! normalisation on both sides, the ICD conventions that make a word
//! optional, and a small curated table of abbreviations and synonyms.
//!
//! Nothing here stems, spell-corrects or guesses: two texts match only if
//! they have the same words after the rules below, each of which either
//! folds a spelling difference (case, accents, British spelling, possessive)
//! or applies a convention the ICD-10-CM tabular list itself states.

/// One normalised word of a text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Word {
    /// Lowercase ASCII letters and digits, British spellings folded.
    pub text: String,
    /// Written in capitals (≥ 2 letters), as abbreviations are.
    pub caps: bool,
    /// Inside parentheses or brackets: in the tabular list, a nonessential
    /// modifier ("Myocardial infarction (acute) NOS") or an alternative name.
    pub bracketed: bool,
    /// Which comma-separated clause it is in, from 0.
    pub clause: u16,
}

/// Dropped everywhere: they never tell two diagnoses apart.
/// Not "a": it is a name in "Hepatitis A" and "Vitamin A deficiency".
const STOPWORDS: &[&str] = &["an", "the", "of", "and"];

/// British → American spellings (the tabular list is American), applied as
/// substring replacements to every word on both sides, in this order.
const SPELLINGS: &[(&str, &str)] = &[
    ("haem", "hem"),
    ("aem", "em"), // anaemia, ischaemia, leukaemia, hyperkalaemia …
    ("anaesth", "anesth"),
    ("oedem", "edem"),
    ("oesoph", "esoph"),
    ("oestr", "estr"),
    ("foet", "fet"),
    ("paed", "ped"),
    ("caec", "cec"),
    ("coeliac", "celiac"),
    ("rrhoea", "rrhea"), // diarrhoea, gonorrhoea
    ("pnoea", "pnea"),   // dyspnoea, apnoea
    ("amoeb", "ameb"),
    ("gynaec", "gynec"),
    ("tumour", "tumor"),
    ("sulph", "sulf"),
    ("isation", "ization"),
];

/// Roman numerals as the tabular list writes them in digits ("Type II").
const NUMERALS: &[(&str, &str)] = &[("i", "1"), ("ii", "2"), ("iii", "3"), ("iv", "4")];

/// Splits a text into normalised words: lowercase, accents and apostrophes
/// removed ("Addison's" → "addison", "Calvé" → "calve"), split at anything
/// that is not a letter or digit, "non-" joined to the next word
/// ("non-ST" → "nonst", as "nontraumatic"), British spellings folded,
/// stopwords dropped.
pub(super) fn words(text: &str) -> Vec<Word> {
    let mut scan = Scan::default();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(folded) = fold(c) {
            if c.is_uppercase() {
                scan.upper += 1;
            } else if c.is_alphabetic() {
                scan.lower += 1;
            }
            scan.text.push(folded);
            continue;
        }
        if c == '\'' || c == '\u{2019}' {
            // A possessive "'s" goes with its apostrophe; any other
            // apostrophe just disappears (o'brien → obrien).
            let mut ahead = chars.clone();
            if ahead.next().is_some_and(|n| n == 's' || n == 'S')
                && ahead.peek().is_none_or(|n| fold(*n).is_none())
            {
                chars.next();
            }
            continue;
        }
        scan.end_word();
        match c {
            '(' | '[' => scan.depth += 1,
            ')' | ']' => scan.depth = scan.depth.saturating_sub(1),
            ',' | ';' if scan.depth == 0 => scan.clause = scan.clause.saturating_add(1),
            _ => {}
        }
    }
    scan.end_word();

    let mut joined: Vec<Word> = Vec::with_capacity(scan.out.len());
    let mut it = scan.out.into_iter().peekable();
    while let Some(mut w) = it.next() {
        if w.text == "non" {
            if let Some(next) = it.next_if(|n| n.clause == w.clause) {
                w.text.push_str(&next.text);
                w.caps = next.caps;
                w.bracketed &= next.bracketed;
            }
        }
        // Every British spelling has one of these; most words have none.
        let british = ["ae", "oe", "our", "sulph", "isation"];
        if british.iter().any(|b| w.text.contains(b)) {
            for (from, to) in SPELLINGS {
                if w.text.contains(from) {
                    w.text = w.text.replace(from, to);
                }
            }
        }
        if let Some((_, n)) = NUMERALS.iter().find(|(r, _)| *r == w.text) {
            w.text = (*n).to_string();
        }
        if !STOPWORDS.contains(&w.text.as_str()) {
            joined.push(w);
        }
    }
    joined
}

/// The state of [`words`] between characters.
#[derive(Default)]
struct Scan {
    out: Vec<Word>,
    /// The word being read, and how many of its letters were upper- and
    /// lowercase.
    text: String,
    upper: usize,
    lower: usize,
    /// How many parentheses or brackets are open.
    depth: u32,
    clause: u16,
}

impl Scan {
    fn end_word(&mut self) {
        if !self.text.is_empty() {
            self.out.push(Word {
                text: std::mem::take(&mut self.text),
                caps: self.upper >= 2 && self.lower == 0,
                bracketed: self.depth > 0,
                clause: self.clause,
            });
        }
        (self.upper, self.lower) = (0, 0);
    }
}

/// A letter or digit → its lowercase ASCII form (accents dropped); anything
/// else → None. Letters outside Latin-1 are kept, lowercased.
fn fold(c: char) -> Option<char> {
    if c.is_ascii_alphanumeric() {
        return Some(c.to_ascii_lowercase());
    }
    if !c.is_alphanumeric() {
        return None;
    }
    let l = c.to_lowercase().next().unwrap_or(c);
    Some(match l {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    })
}

/// What a "<something>, unspecified <X>" leaves unsaid when X is one of
/// these: which site, organism, type … The diagnosis need not name them.
/// Body parts are not here: "unspecified shoulder" still says shoulder.
#[rustfmt::skip]
const DIMENSIONS: &[&str] = &[
    "site", "sites", "part", "parts", "side", "laterality", "type", "severity", "degree", "stage",
    "trimester", "organism", "cause", "depth", "number", "region", "location",
];

/// Words that only say that something is not specified.
#[rustfmt::skip]
const UNSAID: &[&str] = &[
    "unspecified", "not", "specified", "otherwise", "elsewhere", "classified", "nec", "nos",
];

/// The words of a tabular-list term, split by the list's conventions.
#[derive(Debug, Default, PartialEq)]
pub(super) struct TermWords {
    /// Words a diagnosis must contain to match the term.
    pub essential: Vec<String>,
    /// Words a diagnosis may contain, or not: in parentheses or brackets,
    /// "unspecified" (and the site, organism … it leaves unsaid), "not
    /// elsewhere classified", "site not specified".
    pub optional: Vec<String>,
    /// The term ends in "NOS" (not otherwise specified): the list's own
    /// statement that this code is the one for the unqualified words.
    pub nos: bool,
    /// The term says something is unspecified (NOS, "unspecified", "not
    /// specified"): it is the code for when a diagnosis says no more.
    pub unspecified: bool,
}

/// Splits a title or inclusion term into essential and optional words.
///
/// `title`, for an inclusion term, is its code's title: when the title
/// places the code in a disease ("Other neurologic disorders in Lyme
/// disease") and the term does not ("Meningoencephalitis"), the term takes
/// the title's "in …" words, as the list means it to.
pub(super) fn term_words(text: &str, title: Option<&str>) -> TermWords {
    let mut ws = words(text);
    if let Some(title) = title.filter(|t| t.contains(" in ")) {
        if !ws.iter().any(|w| w.text == "in") {
            let clause = ws.last().map_or(0, |w| w.clause);
            ws.extend(
                disease_context(title)
                    .into_iter()
                    .map(|w| Word { clause, ..w }),
            );
        }
    }
    let mut t = TermWords::default();
    // A later clause that only says what is unspecified is optional whole:
    // ", unspecified", ", site not specified", ", not elsewhere classified".
    let unsaid_clause = |clause: u16| {
        clause > 0 && {
            let mut in_clause = ws.iter().filter(|w| w.clause == clause && !w.bracketed);
            in_clause.clone().any(|w| UNSAID.contains(&w.text.as_str()))
                && in_clause.all(|w| {
                    UNSAID.contains(&w.text.as_str()) || DIMENSIONS.contains(&w.text.as_str())
                })
        }
    };
    let mut optional: Vec<bool> = ws
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let after_unspecified = i > 0 && ws[i - 1].text == "unspecified";
            w.bracketed
                || unsaid_clause(w.clause)
                || w.text == "unspecified"
                || w.text == "nec"
                || (after_unspecified && DIMENSIONS.contains(&w.text.as_str()))
        })
        .collect();
    // "not elsewhere classified" inside a clause ("Disorder of X not
    // elsewhere classified"): the same as NEC.
    for i in 0..ws.len().saturating_sub(2) {
        if ws[i..i + 3]
            .iter()
            .map(|w| w.text.as_str())
            .eq(["not", "elsewhere", "classified"])
        {
            optional[i..i + 3].fill(true);
        }
    }
    t.unspecified = ws
        .iter()
        .any(|w| matches!(w.text.as_str(), "nos" | "unspecified" | "specified"));
    scope(&mut ws);
    for (w, optional) in ws.into_iter().zip(optional) {
        if w.text == "nos" {
            t.nos = true;
        } else if optional {
            t.optional.push(w.text);
        } else {
            t.essential.push(w.text);
        }
    }
    t
}

/// The "in … disease(s)" words of a title's first clause, if it has them.
fn disease_context(title: &str) -> Vec<Word> {
    let ws = words(title);
    let Some(start) = ws.iter().position(|w| w.clause == 0 && w.text == "in") else {
        return Vec::new();
    };
    let phrase: Vec<Word> = ws[start..]
        .iter()
        .take_while(|w| w.clause == 0)
        .cloned()
        .collect();
    let names_disease = phrase
        .iter()
        .any(|w| matches!(w.text.as_str(), "disease" | "diseases" | "elsewhere"));
    if names_disease {
        phrase
    } else {
        Vec::new()
    }
}

/// Marks the words that "with" or "without" govern, up to the clause's end
/// or the next "with", "without", "in" or "due": "Nausea without vomiting"
/// is {nausea, without, without:vomiting}, and no longer the same words as
/// "Vomiting without nausea".
fn scope(ws: &mut [Word]) {
    let mut governing: Option<&str> = None;
    let mut clause = 0;
    for w in ws {
        if w.clause != clause {
            (governing, clause) = (None, w.clause);
        }
        match w.text.as_str() {
            "with" => governing = Some("with"),
            "without" => governing = Some("without"),
            "in" | "due" => governing = None,
            _ => {
                if let Some(g) = governing {
                    w.text = format!("{g}:{}", w.text);
                }
            }
        }
    }
}

/// Abbreviations a differential uses and the tabular list does not, each
/// with its expansion in the list's words. `true`: expanded whatever the
/// case; `false`: only when written in capitals ("PE", not "pe"), because
/// the lowercase word means something else (cap, pe) or is a real word.
const ABBREVIATIONS: &[(&str, &str, bool)] = &[
    ("mi", "myocardial infarction", false),
    ("ami", "acute myocardial infarction", false),
    ("stemi", "ST elevation myocardial infarction", true),
    ("nstemi", "non-ST elevation myocardial infarction", true),
    ("pe", "pulmonary embolism", false),
    ("dvt", "deep vein thrombosis", true),
    ("uti", "urinary tract infection", true),
    ("aki", "acute kidney injury", true),
    ("ckd", "chronic kidney disease", true),
    ("esrd", "end stage renal disease", true),
    ("copd", "chronic obstructive pulmonary disease", true),
    ("cap", "pneumonia", false),
    ("pna", "pneumonia", false),
    ("chf", "congestive heart failure", true),
    ("af", "atrial fibrillation", false),
    ("afib", "atrial fibrillation", true),
    ("tia", "transient cerebral ischemic attack", false),
    ("cva", "stroke", false),
    ("sah", "nontraumatic subarachnoid hemorrhage", false),
    ("gerd", "gastro-esophageal reflux disease", true),
    ("gord", "gastro-esophageal reflux disease", true),
    ("ards", "acute respiratory distress syndrome", true),
    ("sle", "systemic lupus erythematosus", false),
    ("osa", "obstructive sleep apnea", false),
    ("htn", "hypertension", true),
    ("t1dm", "type 1 diabetes mellitus", true),
    ("t2dm", "type 2 diabetes mellitus", true),
];

/// Other names for a condition, replaced wherever they occur in a
/// diagnosis. Each right-hand side is the tabular list's wording; each pair
/// was checked against the 2026 list (tests/icd10.rs holds the results).
const PHRASES: &[(&str, &str)] = &[
    ("septic arthritis", "pyogenic arthritis"),
    ("heart attack", "myocardial infarction"),
    ("community acquired pneumonia", "pneumonia"),
    ("acute renal failure", "acute kidney failure"),
    ("acute renal injury", "acute kidney injury"),
    ("type 1 diabetes", "type 1 diabetes mellitus"),
    ("type 2 diabetes", "type 2 diabetes mellitus"),
    ("aortic dissection", "dissection of aorta"),
    ("ischemic stroke", "cerebral infarction"),
    (
        "transient ischemic attack",
        "transient cerebral ischemic attack",
    ),
    ("covid", "covid-19"),
];

/// Diagnoses whose list wording adds words; replaced only when they are the
/// whole diagnosis, because inside a longer one the added words could
/// change what it names ("Hyponatremia of newborn" is P74.22).
const WHOLE: &[(&str, &str)] = &[
    ("hyponatremia", "hypo-osmolality and hyponatremia"),
    ("hypernatremia", "hyperosmolality and hypernatremia"),
    ("diabetes mellitus", "diabetes"),
    // The list's default, but "Traumatic subarachnoid hemorrhage" is S06.6X.
    (
        "subarachnoid hemorrhage",
        "nontraumatic subarachnoid hemorrhage",
    ),
    (
        "intracerebral hemorrhage",
        "nontraumatic intracerebral hemorrhage",
    ),
    ("syncope", "syncope and collapse"),
    ("vasovagal syncope", "vasovagal attack"),
    ("croup", "acute obstructive laryngitis"),
    ("kawasaki disease", "mucocutaneous lymph node syndrome"),
    (
        "perthes disease",
        "juvenile osteochondrosis of head of femur",
    ),
    (
        "legg calve perthes disease",
        "juvenile osteochondrosis of head of femur",
    ),
];

/// The words of a diagnosis, with abbreviations and synonyms replaced by
/// the tabular list's words: a set (sorted, no repeats), NOS dropped.
pub(super) fn diagnosis_words(text: &str) -> Vec<String> {
    // Replacement words take the place, clause and brackets of the first
    // word they replace.
    let like = |text: &str, at: &Word| -> Vec<Word> {
        words(text)
            .into_iter()
            .map(|w| Word {
                clause: at.clause,
                bracketed: at.bracketed,
                ..w
            })
            .collect()
    };
    let texts = |ws: &[Word]| -> Vec<String> { ws.iter().map(|w| w.text.clone()).collect() };
    let mut ws: Vec<Word> = Vec::new();
    for w in words(text) {
        match ABBREVIATIONS.iter().find(|(a, _, _)| *a == w.text) {
            Some((_, long, any_case)) if *any_case || w.caps => ws.extend(like(long, &w)),
            _ => ws.push(w),
        }
    }
    for (from, to) in PHRASES {
        let from = texts(&words(from));
        let at = ws
            .windows(from.len())
            .position(|win| win.iter().map(|w| &w.text).eq(from.iter()));
        if let Some(i) = at {
            let replacement = like(to, &ws[i]);
            ws.splice(i..i + from.len(), replacement);
        }
    }
    for (from, to) in WHOLE {
        if texts(&ws) == texts(&words(from)) {
            ws = words(to);
        }
    }
    scope(&mut ws);
    let mut out = texts(&ws);
    out.retain(|w| w != "nos");
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        words(text).into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn words_fold_case_accents_possessives_and_spelling() {
        assert_eq!(texts("Addison's disease"), ["addison", "disease"]);
        assert_eq!(texts("Legg-Calvé-Perthes"), ["legg", "calve", "perthes"]);
        assert_eq!(texts("Non-ST elevation"), ["nonst", "elevation"]);
        assert_eq!(texts("Anaemia of the newborn"), ["anemia", "newborn"]);
        assert_eq!(
            texts("Subarachnoid haemorrhage"),
            ["subarachnoid", "hemorrhage"]
        );
        assert_eq!(texts("Type II diabetes"), ["type", "2", "diabetes"]);
        assert_eq!(texts("Crohn’s disease"), ["crohn", "disease"]);
        assert_eq!(texts("Acute hepatitis A"), ["acute", "hepatitis", "a"]);
    }

    #[test]
    fn words_mark_capitals_brackets_and_clauses() {
        let ws = words("Suspected PE (acute), right");
        let caps: Vec<bool> = ws.iter().map(|w| w.caps).collect();
        let bracketed: Vec<bool> = ws.iter().map(|w| w.bracketed).collect();
        let clauses: Vec<u16> = ws.iter().map(|w| w.clause).collect();
        assert_eq!(caps, [false, true, false, false]);
        assert_eq!(bracketed, [false, false, true, false]);
        assert_eq!(clauses, [0, 0, 0, 1]);
    }

    fn term_words_(text: &str) -> TermWords {
        term_words(text, None)
    }

    #[test]
    fn term_words_follow_the_list_conventions() {
        let t = term_words_("Myocardial infarction (acute) NOS");
        assert_eq!(t.essential, ["myocardial", "infarction"]);
        assert_eq!(t.optional, ["acute"]);
        assert!(t.nos);
        let t = term_words_("Pneumonia, unspecified organism");
        assert_eq!(
            (t.essential, t.optional),
            (
                vec!["pneumonia".to_string()],
                vec!["unspecified".to_string(), "organism".to_string()]
            )
        );
        let t = term_words_("Urinary tract infection, site not specified");
        assert_eq!(t.essential, ["urinary", "tract", "infection"]);
        let t = term_words_("Bacterial meningitis, not elsewhere classified");
        assert_eq!(t.essential, ["bacterial", "meningitis"]);
        // Unspecified appendicitis is K37: "acute" stays essential.
        let t = term_words_("Unspecified acute appendicitis");
        assert_eq!(t.essential, ["acute", "appendicitis"]);
        // A body part after "unspecified" still names the body part.
        let t = term_words_("Transient synovitis, unspecified shoulder");
        assert_eq!(t.essential, ["transient", "synovitis", "shoulder"]);
        // What "with" and "without" govern stays apart.
        let t = term_words_("Nausea without vomiting");
        assert_eq!(t.essential, ["nausea", "without", "without:vomiting"]);
        let t = term_words_("Chronic obstructive pulmonary disease with (acute) exacerbation");
        assert_eq!(t.optional, ["with:acute"]);
        // An inclusion term takes its code's "in … disease" context.
        let t = term_words(
            "Meningoencephalitis",
            Some("Other neurologic disorders in Lyme disease"),
        );
        assert_eq!(
            t.essential,
            ["meningoencephalitis", "in", "lyme", "disease"]
        );
        let t = term_words("Arthralgia", Some("Pain in joint"));
        assert_eq!(t.essential, ["arthralgia"]);
    }

    #[test]
    fn diagnosis_words_expand_abbreviations_and_synonyms() {
        assert_eq!(
            diagnosis_words("NSTEMI"),
            ["elevation", "infarction", "myocardial", "nonst"]
        );
        assert_eq!(diagnosis_words("PE"), ["embolism", "pulmonary"]);
        // Lowercase "cap" is a word (cradle cap), not community-acquired pneumonia.
        assert_eq!(diagnosis_words("Cradle cap"), ["cap", "cradle"]);
        assert_eq!(diagnosis_words("CAP"), ["pneumonia"]);
        assert_eq!(
            diagnosis_words("Septic arthritis"),
            ["arthritis", "pyogenic"]
        );
        assert_eq!(
            diagnosis_words("Hyponatraemia"),
            ["hypo", "hyponatremia", "osmolality"]
        );
        assert_eq!(
            diagnosis_words("Hyponatraemia of newborn"),
            ["hyponatremia", "newborn"]
        );
        assert!(diagnosis_words("").is_empty());
    }
}
