//! The differential, parsed as it streams in, so the UI can show each
//! diagnosis the moment its JSON closes.
//!
//! Tokens arrive as text pieces cut anywhere: inside a string, inside an
//! escape (`\` in one piece, `u00e9` in the next), between the digits of a
//! number. [`DifferentialStream`] is a pushdown tokenizer over characters: it
//! sees each character once, tracks nesting, strings and escapes, checks the
//! JSON grammar as it goes, and keeps text only for the value it is inside
//! (the summary, the current diagnosis, the red flags). When one of those
//! closes, that slice alone is handed to `serde_json`, so the work is linear
//! in the length of the stream.
//!
//! It is not a general JSON parser: the top level must be the differential
//! object of [`crate::schema`], and its fields are checked by name as they
//! appear. Limits on nesting and on the length of one value keep a runaway
//! stream (a model without a grammar) from growing memory without bound.

use serde::{Deserialize, Serialize};

use crate::schema::{Differential, Item};
use crate::{Error, Result};

/// Deepest nesting accepted (the schema needs 3).
const MAX_DEPTH: usize = 16;
/// Most characters kept for one value (one diagnosis, the summary, the red
/// flags); the schema's bounds allow about 4,000.
const MAX_VALUE_CHARS: usize = 64 * 1024;

/// Something complete enough to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StreamEvent {
    /// The summary string has closed.
    Summary(String),
    /// Diagnosis `index` (0-based) has closed.
    Item(usize, Item),
    /// The red-flags array has closed.
    RedFlags(Vec<String>),
}

/// An incremental parser for a streamed [`Differential`].
///
/// ```
/// use locum_clinical::{DifferentialStream, StreamEvent};
/// let mut s = DifferentialStream::new();
/// assert!(s.push(r#"{"summary": "Chest pa"#).unwrap().is_empty());
/// let events = s.push(r#"in.", "differential": ["#).unwrap();
/// assert_eq!(events, vec![StreamEvent::Summary("Chest pain.".into())]);
/// ```
#[derive(Debug, Default)]
pub struct DifferentialStream {
    lex: Lex,
    stack: Vec<Container>,
    /// Characters consumed so far.
    at: usize,
    /// The top-level field whose value comes next or is being read.
    field: Option<Field>,
    seen: Vec<Field>,
    /// The raw text (quotes included) of a top-level field name being read.
    key: Option<String>,
    capture: Option<Capture>,
    summary: Option<String>,
    items: Vec<Item>,
    red_flags: Option<Vec<String>>,
    failed: Option<Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Summary,
    Differential,
    RedFlags,
}

#[derive(Debug)]
struct Capture {
    target: Target,
    /// The nesting depth the value lives at (the stack's length when it began).
    depth: usize,
    text: String,
    chars: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Summary,
    Item(usize),
    RedFlags,
}

/// Where the tokenizer is in the JSON grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Lex {
    /// Before the top-level object.
    #[default]
    Start,
    /// A value must come (after ':' or after ',' in an array).
    Value,
    /// After '[': a value or ']'.
    ValueOrClose,
    /// After '{': a field name or '}'.
    KeyOrClose,
    /// After ',' in an object: a field name.
    Key,
    /// After a field name.
    Colon,
    /// After a value: ',' or the container's closer.
    AfterValue,
    /// Inside a string; `key` for field names.
    Str {
        key: bool,
        escape: Escape,
    },
    Num(Num),
    /// Inside `true`, `false` or `null`, `at` characters in.
    Literal {
        word: &'static str,
        at: usize,
    },
    /// The top-level object has closed.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// Just after a backslash.
    Backslash,
    /// Inside `\uXXXX`, this many hex digits to go.
    Hex(u8),
}

/// The JSON number grammar, one state per position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl Num {
    fn next(self, c: char) -> Option<Num> {
        use Num::*;
        match (self, c) {
            (Minus, '0') => Some(Zero),
            (Minus, '1'..='9') => Some(Int),
            (Int, '0'..='9') => Some(Int),
            (Zero | Int, '.') => Some(Dot),
            (Dot | Frac, '0'..='9') => Some(Frac),
            (Zero | Int | Frac, 'e' | 'E') => Some(Exp),
            (Exp, '+' | '-') => Some(ExpSign),
            (Exp | ExpSign | ExpDigits, '0'..='9') => Some(ExpDigits),
            _ => None,
        }
    }

    fn complete(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
    }
}

