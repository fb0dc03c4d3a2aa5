//! `attention.wgsl` against causal grouped-query attention in f64: for query
//! head h of token t at position pos + t, softmax over cached positions
//! first…pos+t of scale·q·k (KV head h / (n_head / n_kv)), times V.
//!
//! Tolerance: |gpu − ref| ≤ 1e-4 · |ref| + 1e-5 (outputs are averages of
//! values in [-1, 1]). The kernel's online softmax rescales its sums once per
//! 64-position chunk and uses the GPU's exp; both cost a few ulps.
//! Cache rows past the batch hold large values, so reading one fails loudly.
//! Split-KV attention (`attention_split`: partial results, then a merge) is
//! held to the same reference with 1, 3 and 8 splits on every case, so runs
//! that end mid-chunk and splits left empty by a short context are covered.
//! Row attention (`attention_rows`: scores, softmax, values) is held to it
//! too, with one query token a workgroup and with the most it takes, with
//! the rows every lane reads shared by subgroups (where the adapter has them)
//! and read by every lane; a head size it does not take must be refused.
//! Where the device has `shader-f16`, every kernel runs again on an f16 KV
//! cache, held to the reference over the same K and V rounded to f16 (the
//! kernels widen each load and sum in f32), to the same tolerance. Where the
//! adapter takes the f16 cache's mirror in storage textures (lavapipe),
//! lane attention runs again reading it, filled by copies that start and
//! end inside texture rows.

use anyhow::Result;
use locum_engine::ops::{self, AttentionParams};
use locum_engine::Gpu;

use crate::harness::{self, gpu_tests, Tol};

gpu_tests!(
    prefill_gqa_across_chunks,
    decode_mqa_three_chunks,
    sliding_window,
    head_dim_256_from_zero,
    decode_long_context,
    decode_past_2048,
    decode_window_split,
    prefill_rows_token_groups,
    prefill_window_rows,
);

struct Case {
    seed: u64,
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    window: u32,
    pos: u32,
    n_tokens: u32,
    ctx: u32,
    /// Spread of q: larger makes the softmax peakier.
    q_range: f32,
}

fn attention_ref(q: &[f32], kc: &[f32], vc: &[f32], c: &Case) -> Vec<f64> {
    let (nh, hd) = (c.n_head as usize, c.head_dim as usize);
    let kv_row = c.n_kv as usize * hd;
    let scale = 1.0 / (hd as f64).sqrt();
    let mut out = vec![0.0; c.n_tokens as usize * nh * hd];
    for t in 0..c.n_tokens as usize {
        let qpos = c.pos as usize + t;
        let first = match c.window as usize {
            0 => 0,
            w => (qpos + 1).saturating_sub(w),
        };
        for h in 0..nh {
            let kvh = h / (nh / c.n_kv as usize);
            let qh = &q[(t * nh + h) * hd..][..hd];
            let scores: Vec<f64> = (first..=qpos)
                .map(|j| {
                    let k = &kc[j * kv_row + kvh * hd..][..hd];
                    scale
                        * qh.iter()
                            .zip(k)
                            .map(|(&a, &b)| a as f64 * b as f64)
                            .sum::<f64>()
                })
                .collect();
            let m = scores.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
            let total: f64 = e.iter().sum();
            let o = &mut out[(t * nh + h) * hd..][..hd];
            for (j, e) in (first..=qpos).zip(&e) {
                let v = &vc[j * kv_row + kvh * hd..][..hd];
                for d in 0..hd {
                    o[d] += e / total * v[d] as f64;
                }
            }
        }
    }
    out
}

async fn run(gpu: &Gpu, c: Case) -> Result<()> {
    let (nh, hd, nt) = (c.n_head as usize, c.head_dim as usize, c.n_tokens as usize);
    let kv_row = c.n_kv as usize * hd;
    let kv_len = (c.pos + c.n_tokens) as usize;
    let mut rng = harness::rng(c.seed);
    let q = harness::uniform(&mut rng, nt * nh * hd, -c.q_range, c.q_range);
    let mut kc = harness::uniform(&mut rng, c.ctx as usize * kv_row, -1.0, 1.0);
    let mut vc = harness::uniform(&mut rng, c.ctx as usize * kv_row, -1.0, 1.0);
    // Positions not yet written: a kernel that reads them is caught.
    kc[kv_len * kv_row..].iter_mut().for_each(|v| *v = 100.0);
    vc[kv_len * kv_row..].iter_mut().for_each(|v| *v = 100.0);
    for (gpu, kv16) in harness::kv_gpus(gpu) {
        let (kc, vc) = (harness::round_kv(&kc, kv16), harness::round_kv(&vc, kv16));
        run_on(&gpu, &c, &q, &kc, &vc, kv16).await?;
    }
    Ok(())
}

