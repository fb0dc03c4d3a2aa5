//! Which observation values are physically plausible, as a small table.
//!
//! This is a guard against entry errors (a heart rate of 900, an SpO2 of
//! 101 %, a temperature typed in Fahrenheit with a Celsius unit), not a
//! reference range: the bounds are the extremes a living patient can show,
//! so an abnormal value is never flagged, only an impossible one. Values
//! that fail are flagged in the prompt, never silently used or dropped.
//!
//! Names are matched by common names and abbreviations (no LOINC codes),
//! after [`normalize_name`]: case, punctuation, bracketed qualifiers and a
//! trailing specimen or method ("in Serum or Plasma", "by Pulse oximetry")
//! are ignored. Units are matched after [`normalize_unit`]. A quantity
//! not in the table is never flagged except by the caller's own checks.

/// One measurable quantity and its plausible bounds per unit.
#[derive(Debug)]
pub struct Quantity {
    /// The name prompts use when ordering results, e.g. "Heart rate".
    pub name: &'static str,
    /// Normalized names that mean this quantity (see [`normalize_name`]).
    aliases: &'static [&'static str],
    /// Plausible bounds, inclusive, in each unit it is charted in.
    ranges: &'static [UnitRange],
}

#[derive(Debug)]
struct UnitRange {
    /// Normalized unit spellings (see [`normalize_unit`]).
    units: &'static [&'static str],
    low: f64,
    high: f64,
}

const fn r(units: &'static [&'static str], low: f64, high: f64) -> UnitRange {
    UnitRange { units, low, high }
}

const PER_MIN: &[&str] = &["/min", "1/min", "min-1", "/minute", "perminute"];
const MMHG: &[&str] = &["mmhg", "mm_hg"];
const MMOL: &[&str] = &["mmol/l", "meq/l"];
/// Counts per litre ×10⁹, also written as per nanolitre, thousands per µL,
/// and (in French-speaking labs) G/L.
const GIGA_PER_L: &[&str] = &[
    "10^9/l", "10^3/ul", "k/ul", "/nl", "g/l", "thou/ul", "10^3/mm3",
];
const PER_UL: &[&str] = &["/ul", "/mm3", "cells/ul"];

