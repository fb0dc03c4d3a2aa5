//! Locum's clinical logic, in plain Rust: no GPU, no browser, no clock.
//!
//! The engine turns tokens into tokens; this crate decides what goes in and
//! makes sense of what comes out:
//!
//! ```text
//!  form / pasted note / FHIR Bundle
//!        │ case, fhir            Case (+ validate(today) → warnings)
//!        ▼
//!  prompt::fit_case ──► chat prompt within a token budget, every omission named
//!        │               (the model's own template renders it: ChatRenderer)
//!        ▼
//!  reasoning::Phases     phase 1: brief free text; phase 2: the JSON
//!        │
//!        ▼
//!  schema::json_schema   what the JSON must be
//!  grammar::Grammars     the token mask it is decoded under (llguidance)
//!  stream::DifferentialStream ─► summary, items, red flags as they complete
//! ```
//!
//! Everything here compiles for `wasm32-unknown-unknown` and runs in the
//! engine's worker or the UI alike. Nothing reads the system clock: the
//! caller passes `today` (a [`Date`]) wherever time matters, so tests and
//! golden files are reproducible.

pub mod case;
pub mod date;
mod error;
pub mod examples;
pub mod fhir;
#[cfg(feature = "grammar")]
pub mod grammar;
pub mod icd10;
mod omitted;
pub mod plausibility;
pub mod prompt;
pub mod reasoning;
mod render;
pub mod schema;
pub mod stream;

pub use case::{
    Allergy, Case, Demographics, Medication, Note, Observation, ObservationKind, ObservationValue,
    Problem, ReferenceRange, Report, Sex, Warning, WarningKind, WarningTarget,
};
pub use date::{Date, Timestamp};
pub use error::{Error, Result};
pub use fhir::{import_bundle, FhirImport, Skipped};
#[cfg(feature = "grammar")]
pub use grammar::{gpt2_token_bytes, Constraint, Grammars, Vocabulary};
pub use icd10::Icd10Match;
pub use prompt::{
    fit_case, ChatMessage, ChatRenderer, FittedPrompt, Omission, Role, TokenCounter, SYSTEM_MESSAGE,
};
pub use reasoning::Phases;
pub use schema::{json_schema, Differential, Item, Likelihood};
pub use stream::{DifferentialStream, StreamEvent};