/// Every attention kernel on `gpu`, whose KV cache is f16 (`kv16`) or f32,
/// holding `kc` and `vc` (already as that cache holds them).
async fn run_on(gpu: &Gpu, c: &Case, q: &[f32], kc: &[f32], vc: &[f32], kv16: bool) -> Result<()> {
    let (nh, hd, nt) = (c.n_head as usize, c.head_dim as usize, c.n_tokens as usize);
    let cache = if kv16 { "f16" } else { "f32" };
    let step = harness::step_buffer(gpu);
    let qb = harness::upload_f32(gpu, q);
    let [kb, vb] = [kc, vc].map(|d| harness::upload_kv(gpu, d, kv16));
    let out = gpu.storage("att", (nt * nh * hd * 4) as u64);
    let params = AttentionParams {
        n_head: c.n_head,
        n_kv: c.n_kv,
        head_dim: c.head_dim,
        window: c.window,
        scale: 1.0 / (hd as f32).sqrt(),
        stride: ops::row_stride(c.ctx),
        _pad1: 0,
        _pad2: 0,
    };
    let reference = attention_ref(q, kc, vc, c);
    // The fast kernel and its simple twin, each against the reference.
    for (kernel, op) in [
        ("vec4", ops::attention as Op),
        ("simple", ops::attention_simple as Op),
    ] {
        let d = op(gpu, &step, params, &qb, &kb, &vb, &out);
        check(
            gpu,
            &step,
            c,
            &[&d],
            &out,
            &reference,
            &format!("{kernel}, {cache} cache"),
        )
        .await?;
    }
    for splits in [1, 3, 8] {
        let parts = gpu.storage(
            "parts",
            ops::split_scratch_bytes(c.n_head, c.head_dim, splits, c.n_tokens),
        );
        let Some(ds) =
            ops::attention_split(gpu, &step, params, splits, &qb, &kb, &vb, &parts, &out)
        else {
            anyhow::bail!("attention_split refused head_dim {hd}");
        };
        let what = format!("split {splits}, {cache} cache");
        check(gpu, &step, c, &[&ds[0], &ds[1]], &out, &reference, &what).await?;
    }
    // Lane attention (one position to a lane, then the merge), with 1, 3
    // and 8 workgroups per KV head, wherever its shape and the batch's
    // queries fit; elsewhere it must be refused.
    let q_uniform = gpu.activation("q", (nt * nh * hd * 4) as u64);
    gpu.queue
        .write_buffer(&q_uniform, 0, bytemuck::cast_slice(q));
    for splits in [1, 3, 8] {
        let parts = gpu.storage(
            "parts",
            ops::split_scratch_bytes(c.n_head, c.head_dim, ops::lanes_parts(splits), c.n_tokens),
        );
        let ds = ops::attention_lanes(
            gpu, &step, params, splits, &q_uniform, &kb, &vb, None, &parts, &out,
        );
        let Some(ds) = ds else {
            anyhow::ensure!(
                !ops::lanes_fits(&params, 1),
                "attention_lanes refused {nh} heads / {} kv, hd {hd}",
                c.n_kv
            );
            break;
        };
        anyhow::ensure!(
            ops::lanes_fits(&params, 1),
            "attention_lanes took {nh} heads / {} kv, hd {hd}",
            c.n_kv
        );
        if !ops::lanes_fits(&params, c.n_tokens) {
            break;
        }
        let what = format!("lanes, split {splits}, {cache} cache");
        check(gpu, &step, c, &[&ds[0], &ds[1]], &out, &reference, &what).await?;
    }
    // Lane attention in one launch, its workgroup merging its lanes (decode
    // below the long-context threshold), wherever the batch's queries fit.
    let merged = ops::attention_lanes_merged(gpu, &step, params, &q_uniform, &kb, &vb, None, &out);
    match merged {
        None => anyhow::ensure!(
            !ops::lanes_fits(&params, 1),
            "attention_lanes_merged refused {nh} heads / {} kv, hd {hd}",
            c.n_kv
        ),
        Some(d) if ops::lanes_fits(&params, c.n_tokens) => {
            let what = format!("lanes merged, {cache} cache");
            check(gpu, &step, c, &[&d], &out, &reference, &what).await?;
        }
        Some(_) => {}
    }
    // Both again reading the cache's mirror in storage textures, where the
    // adapter takes one (an f16 cache on lavapipe), filled from the
    // buffers by copies that start and end inside texture rows.
    let mirrors = kv16 && gpu.clone().with_kv_mirror(true).kv_mirror();
    if mirrors && ops::lanes_fits(&params, c.n_tokens) {
        let m = ops::KvMirror::new(gpu, "mirror", c.ctx, c.n_kv, c.head_dim)
            .ok_or_else(|| anyhow::anyhow!("no mirror for ctx {}", c.ctx))?;
        let mut cuts = vec![0, 1, 4, c.ctx - 1, c.ctx];
        cuts.retain(|&x| x <= c.ctx);
        cuts.dedup();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        for w in cuts.windows(2) {
            m.copy_rows(&mut enc, &kb, &vb, w[0], w[1]);
        }
        gpu.queue.submit([enc.finish()]);
        for splits in [1, 3] {
            let parts = gpu.storage(
                "parts",
                ops::split_scratch_bytes(
                    c.n_head,
                    c.head_dim,
                    ops::lanes_parts(splits),
                    c.n_tokens,
                ),
            );
            let ds = ops::attention_lanes(
                gpu,
                &step,
                params,
                splits,
                &q_uniform,
                &kb,
                &vb,
                Some(&m),
                &parts,
                &out,
            )
            .ok_or_else(|| anyhow::anyhow!("attention_lanes refused the mirror"))?;
            let what = format!("lanes from the mirror, split {splits}");
            check(gpu, &step, c, &[&ds[0], &ds[1]], &out, &reference, &what).await?;
        }
        let d =
            ops::attention_lanes_merged(gpu, &step, params, &q_uniform, &kb, &vb, Some(&m), &out)
                .ok_or_else(|| anyhow::anyhow!("attention_lanes_merged refused the mirror"))?;
        let what = "lanes merged from the mirror";
        check(gpu, &step, c, &[&d], &out, &reference, what).await?;
    }
    // Row attention, one token to a workgroup and as many as it takes.
    let scratch = ops::RowScratch::new(gpu, c.n_head, c.ctx, c.n_tokens);
    let Some(tq_max) = ops::rows_tokens(&params, 8) else {
        // Shapes it does not take are refused, not run wrong.
        let ds = ops::attention_rows(gpu, &step, params, 1, &qb, &kb, &vb, &scratch, &out);
        anyhow::ensure!(ds.is_none(), "attention_rows took head_dim {hd}");
        return Ok(());
    };
    // The rows every lane reads, shared by subgroups where the adapter has
    // them and read by every lane.
    let sharing = [
        (gpu.clone(), "shared"),
        (gpu.clone().without_x_subgroup(), "every lane"),
    ];
    for (gpu, how) in &sharing {
        for tq in [1, tq_max] {
            let Some(ds) =
                ops::attention_rows(gpu, &step, params, tq, &qb, &kb, &vb, &scratch, &out)
            else {
                anyhow::bail!("attention_rows refused {tq} tokens a workgroup");
            };
            let what = format!("rows, {tq} tokens, {how}, {cache} cache");
            check(
                gpu,
                &step,
                c,
                &[&ds[0], &ds[1], &ds[2]],
                &out,
                &reference,
                &what,
            )
            .await?;
        }
    }
    Ok(())
}

