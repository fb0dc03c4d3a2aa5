//! The answer as a note a clinician can paste into a record or a message:
//! plain text or Markdown, always carrying the decision-support statement
//! and the model that wrote it.

use locum_worker::DiagnosisCard;

/// Everything a note says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerNote {
    /// The model's name.
    pub model: String,
    /// The day it was written, `YYYY-MM-DD`.
    pub date: String,
    /// The case in a line (its presenting complaint), if any.
    pub case_line: Option<String>,
    pub summary: Option<String>,
    pub cards: Vec<DiagnosisCard>,
    pub red_flags: Vec<String>,
    /// True when the answer was stopped before it was complete.
    pub incomplete: bool,
}

/// Plain text or Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteFormat {
    Text,
    Markdown,
}

impl AnswerNote {
    /// The note in `format`.
    pub fn render(&self, format: NoteFormat) -> String {
        let md = format == NoteFormat::Markdown;
        let mut out = String::new();
        let heading = |out: &mut String, text: &str| {
            if md {
                out.push_str(&format!("### {text}\n\n"));
            } else {
                out.push_str(&format!("{}\n", text.to_uppercase()));
            }
        };
        if md {
            out.push_str("## Differential diagnosis (Locum, decision support)\n\n");
        } else {
            out.push_str("DIFFERENTIAL DIAGNOSIS (Locum, decision support)\n");
        }
        out.push_str(&format!(
            "{}Decision support only, not a diagnosis: verify every item clinically. \
             Written on {} by {}, a small language model running on this device; it makes mistakes.{}\n\n",
            if md { "> " } else { "" },
            self.date,
            if self.model.is_empty() { "an unnamed model" } else { &self.model },
            if self.incomplete { " The answer was stopped before it was complete." } else { "" },
        ));
        if let Some(case) = self.case_line.as_deref().filter(|c| !c.is_empty()) {
            let label = if md { "**Case:**" } else { "Case:" };
            out.push_str(&format!("{label} {case}\n\n"));
        }
        if let Some(summary) = self.summary.as_deref().filter(|s| !s.is_empty()) {
            heading(&mut out, "Summary");
            out.push_str(summary);
            out.push_str("\n\n");
        }
        if !self.cards.is_empty() {
            heading(&mut out, "Differential, most likely first");
            for (i, card) in self.cards.iter().enumerate() {
                let code = match (&card.icd10_code, &card.icd10_title) {
                    (Some(c), Some(t)) if md => format!(" (ICD-10-CM `{c}` {t})"),
                    (Some(c), Some(t)) => format!(" (ICD-10-CM {c} {t})"),
                    _ => " (uncoded)".to_string(),
                };
                let badge = if card.cant_miss {
                    if md {
                        " **Can't miss.**"
                    } else {
                        " CAN'T MISS."
                    }
                } else {
                    ""
                };
                let name = if md {
                    format!("**{}**", card.diagnosis)
                } else {
                    card.diagnosis.clone()
                };
                out.push_str(&format!(
                    "{}. {name}{code}: {} likelihood.{badge}\n",
                    i + 1,
                    card.likelihood
                ));
                for (label, lines) in [
                    ("Supporting", &card.supporting),
                    ("Against", &card.against),
                    ("Next steps", &card.next_steps),
                ] {
                    if !lines.is_empty() {
                        let indent = if md { "   - " } else { "   " };
                        out.push_str(&format!("{indent}{label}: {}\n", lines.join("; ")));
                    }
                }
            }
            out.push('\n');
        }
        if !self.red_flags.is_empty() {
            heading(&mut out, "Red flags");
            for f in &self.red_flags {
                out.push_str(&format!("{} {f}\n", if md { "-" } else { "*" }));
            }
            out.push('\n');
        }
        out.trim_end().to_string() + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note() -> AnswerNote {
        AnswerNote {
            model: "SmolLM2 135M Instruct".into(),
            date: "2026-11-25".into(),
            case_line: Some("Central chest pain for 2 hours".into()),
            summary: Some("67-year-old man with chest pain and a rising troponin.".into()),
            cards: vec![
                DiagnosisCard {
                    diagnosis: "Acute myocardial infarction".into(),
                    likelihood: "high".into(),
                    supporting: vec!["troponin rising".into(), "ST depression".into()],
                    against: vec![],
                    cant_miss: true,
                    next_steps: vec!["repeat ECG".into()],
                    icd10_code: Some("I21.9".into()),
                    icd10_title: Some("Acute myocardial infarction, unspecified".into()),
                },
                DiagnosisCard {
                    diagnosis: "Costochondritis".into(),
                    likelihood: "low".into(),
                    supporting: vec![],
                    against: vec!["pain at rest".into()],
                    cant_miss: false,
                    next_steps: vec![],
                    icd10_code: None,
                    icd10_title: None,
                },
            ],
            red_flags: vec!["Pain at rest with sweating".into()],
            incomplete: false,
        }
    }

    #[test]
    fn plain_text_note() {
        let text = note().render(NoteFormat::Text);
        assert_eq!(
            text,
            "DIFFERENTIAL DIAGNOSIS (Locum, decision support)\n\
             Decision support only, not a diagnosis: verify every item clinically. Written on \
             2026-11-25 by SmolLM2 135M Instruct, a small language model running on this device; \
             it makes mistakes.\n\n\
             Case: Central chest pain for 2 hours\n\n\
             SUMMARY\n\
             67-year-old man with chest pain and a rising troponin.\n\n\
             DIFFERENTIAL, MOST LIKELY FIRST\n\
             1. Acute myocardial infarction (ICD-10-CM I21.9 Acute myocardial infarction, \
             unspecified): high likelihood. CAN'T MISS.\n   \
             Supporting: troponin rising; ST depression\n   \
             Next steps: repeat ECG\n\
             2. Costochondritis (uncoded): low likelihood.\n   \
             Against: pain at rest\n\n\
             RED FLAGS\n\
             * Pain at rest with sweating\n"
        );
    }

    #[test]
    fn markdown_note() {
        let md = note().render(NoteFormat::Markdown);
        assert!(md.starts_with(
            "## Differential diagnosis (Locum, decision support)\n\n> Decision support only"
        ));
        assert!(
            md.contains("**Case:** Central chest pain for 2 hours\n"),
            "{md}"
        );
        assert!(md.contains("1. **Acute myocardial infarction** (ICD-10-CM `I21.9` Acute myocardial infarction, unspecified): high likelihood. **Can't miss.**\n   - Supporting: troponin rising; ST depression\n"), "{md}");
        assert!(
            md.contains("### Red flags\n\n- Pain at rest with sweating\n"),
            "{md}"
        );
    }

    #[test]
    fn a_stopped_answer_says_so() {
        let mut n = note();
        n.incomplete = true;
        n.model.clear();
        let text = n.render(NoteFormat::Text);
        assert!(text.contains("by an unnamed model"));
        assert!(text.contains("stopped before it was complete"));
    }
}
