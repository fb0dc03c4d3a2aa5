//! A decode layer's tail in one launch (`layer_tail.wgsl`) against its
//! twin, the three launches it replaces: lane attention merged in its
//! workgroup (`attention_lanes.wgsl`), the attention output product adding
//! the partial sums of the feed-forward before into the residual
//! (`matvec.wgsl`), and the fused feed-forward (`ffn_matvec.wgsl`). The
//! same kernels' code on the same inputs in the same order: att, x and the
//! new partial sums equal bit for bit, with one, two and four workgroups
//! meeting, with and without partial sums in, and the meetings' flag stays
//! clear.

use anyhow::{Context, Result};
use locum_engine::ops::{self, AttentionParams, Epilogue, LayerTail};
use locum_engine::{GgmlType, Gpu};

use crate::harness::{self, gpu_tests, Tol};

gpu_tests!(layer_tail_and_its_three_launches_twins);

/// n_embd: seven blocks (the last group of four a row short of whole).
const DIM: u32 = 224;
/// n_ff: slices of 512, 256 or 128 values.
const NFF: u32 = 512;
/// Two KV heads of three query heads each, of 64 values.
const NH: u32 = 6;
const NKV: u32 = 2;
const HD: u32 = 64;

async fn layer_tail_and_its_three_launches_twins(gpu: &Gpu) -> Result<()> {
    // Only where the adapter runs a launch's workgroups at once (lavapipe
    // with enough worker threads); a browser's may not.
    if !gpu.layer_tail_runs(1) {
        anyhow::ensure!(
            !gpu.summary.name.contains("llvmpipe"),
            "lavapipe does not take the layer tail"
        );
        harness::note("layer_tail: not run on this adapter");
        return Ok(());
    }
    let cases = [
        (GgmlType::Q4_1, Epilogue::SiluGate, 2, 2, 5),
        (GgmlType::Q4_0, Epilogue::GeluGate, 4, 0, 0),
        (GgmlType::Q4_1, Epilogue::SiluGate, 1, 1, 13),
    ];
    for (i, &(ty, gate, slices, parts_in, pos)) in cases.iter().enumerate() {
        // Fewer driver threads than workgroups: not run (`Gpu::layer_tail_runs`).
        if !gpu.layer_tail_runs(slices) {
            harness::note(&format!("layer_tail: {slices} workgroups not run here"));
            continue;
        }
        if !tail_case(gpu, ty, gate, slices, parts_in, pos, 500 + i as u64).await? {
            anyhow::ensure!(
                !gpu.rows_per_lane(),
                "layer_tail refused {} on a CPU adapter",
                ty.name()
            );
            harness::note("layer_tail: not taken on this adapter");
            return Ok(());
        }
    }
    Ok(())
}

/// One case at position `pos` (the cache's rows before it random); false
/// where `ops::layer_tail` does not take it.
#[allow(clippy::too_many_arguments)]
async fn tail_case(
    gpu: &Gpu,
    ty: GgmlType,
    gate: Epilogue,
    slices: u32,
    parts_in: u32,
    pos: u32,
    seed: u64,
) -> Result<bool> {
    let dim = DIM as usize;
    let mut rng = harness::rng(seed);
    let weight = |rng: &mut _, rows, cols| {
        let file = harness::random_weight_bytes(rng, ty, rows, cols);
        harness::upload_weight(gpu, ty, &file, rows, cols).map(|(w, _)| w)
    };
    let gu = weight(&mut rng, 2 * NFF, DIM)?;
    let wd = weight(&mut rng, DIM, NFF)?;
    let wo = weight(&mut rng, DIM, NH * HD)?;
    let ctx = 16u32;
    let kv16 = gpu.kv_f16();
    let cache_len = (ctx * NKV * HD) as usize;
    let k = harness::uniform(&mut rng, cache_len, -1.0, 1.0);
    let v = harness::uniform(&mut rng, cache_len, -1.0, 1.0);
    let q = harness::uniform(&mut rng, (NH * HD) as usize, -1.0, 1.0);
    let x = harness::uniform(&mut rng, dim, -1.0, 1.0);
    let g = harness::uniform(&mut rng, dim, 0.5, 1.5);
    // The partial sums in, and room for this layer's (at most four).
    let mut parts = harness::uniform(&mut rng, parts_in as usize * dim, -0.5, 0.5);
    parts.resize(4 * dim, 0.0);
    let attn = AttentionParams {
        n_head: NH,
        n_kv: NKV,
        head_dim: HD,
        window: 0,
        scale: 1.0 / (HD as f32).sqrt(),
        stride: ops::row_stride(ctx),
        _pad1: 0,
        _pad2: 0,
    };
    let step = harness::step_buffer(gpu);
    let (qb, gb) = (
        harness::upload_activation(gpu, "q", &q),
        harness::upload_activation(gpu, "g", &g),
    );
    let (kc, vc) = (
        harness::upload_kv(gpu, &k, kv16),
        harness::upload_kv(gpu, &v, kv16),
    );
    let eps = 1e-5;
    let mut out = Vec::new();
    for fused in [false, true] {
        let att = gpu.activation("att", (NH * HD * 4) as u64);
        let xb = harness::upload_activation(gpu, "x", &x);
        let partsb = harness::upload_f32(gpu, &parts);
        let meet = ops::meet_buffer(gpu);
        let t = LayerTail {
            attn,
            q: &qb,
            k_cache: &kc,
            v_cache: &vc,
            mirror: None,
            att: &att,
            wo: &wo,
            x: &xb,
            gate_up: &gu,
            down: &wd,
            ffn_norm: (&gb, eps),
            gate,
            parts: &partsb,
            parts_in,
            slices,
            meet: &meet,
        };
        if !ops::layer_tail_fits(gpu, &t) {
            return Ok(false);
        }
        let ds = match fused {
            true => vec![ops::layer_tail(gpu, &step, &t).context("it fits")?],
            false => {
                let attend =
                    ops::attention_lanes_merged(gpu, &step, attn, &qb, &kc, &vc, None, &att)
                        .context("lane attention takes the shape")?;
                let out_product = match parts_in {
                    0 => ops::matvec_rows(gpu, &step, &wo, &att, &xb, Epilogue::Accumulate),
                    n => ops::matvec_adding_parts(gpu, &step, &wo, &att, &xb, &partsb, n),
                }
                .context("att fits the uniform view")?;
                let ffn = ops::ffn_matvec(
                    gpu,
                    &step,
                    &gu,
                    &wd,
                    &xb,
                    (&gb, eps),
                    gate,
                    (&partsb, slices),
                )
                .context("ffn_matvec takes what layer_tail does")?;
                vec![attend, out_product, ffn]
            }
        };
        let ds: Vec<&ops::Dispatch> = ds.iter().collect();
        harness::submit(gpu, &step, harness::step(1, pos), &ds);
        let mut got = harness::read_f32(gpu, &att, (NH * HD) as usize).await?;
        got.extend(harness::read_f32(gpu, &xb, dim).await?);
        got.extend(harness::read_f32(gpu, &partsb, slices as usize * dim).await?);
        if fused {
            let flag = harness::read_u32(gpu, &meet, 4).await?;
            anyhow::ensure!(
                flag[1] == 0,
                "a workgroup of the layer tail gave up waiting: {flag:?}"
            );
        }
        out.push(got);
    }
    let what = format!(
        "layer tail {} {gate:?}, {slices} workgroups, {parts_in} parts in, position {pos}, against its three launches",
        ty.name()
    );
    harness::assert_close(&what, &out[1], &harness::widen(&out[0]), Tol::EXACT)?;
    Ok(true)
}