/// Runs `dispatches` for case `c`, reads `out` and holds it to `reference`;
/// `what` names the kernel and cache in the message.
async fn check(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    c: &Case,
    dispatches: &[&ops::Dispatch],
    out: &wgpu::Buffer,
    reference: &[f64],
    what: &str,
) -> Result<()> {
    let (nh, hd, nt) = (c.n_head as usize, c.head_dim as usize, c.n_tokens as usize);
    // NaN first, so that a kernel that ran nothing cannot pass on the output
    // the kernel before it left.
    let nan = vec![f32::NAN; nt * nh * hd];
    gpu.queue.write_buffer(out, 0, bytemuck::cast_slice(&nan));
    harness::submit(gpu, step, harness::step(c.n_tokens, c.pos), dispatches);
    let got = harness::read_f32(gpu, out, nt * nh * hd).await?;
    let what = format!(
        "attention ({what}) {nh} heads / {} kv, hd {hd}, window {}, pos {}+{nt}",
        c.n_kv, c.window, c.pos
    );
    harness::assert_close(&what, &got, reference, TOL)
}

const TOL: Tol = Tol {
    abs: 1e-5,
    rel: 1e-4,
};

type Op = fn(
    &Gpu,
    &wgpu::Buffer,
    AttentionParams,
    &wgpu::Buffer,
    &wgpu::Buffer,
    &wgpu::Buffer,
    &wgpu::Buffer,
) -> ops::Dispatch;

