//! A prompt longer than one batch reports its reading between batches
//! (`Control::prompt_read`): after each batch but the last, the tokens read
//! so far of what is read (the prompt less the start the KV cache kept from
//! the prompt before). A Stop heard at a report ends the prompt there,
//! with the batches read kept in the cache. Reporting does not change the
//! answer. On the real model.
//!
//! Needs the default model (`cargo xtask setup`, or LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::cell::{Cell, RefCell};

use anyhow::{ensure, Result};
use locum_engine::{Control, Sampling};

use common::load_session;

/// Keeps every report; asks to stop once `stop_after` reports came.
struct Recorder {
    reports: RefCell<Vec<(usize, usize)>>,
    stop_after: Option<usize>,
    stop_asked: Cell<bool>,
}

impl Recorder {
    fn new(stop_after: Option<usize>) -> Self {
        Recorder {
            reports: RefCell::new(Vec::new()),
            stop_after,
            stop_asked: Cell::new(false),
        }
    }
}

impl Control for Recorder {
    fn stop(&self) -> bool {
        let stop = self.stop_after == Some(self.reports.borrow().len());
        self.stop_asked.set(self.stop_asked.get() || stop);
        stop
    }

    fn prompt_read(&self, done: usize, total: usize) {
        self.reports.borrow_mut().push((done, total));
    }
}

#[test]
fn a_long_prompt_reports_its_reading_and_stops_between_batches() -> Result<()> {
    let (_gpu, mut session) = load_session(512)?;
    let text = (1..=16)
        .map(|i| format!("Note {i}: chest tightness on exertion, relieved by rest."))
        .collect::<Vec<_>>()
        .join(" ");
    let ids = session.prompt_ids(&text, true)?;
    let n = ids.len();
    ensure!(n > 192, "the prompt is {n} tokens, not past three batches");

    // From an empty cache every token is read, and reported.
    let watched = Recorder::new(None);
    let stats =
        pollster::block_on(
            session.generate_until(&ids, 4, Sampling::greedy(), &watched, |_| true),
        )?;
    let reports = watched.reports.take();
    let expected: Vec<(usize, usize)> = (1..)
        .map(|b| (64 * b, n))
        .take_while(|&(done, _)| done < n)
        .collect();
    ensure!(
        reports == expected,
        "reports {reports:?}, expected {expected:?} for {n} tokens"
    );
    // Without reports (and with the prompt kept in the cache but for its
    // last two tokens): the same answer.
    let plain = pollster::block_on(session.generate(&ids, 4, Sampling::greedy(), |_| true))?;
    ensure!(
        stats.tokens == plain.tokens,
        "reporting changed the answer: {:?} against {:?}",
        stats.tokens,
        plain.tokens
    );

    // A Stop heard after the second report ends the prompt there. Another
    // note keeps only what it shares with the first (the chat template's
    // start), and its reports count what is read.
    let other = text.replace("Note", "Entry").replace("exertion", "effort");
    let ids = session.prompt_ids(&other, true)?;
    let stopper = Recorder::new(Some(2));
    let stats =
        pollster::block_on(
            session.generate_until(&ids, 4, Sampling::greedy(), &stopper, |_| true),
        )?;
    ensure!(stopper.stop_asked.get(), "the stop was never asked for");
    ensure!(
        stats.stop_reason == "stopped" && stats.generated_tokens == 0,
        "a prompt stopped mid-way went on: {} after {} tokens",
        stats.stop_reason,
        stats.generated_tokens
    );
    let kept = stats.reused_tokens;
    let read = ids.len() - kept;
    ensure!(
        kept > 0 && kept < 40,
        "{kept} tokens kept from the other note"
    );
    let reports = stopper.reports.take();
    ensure!(
        reports == [(64, read), (128, read)],
        "reports {reports:?} of {read} tokens read"
    );
    ensure!(
        session.model.pos() as usize == kept + 128,
        "{} positions kept, not the {kept} kept and the two batches read",
        session.model.pos()
    );
    Ok(())
}