/// The table, in the order prompts list results: vital signs, then
/// chemistry, haematology and cardiac markers.
pub static QUANTITIES: &[Quantity] = &[
    Quantity {
        name: "Heart rate",
        aliases: &[
            "heart rate",
            "pulse",
            "pulse rate",
            "hr",
            "heart rate resting",
        ],
        ranges: &[r(
            &["/min", "bpm", "beats/min", "1/min", "min-1", "/minute"],
            15.0,
            300.0,
        )],
    },
    Quantity {
        name: "Respiratory rate",
        aliases: &[
            "respiratory rate",
            "resp rate",
            "rr",
            "breathing rate",
            "respirations",
        ],
        ranges: &[r(PER_MIN, 2.0, 80.0), r(&["breaths/min", "bpm"], 2.0, 80.0)],
    },
    Quantity {
        name: "Systolic blood pressure",
        aliases: &[
            "systolic blood pressure",
            "systolic bp",
            "sbp",
            "systolic",
            "bp systolic",
            "blood pressure systolic",
        ],
        ranges: &[r(MMHG, 30.0, 300.0)],
    },
    Quantity {
        name: "Diastolic blood pressure",
        aliases: &[
            "diastolic blood pressure",
            "diastolic bp",
            "dbp",
            "diastolic",
            "bp diastolic",
            "blood pressure diastolic",
        ],
        ranges: &[r(MMHG, 10.0, 200.0)],
    },
    Quantity {
        name: "Temperature",
        aliases: &[
            "temperature",
            "temp",
            "body temperature",
            "t",
            "core temperature",
            "tympanic temperature",
            "oral temperature",
        ],
        ranges: &[
            r(&["°c", "c", "cel", "degc", "celsius", "ºc"], 25.0, 45.0),
            r(&["°f", "f", "degf", "fahrenheit", "ºf"], 77.0, 113.0),
        ],
    },
    Quantity {
        name: "SpO2",
        aliases: &[
            "spo2",
            "sao2",
            "o2 sat",
            "o2 saturation",
            "oxygen saturation",
            "sats",
            "saturation",
            "pulse oximetry",
        ],
        ranges: &[r(&["%"], 20.0, 100.0)],
    },
    Quantity {
        name: "Weight",
        aliases: &["weight", "body weight", "wt"],
        ranges: &[
            r(&["kg"], 0.2, 450.0),
            r(&["g"], 200.0, 450_000.0),
            r(&["lb", "lbs", "lb_av"], 0.5, 1000.0),
        ],
    },
    Quantity {
        name: "Height",
        aliases: &["height", "body height", "ht", "length", "body length"],
        ranges: &[
            r(&["cm"], 15.0, 275.0),
            r(&["m"], 0.15, 2.75),
            r(&["mm"], 150.0, 2750.0),
            r(&["in", "in_i", "inches"], 6.0, 108.0),
        ],
    },
    Quantity {
        name: "Sodium",
        aliases: &["sodium", "na", "na+", "serum sodium"],
        ranges: &[r(MMOL, 90.0, 200.0)],
    },
    Quantity {
        name: "Potassium",
        aliases: &["potassium", "k", "k+", "serum potassium"],
        ranges: &[r(MMOL, 1.0, 12.0)],
    },
    Quantity {
        name: "Creatinine",
        aliases: &["creatinine", "creat", "cr", "serum creatinine"],
        ranges: &[
            r(&["umol/l"], 5.0, 3000.0),
            r(&["mg/dl"], 0.05, 35.0),
            r(&["mmol/l"], 0.005, 3.0),
        ],
    },
    Quantity {
        name: "Urea",
        aliases: &[
            "urea",
            "serum urea",
            "bun",
            "blood urea nitrogen",
            "urea nitrogen",
        ],
        // mmol/L, or mg/dL for urea or for BUN (the wider of the two).
        ranges: &[r(&["mmol/l"], 0.3, 150.0), r(&["mg/dl"], 1.0, 900.0)],
    },
    Quantity {
        name: "Glucose",
        aliases: &[
            "glucose",
            "blood glucose",
            "plasma glucose",
            "capillary glucose",
            "cbg",
            "bm",
            "random glucose",
            "fasting glucose",
        ],
        ranges: &[r(&["mmol/l"], 0.5, 120.0), r(&["mg/dl"], 9.0, 2200.0)],
    },
    Quantity {
        name: "Haemoglobin",
        aliases: &["haemoglobin", "hemoglobin", "hb", "hgb"],
        ranges: &[
            r(&["g/l"], 15.0, 260.0),
            r(&["g/dl"], 1.5, 26.0),
            r(&["mmol/l"], 1.0, 16.0),
        ],
    },
    Quantity {
        name: "White cell count",
        aliases: &[
            "wbc",
            "white cell count",
            "white blood cell count",
            "white blood cells",
            "wcc",
            "leukocytes",
            "leucocytes",
            "leukocyte count",
            "total white cell count",
        ],
        ranges: &[r(GIGA_PER_L, 0.0, 1000.0), r(PER_UL, 0.0, 1_000_000.0)],
    },
    Quantity {
        name: "Platelets",
        aliases: &["platelets", "platelet count", "plt", "plts"],
        ranges: &[r(GIGA_PER_L, 0.0, 5000.0), r(PER_UL, 0.0, 5_000_000.0)],
    },
    Quantity {
        name: "CRP",
        aliases: &["crp", "c reactive protein"],
        ranges: &[r(&["mg/l"], 0.0, 1000.0), r(&["mg/dl"], 0.0, 100.0)],
    },
    Quantity {
        name: "Troponin",
        aliases: &[
            "troponin",
            "troponin i",
            "troponin t",
            "troponin i cardiac",
            "troponin t cardiac",
            "hs troponin",
            "hs troponin i",
            "hs troponin t",
            "high sensitivity troponin",
            "high sensitivity troponin i",
            "high sensitivity troponin t",
            "hstni",
            "hstnt",
            "hs tni",
            "hs tnt",
            "tni",
            "tnt",
            "ctni",
            "ctnt",
        ],
        ranges: &[
            r(&["ng/l", "pg/ml"], 0.0, 1_000_000.0),
            r(&["ng/ml", "ug/l"], 0.0, 1000.0),
        ],
    },
    Quantity {
        name: "Lactate",
        aliases: &[
            "lactate",
            "lactic acid",
            "serum lactate",
            "venous lactate",
            "arterial lactate",
        ],
        ranges: &[r(&["mmol/l"], 0.0, 40.0), r(&["mg/dl"], 0.0, 360.0)],
    },
];