/// Decode at position 700: eleven chunks, the last one partial, 3 query
/// heads per KV head as SmolLM2 has.
async fn decode_long_context(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 45,
        n_head: 9,
        n_kv: 3,
        head_dim: 64,
        window: 0,
        pos: 700,
        n_tokens: 1,
        ctx: 710,
        q_range: 3.0,
    };
    run(gpu, c).await
}

/// Decode at position 2300: row attention's scores workgroups each take a
/// second run of 256 positions (eight workgroups stride over 2,048), lane
/// attention's lanes many passes. Chromium's compiler once left arrays
/// declared inside such loops holding the last pass's sums.
async fn decode_past_2048(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 49,
        n_head: 9,
        n_kv: 3,
        head_dim: 64,
        window: 0,
        pos: 2300,
        n_tokens: 1,
        ctx: 2310,
        q_range: 3.0,
    };
    run(gpu, c).await
}

/// A batch of 21 tokens at positions 130…150 with SmolLM2's heads: two
/// whole groups of 8 and a partial one for row attention, spans that start
/// and end mid-chunk, a context (157) that is not a multiple of 4.
async fn prefill_rows_token_groups(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 47,
        n_head: 9,
        n_kv: 3,
        head_dim: 64,
        window: 0,
        pos: 130,
        n_tokens: 21,
        ctx: 157,
        q_range: 3.0,
    };
    run(gpu, c).await
}

/// A batch of 13 tokens at positions 600…612 through a 512-position window,
/// 4 query heads on one KV head (Gemma 3's local layers): each token's span
/// starts at its own position inside its group's.
async fn prefill_window_rows(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 48,
        n_head: 4,
        n_kv: 1,
        head_dim: 64,
        window: 512,
        pos: 600,
        n_tokens: 13,
        ctx: 640,
        q_range: 3.0,
    };
    run(gpu, c).await
}

/// Decode at position 1000 with a 512-position window (Gemma 3's local
/// layers): the window starts mid-chunk, so each split's run does too.
async fn decode_window_split(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 46,
        n_head: 4,
        n_kv: 1,
        head_dim: 64,
        window: 512,
        pos: 1000,
        n_tokens: 1,
        ctx: 1004,
        q_range: 3.0,
    };
    run(gpu, c).await
}

/// Prefill of 9 tokens at positions 58…66 (across the 64-position chunk
/// boundary), 3 query heads per KV head, head_dim 80 (two dims per thread
/// for some threads).
async fn prefill_gqa_across_chunks(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 41,
        n_head: 6,
        n_kv: 2,
        head_dim: 80,
        window: 0,
        pos: 58,
        n_tokens: 9,
        ctx: 72,
        q_range: 3.0,
    };
    run(gpu, c).await
}

/// Decode at position 150 (three chunks), 4 query heads on one KV head.
async fn decode_mqa_three_chunks(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 42,
        n_head: 4,
        n_kv: 1,
        head_dim: 64,
        window: 0,
        pos: 150,
        n_tokens: 1,
        ctx: 160,
        q_range: 4.0,
    };
    run(gpu, c).await
}

/// A window of 20 positions, for 5 tokens at 70…74.
async fn sliding_window(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 43,
        n_head: 4,
        n_kv: 2,
        head_dim: 32,
        window: 20,
        pos: 70,
        n_tokens: 5,
        ctx: 80,
        q_range: 2.0,
    };
    run(gpu, c).await
}

/// The largest head (256: four dims per thread), a prompt from position 0
/// (the first token attends only to itself).
async fn head_dim_256_from_zero(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 44,
        n_head: 2,
        n_kv: 1,
        head_dim: 256,
        window: 0,
        pos: 0,
        n_tokens: 3,
        ctx: 8,
        q_range: 1.0,
    };
    run(gpu, c).await
}
