//! The model load as a person can follow it: what is happening in words, a
//! progress bar, bytes and percent, speed and time left, parts done, and a
//! Cancel button.

use leptos::html;
use leptos::prelude::*;
use locum_worker::{LoadPhase, LoadProgress};

use super::focus::FocusHandoff;
use super::units;
use crate::state::{use_assistant, Phase};

/// The load in progress, updated with each report from the worker.
///
/// Test hooks: `data-testid="load-progress"` on the region, with
/// `data-load-phase` (see [`phase_slug`]), `data-done-bytes`,
/// `data-total-bytes`, `data-shards-done` and `data-shards-total`; the bar is
/// `#download-progress`, the byte count `#download-text`, and the button
/// `data-testid="cancel-load"` (`aria-disabled="true"` once pressed).
///
/// The surrounding status is a polite live region: the step in words and the
/// parts done are announced as they change. The byte count changes several
/// times a second, so it is left out (`aria-live="off"`) and given to the
/// bar as its `aria-valuetext` instead, where a screen reader reads it on
/// request.
#[component]
pub fn ModelLoadProgress(
    /// Takes keyboard focus to Cancel when this view replaces a pressed
    /// button ("Load the model", "Try again"), and gives it on Cancel.
    handoff: FocusHandoff,
) -> impl IntoView {
    let assistant = use_assistant();
    let progress = Memo::new(move |_| assistant.phase.with(Phase::load_progress));
    let cancelling = Memo::new(move |_| {
        assistant.phase.with(|p| {
            matches!(
                p,
                Phase::Loading {
                    cancelling: true,
                    ..
                }
            )
        })
    });
    // Before the worker's first report the load is checking, size unknown.
    let phase = move || progress.get().map_or(LoadPhase::Checking, |p| p.phase);
    // Reports that know the model's size; the others show an indeterminate bar.
    let sized = move || progress.get().filter(|p| p.total_bytes > 0);
    let numbers =
        move || sized().map(|p| units::done_of_total(p.done_bytes, p.total_bytes, p.percent()));
    let speed = move || progress.get().and_then(speed_and_time_left);
    let shards = move || {
        progress.get().filter(|p| p.shards_total > 0).map(|p| {
            format!(
                "{} of {} parts of the model ready.",
                p.shards_done, p.shards_total
            )
        })
    };
    let attr = move |f: fn(&LoadProgress) -> u64| move || progress.get().map(|p| f(&p).to_string());

    let cancel_button = NodeRef::<html::Button>::new();
    handoff.receive(cancel_button);
    let on_cancel = move |_| {
        if !cancelling.get_untracked() {
            handoff.give();
            assistant.cancel_load();
        }
    };

    view! {
        <div
            class="load-progress"
            data-testid="load-progress"
            data-load-phase=move || phase_slug(phase())
            data-done-bytes=attr(|p| p.done_bytes)
            data-total-bytes=attr(|p| p.total_bytes)
            data-shards-done=attr(|p| p.shards_done.into())
            data-shards-total=attr(|p| p.shards_total.into())
        >
            <p id="load-phase-text" class="load-phase">
                {move || phase_words(phase(), progress.get().map_or(0, |p| p.from_device_bytes))}
            </p>
            <progress
                id="download-progress"
                aria-label="Model loading progress"
                max="100"
                value=move || sized().map(|p| format!("{:.1}", p.percent()))
                aria-valuetext=numbers
            ></progress>
            <p class="load-numbers" aria-live="off">
                <span id="download-text">{numbers}</span>
                {move || speed().map(|s| format!(" · {s}"))}
            </p>
            <p class="load-shards">{shards}</p>
            <button
                type="button"
                id="cancel-load"
                data-testid="cancel-load"
                node_ref=cancel_button
                aria-disabled=move || cancelling.get().then_some("true")
                on:click=on_cancel
            >
                {move || if cancelling.get() { "Cancelling…" } else { "Cancel loading" }}
            </button>
        </div>
    }
}