/// What the table says about one value.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The name is not in the table: nothing can be said.
    Unknown,
    /// Within bounds for its unit (or, with no or an unknown unit, within
    /// the bounds of at least one unit the quantity is charted in).
    Plausible,
    /// Outside every bound that applies; `expected` says what would be
    /// plausible, e.g. "15–300 /min".
    Implausible {
        /// The plausible bounds in words, for the warning.
        expected: String,
    },
}

/// The table entry for `name`, with its position (for ordering).
pub fn lookup(name: &str) -> Option<(usize, &'static Quantity)> {
    let key = normalize_name(name);
    QUANTITIES
        .iter()
        .enumerate()
        .find(|(_, q)| q.aliases.contains(&key.as_str()))
}

/// Checks `value` charted as `name` in `unit`.
///
/// A negative value of any tabled quantity is implausible. With a known
/// unit, that unit's bounds apply. With no unit or one the table does not
/// know, the value is flagged only if no unit would make it plausible: a
/// temperature of 98.6 with no unit passes (it is plausible in °F), 250
/// does not.
pub fn check(name: &str, unit: Option<&str>, value: f64) -> Verdict {
    let Some((_, q)) = lookup(name) else {
        return Verdict::Unknown;
    };
    if !value.is_finite() {
        return Verdict::Implausible {
            expected: "a finite number".to_string(),
        };
    }
    let unit_key = unit.map(normalize_unit).unwrap_or_default();
    let matching = q
        .ranges
        .iter()
        .find(|r| r.units.contains(&unit_key.as_str()));
    let ok = |r: &UnitRange| value >= r.low && value <= r.high;
    let plausible = match matching {
        Some(range) => ok(range),
        None => value >= 0.0 && q.ranges.iter().any(ok),
    };
    if plausible {
        return Verdict::Plausible;
    }
    let describe = |r: &UnitRange| {
        let unit = match (matching, unit) {
            (Some(_), Some(u)) => u.trim().to_string(),
            _ => r.units[0].to_string(),
        };
        format!("{}–{} {unit}", r.low, r.high)
    };
    let expected = match matching {
        Some(range) => describe(range),
        None => q
            .ranges
            .iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join(" or "),
    };
    Verdict::Implausible { expected }
}

/// Lower-case, bracketed or parenthesised qualifiers removed ("Troponin I
/// (high sensitivity)", "Sodium [Moles/volume]"), punctuation to spaces,
/// and a trailing method ("by Pulse oximetry") or blood specimen ("in
/// Serum or Plasma") cut off. Names that differ only in these ways are the
/// same test.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            // '+' survives so that "Na+" and "K+" stay distinct from words.
            c if c.is_alphanumeric() || c == '+' => out.extend(c.to_lowercase()),
            _ => out.push(' '),
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    const SPECIMENS: &[&str] = &[
        "serum",
        "plasma",
        "blood",
        "arterial",
        "venous",
        "capillary",
    ];
    let cut = words
        .iter()
        .enumerate()
        .skip(1)
        .find(|&(i, w)| {
            *w == "by" || (*w == "in" && words.get(i + 1).is_some_and(|n| SPECIMENS.contains(n)))
        })
        .map_or(words.len(), |(i, _)| i);
    words[..cut].join(" ")
}

