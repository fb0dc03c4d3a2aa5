//! The crate's one error type. Every message is a sentence a clinician can
//! read in the UI: what happened, and where it helps, what to do about it.

/// Everything that can go wrong in `locum-clinical`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A date or date-time that is not ISO 8601 (or not a real day).
    #[error("{text:?} is not a valid date: {reason}. Write dates as YYYY-MM-DD, optionally with a time (YYYY-MM-DDThh:mm).")]
    InvalidDate {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A case file (Locum's own JSON format) that does not parse.
    #[error("This case file could not be read: {0}")]
    CaseJson(String),

    /// An import that is not JSON at all.
    #[error(
        "This file is not JSON: {0}. Export the record as a FHIR R4 Bundle in JSON and try again."
    )]
    NotJson(String),

    /// JSON, but not a FHIR Bundle.
    #[error("This file is JSON but not a FHIR Bundle: {0}. Export the patient's record as a Bundle (for example with Patient/$everything) and try again.")]
    NotABundle(String),

    /// A Bundle with nothing in it.
    #[error("This FHIR Bundle has no entries, so there is nothing to import.")]
    EmptyBundle,

    /// The essentials of a case do not fit the token budget even with
    /// everything optional left out.
    #[error("The case does not fit the model's context: even with everything optional left out, the prompt takes {tokens} tokens, {over} more than the {budget} available. Shorten the presenting complaint, or choose a model with a longer context.")]
    DoesNotFit {
        /// Tokens taken by the prompt with every optional part removed.
        tokens: usize,
        /// The budget that was asked for.
        budget: usize,
        /// `tokens - budget`.
        over: usize,
    },

    /// The chat template (the model's own, rendered by the caller) failed.
    #[error("The model's chat template could not be rendered: {0}")]
    Render(String),

    /// A differential that breaks the schema's constraints.
    #[error("The differential does not follow its schema: {}.", .0.join("; "))]
    InvalidDifferential(Vec<String>),

    /// Streamed differential JSON that is not well-formed JSON.
    #[error("The differential's JSON is malformed at character {at}: {reason}.")]
    MalformedStream {
        /// Offset in characters (not bytes) from the start of the stream.
        at: usize,
        /// What was wrong there.
        reason: String,
    },

    /// The stream ended before the differential was complete.
    #[error("The differential ended before it was complete: {0}.")]
    IncompleteStream(String),

    /// The grammar engine could not build or run a constraint: a schema it
    /// cannot compile, a vocabulary it cannot use, or an internal failure.
    #[error("Structured output could not be enforced: {0}. The model's answer cannot be guaranteed to be a valid differential; please report this.")]
    Grammar(String),

    /// The decoder offered a token the grammar does not allow at this point.
    #[error("Token {token} is not allowed by the grammar after {at} bytes of output; the decoder must sample from the grammar's mask.")]
    TokenNotAllowed {
        /// The token id that was offered.
        token: u32,
        /// Bytes generated under the constraint before it.
        at: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
