//! Chat prompts rendered from the model's own template
//! (`tokenizer.chat_template`) with minijinja. A model family whose GGUFs
//! come without a template (Gemma's base models) gets a built-in one, chosen
//! by `general.architecture`; any other model without one has no chat.

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

/// Gemma's turn format: `<start_of_turn>{role}\n{content}<end_of_turn>\n`,
/// the assistant's role called `model`, after a BOS. Gemma has no system
/// role: a system message opens the first turn, a blank line before the
/// rest (a system message alone is a user turn). Contents are trimmed, as
/// Google's template and llama.cpp's built-in Gemma format do.
const GEMMA_TEMPLATE: &str = r#"
{{- bos_token -}}
{%- if messages | length > 1 and messages[0].role == 'system' -%}
  {%- set preamble = messages[0].content | trim ~ '\n\n' -%}
  {%- set turns = messages[1:] -%}
{%- else -%}
  {%- set preamble = '' -%}
  {%- set turns = messages -%}
{%- endif -%}
{%- for message in turns -%}
  {%- if message.role == 'assistant' -%}{%- set role = 'model' -%}
  {%- elif message.role == 'system' -%}{%- set role = 'user' -%}
  {%- else -%}{%- set role = message.role -%}{%- endif -%}
  {{- '<start_of_turn>' ~ role ~ '\n' -}}
  {{- preamble if loop.first else '' -}}
  {{- message.content | trim ~ '<end_of_turn>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {{- '<start_of_turn>model\n' -}}
{%- endif -%}
"#;

/// The chat template for a model family whose GGUFs may carry none, by
/// `general.architecture`.
pub fn builtin_template(architecture: &str) -> Option<&'static str> {
    match architecture {
        "gemma" | "gemma2" | "gemma3" => Some(GEMMA_TEMPLATE),
        _ => None,
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

    /// The GGUF's `tokenizer.chat_template`, or the built-in template of its
    /// architecture (see [`builtin_template`]).
    pub fn from_gguf(g: &Gguf) -> Result<ChatTemplate> {
        let source = match g.get_str("tokenizer.chat_template") {
            Ok(s) => s.to_string(),
            Err(_) => g
                .get_str("general.architecture")
                .ok()
                .and_then(builtin_template)
                .ok_or(Error::NoChatTemplate)?
                .to_string(),
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gemma() -> ChatTemplate {
        ChatTemplate {
            source: GEMMA_TEMPLATE.into(),
            bos: "<bos>".into(),
            eos: "<eos>".into(),
        }
    }

    #[test]
    fn gemma_turns() {
        let text = gemma()
            .render(
                &[
                    Message::new("user", "Hi"),
                    Message::new("assistant", "Hello."),
                    Message::new("user", " And now? "),
                ],
                true,
            )
            .unwrap();
        assert_eq!(
            text,
            "<bos><start_of_turn>user\nHi<end_of_turn>\n\
             <start_of_turn>model\nHello.<end_of_turn>\n\
             <start_of_turn>user\nAnd now?<end_of_turn>\n\
             <start_of_turn>model\n"
        );
    }

    #[test]
    fn gemma_folds_the_system_message_into_the_first_turn() {
        let msgs = [
            Message::new("system", "Be brief."),
            Message::new("user", "What is sepsis?"),
        ];
        assert_eq!(
            gemma().render(&msgs, false).unwrap(),
            "<bos><start_of_turn>user\nBe brief.\n\nWhat is sepsis?<end_of_turn>\n"
        );
        assert_eq!(
            gemma().render(&msgs[..1], false).unwrap(),
            "<bos><start_of_turn>user\nBe brief.<end_of_turn>\n"
        );
        assert_eq!(
            gemma().render(&[], true).unwrap(),
            "<bos><start_of_turn>model\n"
        );
    }

    #[test]
    fn builtin_only_for_gemma() {
        assert!(builtin_template("gemma3").is_some());
        assert!(builtin_template("llama").is_none());
    }
}
