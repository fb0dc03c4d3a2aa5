//! ICD-10-CM codes for diagnoses, against the real 2026 index.
//!
//! Every test here needs the index that `cargo xtask setup` generates
//! (`crates/clinical/icd10/icd10cm-2026.tsv`); without it each one says so
//! and passes, as the app then shows every diagnosis as uncoded. The rule
//! itself is also tested on a small sample inside `src/icd10.rs`.

use locum_clinical::icd10;

/// Whether the index is compiled in; if not, says why the test is skipped.
fn have_index(test: &str) -> bool {
    let have = icd10::index_available();
    if !have {
        eprintln!(
            "{test}: skipped, no ICD-10-CM index was compiled in. Run `cargo xtask setup` to generate crates/clinical/icd10/icd10cm-2026.tsv, then test again."
        );
    }
    have
}

/// The code for a diagnosis, or "-" for none.
fn code(diagnosis: &str) -> String {
    icd10::lookup(diagnosis).map_or_else(|| "-".to_string(), |m| m.code)
}

/// Checks a table of diagnosis → expected code ("-" for none), and names
/// every mismatch at once.
fn check(table: &[(&str, &str)]) {
    let wrong: Vec<String> = table
        .iter()
        .filter_map(|&(diagnosis, want)| {
            let got = code(diagnosis);
            (got != want).then(|| format!("{diagnosis:?}: got {got}, want {want}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn common_diagnoses_get_their_codes() {
    if !have_index("common_diagnoses_get_their_codes") {
        return;
    }
    check(&[
        // I21 is the category; I21.9 is the code for an unqualified AMI
        // ("Myocardial infarction (acute) NOS").
        ("Acute myocardial infarction", "I21.9"),
        ("Myocardial infarction", "I21.9"),
        ("Bacterial meningitis", "G00.9"),
        ("Meningitis", "G03.9"),
        // "Pulmonary embolism NOS" is an inclusion term of I26.99.
        ("Pulmonary embolism", "I26.99"),
        ("Acute pulmonary embolism", "I26.99"),
        // "Acute kidney injury (nontraumatic)" is an inclusion term of N17.9.
        ("Acute kidney injury", "N17.9"),
        ("Acute renal failure", "N17.9"),
        ("Addison's disease", "E27.1"),
        ("Addison disease", "E27.1"),
        ("Primary adrenocortical insufficiency", "E27.1"),
        ("Addisonian crisis", "E27.2"),
        ("Septic arthritis", "M00.9"),
        ("Transient synovitis", "M67.30"),
        ("Pneumonia", "J18.9"),
        ("Community-acquired pneumonia", "J18.9"),
        ("Sepsis", "A41.9"),
        ("Urinary tract infection", "N39.0"),
        ("Heart failure", "I50.9"),
        ("Congestive heart failure", "I50.9"),
        ("Atrial fibrillation", "I48.91"),
        ("Hypertension", "I10"),
        ("Stroke", "I63.9"),
        ("Asthma", "J45.909"),
        ("Migraine", "G43.909"),
        ("Appendicitis", "K37"),
        ("Acute appendicitis", "K35.80"),
        ("Acute cholecystitis", "K81.0"),
        ("Hypothyroidism", "E03.9"),
        ("Hyponatremia", "E87.1"),
        ("Syncope", "R55"),
        ("COVID-19", "U07.1"),
        ("Nausea without vomiting", "R11.0"),
        ("Vomiting without nausea", "R11.11"),
    ]);
}

#[test]
fn abbreviations_and_british_spellings() {
    if !have_index("abbreviations_and_british_spellings") {
        return;
    }
    check(&[
        ("MI", "I21.9"),
        ("Acute MI", "I21.9"),
        ("STEMI", "I21.3"),
        ("NSTEMI", "I21.4"),
        ("Non-ST elevation myocardial infarction", "I21.4"),
        ("PE", "I26.99"),
        ("DVT", "I82.40"),
        ("UTI", "N39.0"),
        ("AKI", "N17.9"),
        ("CKD", "N18.9"),
        ("COPD", "J44.9"),
        ("CAP", "J18.9"),
        ("CHF", "I50.9"),
        ("AF", "I48.91"),
        ("TIA", "G45.9"),
        ("SLE", "M32.9"),
        ("Hyperkalaemia", "E87.5"),
        ("Hyponatraemia", "E87.1"),
        ("Anaemia", "D64.9"),
        ("Iron deficiency anaemia", "D50.9"),
        ("Subarachnoid haemorrhage", "I60.9"),
        ("Transient ischaemic attack", "G45.9"),
        ("Coeliac disease", "K90.0"),
        ("Obstructive sleep apnoea", "G47.33"),
        ("Tumour lysis syndrome", "E88.3"),
        ("Guillain-Barré syndrome", "G61.0"),
        // Lowercase "cap" is a word, not an abbreviation.
        ("Cradle cap", "L21.0"),
    ]);
}

/// Every entry of the abbreviation and synonym tables in
/// `src/icd10/words.rs` lands on the code its expansion names.
#[test]
fn every_synonym_lands_on_a_code() {
    if !have_index("every_synonym_lands_on_a_code") {
        return;
    }
    check(&[
        ("AMI", "I21.9"),
        ("ESRD", "N18.6"),
        ("PNA", "J18.9"),
        ("AFib", "I48.91"),
        ("CVA", "I63.9"),
        ("SAH", "I60.9"),
        ("GORD", "K21"),
        ("ARDS", "J80"),
        ("OSA", "G47.33"),
        ("HTN", "I10"),
        ("T1DM", "E10"),
        ("T2DM", "E11"),
        ("Heart attack", "I21.9"),
        ("Acute renal injury", "N17.9"),
        ("Type 1 diabetes", "E10"),
        ("Type II diabetes", "E11"),
        ("Diabetes mellitus", "E11"),
        ("Aortic dissection", "I71.00"),
        ("Intracerebral haemorrhage", "I61.9"),
        ("Ischaemic stroke", "I63.9"),
        ("Hypernatraemia", "E87.0"),
        ("Vasovagal syncope", "R55"),
        ("Croup", "J05.0"),
        ("Kawasaki disease", "M30.3"),
        ("Legg-Calvé-Perthes disease", "M91.1"),
        ("Covid", "U07.1"),
    ]);
}

#[test]
fn never_more_specific_than_the_diagnosis() {
    if !have_index("never_more_specific_than_the_diagnosis") {
        return;
    }
    // A heading when the diagnosis does not choose between its subcodes.
    check(&[
        ("Type 2 diabetes", "E11"),
        ("Acute pancreatitis", "K85"),
        ("Deep vein thrombosis", "I82.40"),
        ("GERD", "K21"),
        ("Perthes disease", "M91.1"),
        // "Traumatic subarachnoid hemorrhage NOS"; the 7th character (the
        // encounter) is not guessed.
        ("Traumatic subarachnoid haemorrhage", "S06.6XA"),
    ]);
    for d in [
        "Type 2 diabetes",
        "DVT",
        "Fracture of neck of femur",
        "Traumatic subarachnoid haemorrhage",
    ] {
        let m = icd10::lookup(d).expect("a code");
        assert!(!m.billable, "{d:?} → {} should not be billable", m.code);
    }
    // No answer rather than a guess.
    check(&[
        ("banana fever", "-"),
        ("", "-"),
        ("   ", "-"),
        ("Inferior STEMI", "-"),
        ("COPD exacerbation", "-"),
        ("Massive pulmonary embolism", "-"),
        ("Septic shock", "-"),
        ("Urosepsis", "-"),
        ("Lupus", "-"),
        ("HIV", "-"),
        ("Diabetic ketoacidosis", "-"),
        ("Subdural haematoma", "-"),
        ("History of myocardial infarction", "-"),
        ("Suspected pulmonary embolism", "-"),
        ("Pulmonary embolism ruled out", "-"),
        ("Hyperkalaemia secondary to ACE inhibitor", "-"),
        (
            "Acute kidney injury (NSAID + ACE inhibitor + diuretic: “triple whammy”)",
            "-",
        ),
        // S37.63 (injury) or O71.81 (obstetric): the diagnosis does not say.
        ("Laceration of uterus", "-"),
    ]);
}

#[test]
fn partial_matches_score_below_one() {
    if !have_index("partial_matches_score_below_one") {
        return;
    }
    let m = icd10::lookup("Acute kidney injury, prerenal").expect("a code");
    assert_eq!((m.code.as_str(), m.score), ("N17.9", 0.75));
    assert_eq!(m.title, "Acute kidney failure, unspecified");
    let m = icd10::lookup("Bacterial meningitis").expect("a code");
    assert_eq!(m.score, 1.0);
    assert!(m.billable);
}

#[test]
fn every_billable_title_finds_its_own_code_or_none() {
    if !have_index("every_billable_title_finds_its_own_code_or_none") {
        return;
    }
    let path = std::env::var_os("LOCUM_ICD10_INDEX")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("icd10/icd10cm-2026.tsv")
        });
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipped: the index is compiled in but {} is gone",
            path.display()
        );
        return;
    };
    let (mut own, mut none, mut other) = (0, 0, Vec::new());
    for line in text.lines().skip(1) {
        let mut f = line.splitn(3, '\t');
        let (Some(code), Some("B"), Some(title)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        match icd10::lookup(title) {
            Some(m) if m.code == code => own += 1,
            None => none += 1,
            Some(m) => other.push(format!("{code} {title:?} → {}", m.code)),
        }
    }
    assert!(
        other.is_empty(),
        "titles coded as another code:\n{}",
        other.join("\n")
    );
    // The rest are titles whose words another title has in another order
    // ("… right eye category 3, … left eye category 4"): no answer.
    assert!(
        own > 20 * none,
        "{own} titles found their code, {none} found none"
    );
}

#[test]
fn search_matches_word_prefixes() {
    if !have_index("search_matches_word_prefixes") {
        return;
    }
    let found = icd10::search("pulm emb", 5);
    assert_eq!(found.len(), 5);
    assert_eq!(found[0].code, "I26.99");
    assert!(found.iter().all(|m| m.code.starts_with("I26")
        || m.code.starts_with("T80")
        || m.code.starts_with("O88")
        || m.title.to_lowercase().contains("pulm")));
    assert!(icd10::search("", 5).is_empty());
    assert!(icd10::search("xyzzy", 5).is_empty());
}

#[test]
fn codes_and_source() {
    if !have_index("codes_and_source") {
        return;
    }
    let m = icd10::find_code("i21.9").expect("I21.9 exists");
    assert_eq!(
        (m.code.as_str(), m.title.as_str()),
        ("I21.9", "Acute myocardial infarction, unspecified")
    );
    assert!(m.billable);
    assert!(!icd10::find_code("I21").expect("I21 exists").billable);
    assert_eq!(
        icd10::find_code("E271").map(|m| m.code),
        Some("E27.1".to_string())
    );
    assert!(icd10::find_code("Z99.999").is_none());
    // External causes (chapter 20) are left out of the index.
    assert!(icd10::find_code("W19").is_none());
    assert!(icd10::source().is_some_and(|s| s.contains("2026")));
}
