//! Chat prompts rendered from the model's own template
//! (`tokenizer.chat_template`) with minijinja: no hard-coded prompt format.

use crate::format::gguf::Gguf;
use crate::format::manifest::ChatTemplateMeta;
use crate::{Error, Result};

/// One turn of a conversation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A model's chat template with the special tokens it may refer to.
pub struct ChatTemplate {
    source: String,
    bos: String,
    eos: String,
}

impl ChatTemplate {
    /// The template as a manifest stores it.
    pub fn from_meta(m: &ChatTemplateMeta) -> ChatTemplate {
        ChatTemplate {
            source: m.source.clone(),
            bos: m.bos_token.clone(),
            eos: m.eos_token.clone(),
        }
    }

    /// The template and its special tokens, for a manifest.
    pub fn meta(&self) -> ChatTemplateMeta {
        ChatTemplateMeta {
            source: self.source.clone(),
            bos_token: self.bos.clone(),
            eos_token: self.eos.clone(),
        }
    }

    pub fn from_gguf(g: &Gguf) -> Result<ChatTemplate> {
        let source = g
            .get_str("tokenizer.chat_template")
            .map_err(|_| Error::NoChatTemplate)?
            .to_string();
        let tokens = g.get_str_array("tokenizer.ggml.tokens").unwrap_or_default();
        let tok = |key: &str| {
            g.get_u64(key)
                .ok()
                .and_then(|i| tokens.get(i as usize))
                .map(|s| s.to_string())
                .unwrap_or_default()
        };
        Ok(ChatTemplate {
            source,
            bos: tok("tokenizer.ggml.bos_token_id"),
            eos: tok("tokenizer.ggml.eos_token_id"),
        })
    }

    /// Renders `messages`, ending with the assistant's turn opened when
    /// `add_generation_prompt` is set.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let mut env = minijinja::Environment::new();
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template("chat", &self.source)
            .map_err(|e| Error::Template(e.to_string()))?;
        let tmpl = env
            .get_template("chat")
            .map_err(|e| Error::Template(e.to_string()))?;
        tmpl.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos,
            eos_token => self.eos,
        })
        .map_err(|e| Error::Template(e.to_string()))
    }
}
