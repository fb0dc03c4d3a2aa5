//! The benchmark's profiles on the real model. A decode step timed inside
//! one pass (`Model::profile_in_pass`, where the adapter has timestamps, as
//! lavapipe does) names the launches that the profile of launches alone
//! (`Model::profile`) names, its launches and the gaps between them add up
//! to its whole, and generation goes on after it token for token as it does
//! without it (the pass's sampler overwrote the token the next step feeds,
//! which it puts back). The host's time is counted for each decode step.
//! The benchmark's empty launches (`Gpu::launch_cost`) run, every one.
//!
//! Needs the default model (`cargo xtask setup`, or LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeSet;

use anyhow::{ensure, Result};
use locum_engine::{Gpu, Session};

use common::load_session;

const STEPS: usize = 6;

fn decode(session: &mut Session) -> Result<Vec<u32>> {
    (0..STEPS)
        .map(|_| Ok(pollster::block_on(session.model.decode())?))
        .collect()
}

#[test]
fn a_pass_timed_inside_leaves_generation_as_it_was() -> Result<()> {
    let (gpu, mut session) = load_session(256)?;
    let prompt = session
        .tokenizer
        .encode("A 70-year-old woman has fever, cough and confusion. The most likely cause is")?;

    // Without a profile.
    pollster::block_on(session.model.prefill(&prompt))?;
    let plain = decode(&mut session)?;

    // With one between the prompt and the first step.
    session.model.reset();
    pollster::block_on(session.model.prefill(&prompt))?;
    session.model.take_host_time();
    let profiled = pollster::block_on(session.model.profile_in_pass(2))?;
    let after = decode(&mut session)?;
    ensure!(
        after == plain,
        "after the profiled pass the steps gave {after:?}, without it {plain:?}"
    );
    let (steps, host) = session.model.take_host_time();
    ensure!(
        steps as usize == STEPS && !host.is_zero(),
        "{steps} steps and {host:?} counted for {STEPS} decode steps"
    );

    let Some(pass) = profiled else {
        ensure!(
            !gpu.timestamps(),
            "the adapter has timestamps but nothing was timed"
        );
        eprintln!("no timestamps on {}: nothing timed", gpu.summary.name);
        return Ok(());
    };
    let alone = pollster::block_on(session.model.profile(1, 1))?;
    let names =
        |rows: &[(String, f64)]| rows.iter().map(|(n, _)| n.clone()).collect::<BTreeSet<_>>();
    ensure!(
        names(&pass.kernels) == names(&alone),
        "the pass names {:?}, the launches alone {:?}",
        names(&pass.kernels),
        names(&alone)
    );
    let launches: f64 = pass.kernels.iter().map(|(_, ms)| ms).sum();
    ensure!(
        pass.kernels.iter().all(|(_, ms)| *ms > 0.0) && pass.gaps_ms >= 0.0,
        "a launch or gap timed at zero or less: {pass:?}"
    );
    ensure!(
        (pass.total_ms - (launches + pass.gaps_ms)).abs() <= 1e-6 * pass.total_ms.max(1.0),
        "the launches ({launches} ms) and gaps ({} ms) do not add up to the pass ({} ms)",
        pass.gaps_ms,
        pass.total_ms
    );
    Ok(())
}

#[test]
fn the_empty_launches_run_and_take_time() -> Result<()> {
    let gpu = pollster::block_on(Gpu::new())?;
    // Odd counts: 37 launches of 3 workgroups, each lane storing its index,
    // which `launch_cost` reads back before it answers.
    let s = pollster::block_on(gpu.launch_cost(37, 3, 2))?;
    ensure!(
        s.is_finite() && s > 0.0 && s < 1.0,
        "an empty launch took {s} s"
    );
    Ok(())
}