impl DifferentialStream {
    /// A parser waiting for the first character.
    pub fn new() -> DifferentialStream {
        DifferentialStream::default()
    }

    /// Consumes the next piece of text; returns what it completed.
    ///
    /// After an error the stream is spent: every later call returns the
    /// same error.
    pub fn push(&mut self, piece: &str) -> Result<Vec<StreamEvent>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut events = Vec::new();
        for c in piece.chars() {
            if let Err(e) = self.step(c, &mut events) {
                self.failed = Some(e.clone());
                return Err(e);
            }
            self.at += 1;
        }
        Ok(events)
    }

    /// Diagnoses completed so far.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Ends the stream: the complete differential, checked against the
    /// schema's bounds, or why there is none.
    pub fn finish(self) -> Result<Differential> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.lex != Lex::End {
            let inside = match self.capture.as_ref().map(|c| c.target) {
                Some(Target::Summary) => " (inside the summary)".to_string(),
                Some(Target::Item(i)) => format!(" (inside diagnosis {})", i + 1),
                Some(Target::RedFlags) => " (inside the red flags)".to_string(),
                None => String::new(),
            };
            return Err(Error::IncompleteStream(if self.lex == Lex::Start {
                "no JSON was received".to_string()
            } else {
                format!("the JSON stopped after {} characters{inside}", self.at)
            }));
        }
        let mut missing = Vec::new();
        for (field, name) in [
            (Field::Summary, "summary"),
            (Field::Differential, "differential"),
            (Field::RedFlags, "red_flags"),
        ] {
            if !self.seen.contains(&field) {
                missing.push(format!("the field \"{name}\" is missing"));
            }
        }
        if !missing.is_empty() {
            return Err(Error::InvalidDifferential(missing));
        }
        let d = Differential {
            summary: self.summary.unwrap_or_default(),
            differential: self.items,
            red_flags: self.red_flags.unwrap_or_default(),
        };
        d.validate()?;
        Ok(d)
    }

    fn malformed(&self, reason: impl Into<String>) -> Error {
        Error::MalformedStream {
            at: self.at + 1,
            reason: reason.into(),
        }
    }

    fn step(&mut self, c: char, events: &mut Vec<StreamEvent>) -> Result<()> {
        // A number has no closing character: the first one that cannot
        // continue it ends it, and is then read on its own.
        if let Lex::Num(n) = self.lex {
            if let Some(next) = n.next(c) {
                self.lex = Lex::Num(next);
                return self.keep(c);
            }
            if !n.complete() {
                return Err(self.malformed(format!("a number is cut short by {}", show(c))));
            }
            self.value_end(events)?;
        }
        // Inside a kept value, every character belongs to it (the one that
        // opens it is kept by `begin_value`).
        self.keep(c)?;
        match self.lex {
            Lex::Start
            | Lex::Value
            | Lex::ValueOrClose
            | Lex::AfterValue
            | Lex::End
            | Lex::KeyOrClose
            | Lex::Key
            | Lex::Colon
                if is_space(c) => {}
            Lex::Start | Lex::Value => self.begin_value(c)?,
            Lex::ValueOrClose if c == ']' => self.close(c, events)?,
            Lex::ValueOrClose => self.begin_value(c)?,
            Lex::KeyOrClose if c == '}' => self.close(c, events)?,
            Lex::KeyOrClose | Lex::Key if c == '"' => self.begin_key(),
            Lex::KeyOrClose => {
                return Err(self.malformed(format!(
                    "expected a field name in double quotes or '}}', found {}",
                    show(c)
                )))
            }
            Lex::Key if c == '}' => {
                return Err(
                    self.malformed("a ',' is followed by '}' (trailing commas are not JSON)")
                )
            }
            Lex::Key => {
                return Err(self.malformed(format!(
                    "expected a field name in double quotes, found {}",
                    show(c)
                )))
            }
            Lex::Colon if c == ':' => self.lex = Lex::Value,
            Lex::Colon => {
                return Err(self.malformed(format!(
                    "expected ':' after a field name, found {}",
                    show(c)
                )))
            }
            Lex::AfterValue => match (c, self.stack.last()) {
                (',', Some(Container::Object)) => self.lex = Lex::Key,
                (',', Some(Container::Array)) => self.lex = Lex::Value,
                ('}' | ']', _) => self.close(c, events)?,
                (_, Some(Container::Object)) => {
                    return Err(self.malformed(format!(
                        "expected ',' or '}}' after a value, found {}",
                        show(c)
                    )))
                }
                _ => {
                    return Err(self.malformed(format!(
                        "expected ',' or ']' after a value, found {}",
                        show(c)
                    )))
                }
            },
            Lex::Str { key, escape } => self.string(c, key, escape, events)?,
            Lex::Num(_) => unreachable!("numbers are handled above"),
            Lex::Literal { word, at } => {
                if word[at..].starts_with(c) {
                    if at + 1 == word.len() {
                        self.value_end(events)?;
                    } else {
                        self.lex = Lex::Literal { word, at: at + 1 };
                    }
                } else {
                    return Err(self.malformed(format!("expected '{word}', found {}", show(c))));
                }
            }
            Lex::End => {
                return Err(self.malformed(format!(
                    "there is text after the differential's closing '}}': {}",
                    show(c)
                )))
            }
        }
        Ok(())
    }

    /// Appends `c` to the value being kept, if any.
    fn keep(&mut self, c: char) -> Result<()> {
        if let Some(key) = &mut self.key {
            key.push(c);
            // Field names are short; a long one is not one of ours.
            if key.len() > 64 {
                return Err(self.malformed(
                    "a field name is too long to be one of summary, differential, red_flags",
                ));
            }
        }
        let Some(cap) = &mut self.capture else {
            return Ok(());
        };
        cap.text.push(c);
        cap.chars += 1;
        if cap.chars > MAX_VALUE_CHARS {
            let what = describe(cap.target);
            return Err(self.malformed(format!(
                "{what} is longer than {MAX_VALUE_CHARS} characters"
            )));
        }
        Ok(())
    }

    fn string(
        &mut self,
        c: char,
        key: bool,
        escape: Escape,
        events: &mut Vec<StreamEvent>,
    ) -> Result<()> {
        let next = match (escape, c) {
            (Escape::None, '"') => {
                return if key {
                    self.end_key()
                } else {
                    self.value_end(events)
                };
            }
            (Escape::None, '\\') => Escape::Backslash,
            (Escape::None, c) if (c as u32) < 0x20 => {
                return Err(self.malformed(format!(
                    "a string contains an unescaped control character (U+{:04X})",
                    c as u32
                )))
            }
            (Escape::None, _) => Escape::None,
            (Escape::Backslash, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => Escape::None,
            (Escape::Backslash, 'u') => Escape::Hex(4),
            (Escape::Backslash, c) => {
                return Err(self.malformed(format!("'\\{c}' is not a JSON escape")))
            }
            (Escape::Hex(n), c) if c.is_ascii_hexdigit() => {
                if n == 1 {
                    Escape::None
                } else {
                    Escape::Hex(n - 1)
                }
            }
            (Escape::Hex(_), c) => {
                return Err(self.malformed(format!(
                    "expected four hex digits after '\\u', found {}",
                    show(c)
                )))
            }
        };
        self.lex = Lex::Str { key, escape: next };
        Ok(())
    }

    fn begin_key(&mut self) {
        if self.stack.len() == 1 {
            self.key = Some("\"".to_string());
        }
        self.lex = Lex::Str {
            key: true,
            escape: Escape::None,
        };
    }

    fn end_key(&mut self) -> Result<()> {
        self.lex = Lex::Colon;
        let Some(raw) = self.key.take() else {
            return Ok(());
        };
        let name: String = serde_json::from_str(&raw)
            .map_err(|e| self.malformed(format!("a field name is not a valid string ({e})")))?;
        let field = match name.as_str() {
            "summary" => Field::Summary,
            "differential" => Field::Differential,
            "red_flags" => Field::RedFlags,
            other => {
                return Err(self.malformed(format!(
                    "unexpected field \"{other}\" (the differential has summary, differential and red_flags)"
                )))
            }
        };
        if self.seen.contains(&field) {
            return Err(self.malformed(format!("the field \"{name}\" appears twice")));
        }
        self.seen.push(field);
        self.field = Some(field);
        Ok(())
    }

    fn begin_value(&mut self, c: char) -> Result<()> {
        let lex = match c {
            '{' => Lex::KeyOrClose,
            '[' => Lex::ValueOrClose,
            '"' => Lex::Str {
                key: false,
                escape: Escape::None,
            },
            '-' => Lex::Num(Num::Minus),
            '0' => Lex::Num(Num::Zero),
            '1'..='9' => Lex::Num(Num::Int),
            't' => Lex::Literal {
                word: "true",
                at: 1,
            },
            'f' => Lex::Literal {
                word: "false",
                at: 1,
            },
            'n' => Lex::Literal {
                word: "null",
                at: 1,
            },
            _ => return Err(self.malformed(format!("expected a value, found {}", show(c)))),
        };
        let depth = self.stack.len();
        let target = match (depth, self.field) {
            (0, _) if c != '{' => {
                return Err(self.malformed(format!(
                    "the differential must be a JSON object starting with '{{', not {}",
                    show(c)
                )))
            }
            (1, Some(Field::Differential)) if c != '[' => {
                return Err(self.malformed("\"differential\" must be an array of diagnoses"))
            }
            (1, Some(Field::Summary)) => Some(Target::Summary),
            (1, Some(Field::RedFlags)) => Some(Target::RedFlags),
            (2, Some(Field::Differential)) => Some(Target::Item(self.items.len())),
            _ => None,
        };
        if let Some(target) = target {
            self.capture = Some(Capture {
                target,
                depth,
                text: c.to_string(),
                chars: 1,
            });
        }
        match lex {
            Lex::KeyOrClose | Lex::ValueOrClose => {
                if depth == MAX_DEPTH {
                    return Err(
                        self.malformed(format!("the JSON nests deeper than {MAX_DEPTH} levels"))
                    );
                }
                self.stack.push(if c == '{' {
                    Container::Object
                } else {
                    Container::Array
                });
            }
            _ => {}
        }
        self.lex = lex;
        Ok(())
    }

    fn close(&mut self, c: char, events: &mut Vec<StreamEvent>) -> Result<()> {
        let expected = match self.stack.pop() {
            Some(Container::Object) => '}',
            Some(Container::Array) => ']',
            None => return Err(self.malformed(format!("{} closes nothing", show(c)))),
        };
        if c != expected {
            return Err(self.malformed(format!(
                "{} closes a container that {} should close",
                show(c),
                show(expected)
            )));
        }
        self.value_end(events)
    }

    /// A value has ended at the current depth: hand over the kept text if
    /// this was a kept value, and expect what follows a value.
    fn value_end(&mut self, events: &mut Vec<StreamEvent>) -> Result<()> {
        let depth = self.stack.len();
        if self.capture.as_ref().is_some_and(|c| c.depth == depth) {
            if let Some(cap) = self.capture.take() {
                events.push(self.complete(cap)?);
            }
        }
        if depth == 1 {
            self.field = None;
        }
        self.lex = if depth == 0 {
            Lex::End
        } else {
            Lex::AfterValue
        };
        Ok(())
    }

    fn complete(&mut self, cap: Capture) -> Result<StreamEvent> {
        let shape = |e: serde_json::Error| {
            Error::InvalidDifferential(vec![format!("{} is not valid: {e}", describe(cap.target))])
        };
        Ok(match cap.target {
            Target::Summary => {
                let s: String = serde_json::from_str(&cap.text).map_err(shape)?;
                self.summary = Some(s.clone());
                StreamEvent::Summary(s)
            }
            Target::Item(i) => {
                let item: Item = serde_json::from_str(&cap.text).map_err(shape)?;
                self.items.push(item.clone());
                StreamEvent::Item(i, item)
            }
            Target::RedFlags => {
                let flags: Vec<String> = serde_json::from_str(&cap.text).map_err(shape)?;
                self.red_flags = Some(flags.clone());
                StreamEvent::RedFlags(flags)
            }
        })
    }
}

fn describe(target: Target) -> String {
    match target {
        Target::Summary => "the summary".to_string(),
        Target::Item(i) => format!("diagnosis {}", i + 1),
        Target::RedFlags => "the red flags".to_string(),
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// A character as the error message shows it.
fn show(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}