/// The name of a load phase in `data-load-phase`, for tests and styling.
pub fn phase_slug(phase: LoadPhase) -> &'static str {
    match phase {
        LoadPhase::Checking => "checking",
        LoadPhase::Downloading => "downloading",
        LoadPhase::FromDevice => "from-device",
        LoadPhase::Verifying => "verifying",
        LoadPhase::Uploading => "uploading",
        LoadPhase::WarmingUp => "warming-up",
    }
}

/// What the load is doing, in a sentence. `from_device_bytes`: how much of
/// the model was already on this device (mentioned while the rest downloads).
pub fn phase_words(phase: LoadPhase, from_device_bytes: u64) -> String {
    match phase {
        LoadPhase::Checking => {
            "Getting ready: checking the model and what this device already has…".into()
        }
        LoadPhase::Downloading if from_device_bytes > 0 => format!(
            "Downloading the rest of the model ({} already on this device)…",
            units::size(from_device_bytes)
        ),
        LoadPhase::Downloading => "Downloading the model…".into(),
        LoadPhase::FromDevice => "Loading the model from this device (no download)…".into(),
        LoadPhase::Verifying => "Verifying that the downloaded parts are intact…".into(),
        LoadPhase::Uploading => "Uploading the model to the graphics processor…".into(),
        LoadPhase::WarmingUp => "Warming up the graphics processor with a first short run…".into(),
    }
}

/// "3.1 MB/s, about 25 s left" while data comes from the network at a known
/// rate; `None` otherwise (reading from this device, uploading, warming up).
pub fn speed_and_time_left(p: LoadProgress) -> Option<String> {
    let downloading = matches!(p.phase, LoadPhase::Downloading | LoadPhase::Verifying);
    if !downloading || p.bytes_per_s <= 0.0 || !p.bytes_per_s.is_finite() {
        return None;
    }
    let rate = units::rate(p.bytes_per_s);
    Some(match p.seconds_left() {
        Some(s) => format!("{rate}, {}", units::time_left(s)),
        None => rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(phase: LoadPhase) -> LoadProgress {
        LoadProgress {
            phase,
            done_bytes: 41_200_000,
            total_bytes: 98_300_000,
            from_device_bytes: 0,
            shards_done: 2,
            shards_total: 5,
            bytes_per_s: 3_100_000.0,
        }
    }

    #[test]
    fn a_download_shows_its_speed_and_time_left() {
        assert_eq!(
            speed_and_time_left(report(LoadPhase::Downloading)).as_deref(),
            // 57.1 MB left at 3.1 MB/s is 18.4 s.
            Some("3.1 MB/s, about 20 s left")
        );
    }

    #[test]
    fn no_speed_when_nothing_comes_from_the_network() {
        for phase in [
            LoadPhase::FromDevice,
            LoadPhase::Uploading,
            LoadPhase::WarmingUp,
        ] {
            assert_eq!(speed_and_time_left(report(phase)), None, "{phase:?}");
        }
        let stalled = LoadProgress {
            bytes_per_s: 0.0,
            ..report(LoadPhase::Downloading)
        };
        assert_eq!(speed_and_time_left(stalled), None);
    }

    #[test]
    fn a_second_visit_says_there_is_no_download() {
        assert_eq!(
            phase_words(LoadPhase::FromDevice, 98_300_000),
            "Loading the model from this device (no download)…"
        );
        assert_eq!(
            phase_words(LoadPhase::Downloading, 40_000_000),
            "Downloading the rest of the model (40.0 MB already on this device)…"
        );
    }

    #[test]
    fn phase_slugs_are_the_test_hooks() {
        let all = [
            LoadPhase::Checking,
            LoadPhase::Downloading,
            LoadPhase::FromDevice,
            LoadPhase::Verifying,
            LoadPhase::Uploading,
            LoadPhase::WarmingUp,
        ];
        let slugs: Vec<_> = all.into_iter().map(phase_slug).collect();
        assert_eq!(
            slugs,
            [
                "checking",
                "downloading",
                "from-device",
                "verifying",
                "uploading",
                "warming-up"
            ]
        );
    }
}
