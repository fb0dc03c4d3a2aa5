//! The page's components, one per file. Each reads the assistant from
//! context (`state::use_assistant`) and holds no engine logic.

pub mod answer_view;
pub mod generation_stats;
pub mod model_status;
pub mod prompt_form;
pub mod webgpu_missing;

pub use answer_view::AnswerView;
pub use generation_stats::GenerationStatsLine;
pub use model_status::ModelStatus;
pub use prompt_form::PromptForm;
pub use webgpu_missing::WebGpuMissing;