/// Lower-case, no spaces, UCUM annotations (`{beats}`) and brackets removed,
/// micro signs as `u`, `*` as `^`, and a leading `x` before a power of ten
/// dropped: "x10*9/L" and "10^9/l" compare equal.
pub fn normalize_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut in_braces = false;
    for c in unit.chars() {
        match c {
            '{' => in_braces = true,
            '}' => in_braces = false,
            _ if in_braces => {}
            '[' | ']' => {}
            c if c.is_whitespace() => {}
            'µ' | 'μ' => out.push('u'),
            '*' => out.push('^'),
            '×' => out.push('x'),
            c => out.extend(c.to_lowercase()),
        }
    }
    match out.strip_prefix('x') {
        Some(rest) if rest.starts_with("10^") => rest.to_string(),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flagged(name: &str, unit: Option<&str>, v: f64) -> bool {
        matches!(check(name, unit, v), Verdict::Implausible { .. })
    }

    #[test]
    fn flags_the_impossible_not_the_abnormal() {
        assert!(flagged("Heart rate", Some("/min"), 900.0));
        assert!(!flagged("Pulse", Some("bpm"), 180.0));
        assert!(flagged("SpO2", Some("%"), 101.0));
        assert!(!flagged(
            "Oxygen saturation in Arterial blood by Pulse oximetry",
            Some("%"),
            84.0
        ));
        assert!(flagged("Temperature", Some("°C"), 98.6));
        assert!(!flagged("Temperature", Some("[degF]"), 98.6));
        assert!(!flagged("Temp", None, 98.6), "plausible in °F");
        assert!(flagged("Temp", None, 250.0));
        assert!(flagged("Temperature", Some("°C"), 24.9));
        assert!(!flagged("Potassium", Some("mmol/L"), 7.9));
        assert!(flagged("K+", Some("mmol/L"), 45.0));
        assert!(!flagged(
            "Creatinine [Mass/volume] in Serum or Plasma",
            Some("mg/dL"),
            6.1
        ));
        assert!(
            flagged("Creatinine", Some("mg/dL"), 610.0),
            "µmol/L value under mg/dL"
        );
        assert!(!flagged("WBC", Some("x10*9/L"), 21.4));
        assert!(!flagged(
            "Leukocytes [#/volume] in Blood by Automated count",
            Some("10*3/uL"),
            0.3
        ));
        assert!(flagged("Platelets", Some("10^9/L"), -4.0));
        assert!(flagged("Weight", Some("kg"), 0.0));
        assert!(flagged(
            "Troponin T (high sensitivity)",
            Some("ng/L"),
            f64::NAN
        ));
        assert_eq!(check("Ferritin", Some("ug/L"), -1.0), Verdict::Unknown);
    }

    #[test]
    fn unknown_unit_falls_back_to_any_unit() {
        assert!(!flagged("Sodium", Some("mEq/L"), 131.0));
        assert!(!flagged("Sodium", Some("mmol/litre"), 131.0));
        assert!(flagged("Sodium", Some("mmol/litre"), 1310.0));
        assert!(flagged("Sodium", Some("mmol/litre"), -1.0));
    }

    #[test]
    fn names_and_units_normalize() {
        assert_eq!(
            normalize_name("Troponin I (high sensitivity)"),
            "troponin i"
        );
        assert_eq!(
            normalize_name("Sodium [Moles/volume] in Serum or Plasma"),
            "sodium"
        );
        assert_eq!(normalize_name("Creatinine in urine"), "creatinine in urine");
        assert_eq!(
            normalize_name("  C-Reactive   Protein "),
            "c reactive protein"
        );
        assert_eq!(normalize_unit("x10*9/L"), "10^9/l");
        assert_eq!(normalize_unit("µmol/L"), "umol/l");
        assert_eq!(normalize_unit("{beats}/min"), "/min");
        assert_eq!(normalize_unit("mm[Hg]"), "mmhg");
    }

    #[test]
    fn every_alias_is_normalized_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for q in QUANTITIES {
            for a in q.aliases {
                assert_eq!(&normalize_name(a), a, "{} alias {a:?}", q.name);
                assert!(seen.insert(*a), "alias {a:?} appears twice");
            }
            for range in q.ranges {
                assert!(range.low <= range.high, "{}", q.name);
                for u in range.units {
                    assert_eq!(&normalize_unit(u), u, "{} unit {u:?}", q.name);
                }
            }
        }
    }
}
