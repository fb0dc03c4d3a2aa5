//! What the tests share: the SmolLM2 chat template rendered with minijinja
//! (as `locum-engine` renders a GGUF's template), a deterministic stand-in
//! for a tokenizer, and golden-file comparison.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

use locum_clinical::{ChatMessage, ChatRenderer, Error, Result, TokenCounter};

/// SmolLM2-135M-Instruct's `tokenizer.chat_template` (ChatML).
pub const SMOLLM2_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A chat template rendered with minijinja.
pub struct Jinja {
    env: minijinja::Environment<'static>,
}

impl Jinja {
    pub fn new(template: &'static str) -> Jinja {
        let mut env = minijinja::Environment::new();
        env.add_template("chat", template)
            .expect("the template parses");
        Jinja { env }
    }

    pub fn smollm2() -> Jinja {
        Jinja::new(SMOLLM2_TEMPLATE)
    }
}

impl ChatRenderer for Jinja {
    fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let t = self
            .env
            .get_template("chat")
            .map_err(|e| Error::Render(e.to_string()))?;
        t.render(minijinja::context! { messages, add_generation_prompt })
            .map_err(|e| Error::Render(e.to_string()))
    }
}

/// One token per four characters, rounded up: deterministic and roughly
/// the rate of an English BPE vocabulary.
pub struct QuarterChars;

impl TokenCounter for QuarterChars {
    fn count(&self, text: &str) -> usize {
        text.chars().count().div_ceil(4)
    }
}

/// Compares `actual` with `tests/golden/<name>`; with `LOCUM_BLESS=1` in the
/// environment, rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("LOCUM_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Run with LOCUM_BLESS=1 to create it.",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output, first at line {}:\n  golden: {:?}\n  output: {:?}\n\
             If the change is intended, run with LOCUM_BLESS=1 and review the diff.",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}
