//! The page's components, one per file. Each reads the assistant from
//! context (`state::use_assistant`) and holds no engine logic. `units` and
//! `focus` are helpers the components share: numbers in words, and keyboard
//! focus across swapped views.

pub mod answer_actions;
pub mod answer_view;
pub mod case_form;
pub mod case_import;
pub mod diagnosis_card;
pub mod differential_list;
pub mod focus;
pub mod generation_stats;
pub mod item_list;
pub mod load_cancelled;
pub mod load_failed;
pub mod load_progress;
pub mod model_picker;
pub mod model_ready;
pub mod model_status;
pub mod prompt_form;
pub mod prompt_reading;
pub mod timeline;
pub mod units;
pub mod webgpu_missing;

pub use answer_actions::AnswerActions;
pub use answer_view::AnswerView;
pub use case_form::CaseForm;
pub use case_import::CaseImport;
pub use diagnosis_card::DiagnosisCardView;
pub use differential_list::DifferentialList;
pub use generation_stats::GenerationStatsLine;
pub use item_list::ItemList;
pub use load_cancelled::LoadCancelledNotice;
pub use load_failed::LoadFailed;
pub use load_progress::ModelLoadProgress;
pub use model_picker::ModelPicker;
pub use model_ready::ModelReady;
pub use model_status::ModelStatus;
pub use prompt_form::PromptForm;
pub use prompt_reading::PromptReading;
pub use timeline::Timeline;
pub use webgpu_missing::WebGpuMissing;
