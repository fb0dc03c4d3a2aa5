//! The fused feed-forward (`ffn_matvec.wgsl`) against its twin, the two
//! decode products it replaces (`matvec.wgsl`: gate/up with the norm fused
//! and the gated epilogue, then down adding into the residual), and the
//! kernels that take its partial sums in (`matvec.wgsl`'s residual add,
//! `qkv_matvec.wgsl`'s x) against the same kernels given the sums whole.
//!
//! The hidden values are the same in both (the same rows, blocks and sums
//! in the same order), and so are their int8 blocks; the down product's
//! sums are taken a slice at a time and then added, so they differ by f32
//! rounding: |fused − apart| ≤ 1e-5 · Σ|terms| + 1e-6, where Σ|terms| is
//! Σᵢ|W_d[r, i]·hᵢ| + |W_o·att|ᵣ + |y0ᵣ|.

use anyhow::{Context, Result};
use locum_engine::ops::{self, Epilogue, RopeParams};
use locum_engine::{GgmlType, Gpu};

use crate::harness::{self, gpu_tests, Store, Tol};

gpu_tests!(ffn_fused_and_apart_twins, qkv_takes_the_parts_as_whole_x);

/// n_embd: seven blocks, the last group of four a row short of whole.
const DIM: u32 = 224;
/// n_ff: in one, two or four slices of 512, 256 or 128 values (the kernel's
/// rounds of 64 hidden values and groups of 128 a slice: 8 and 4, 4 and 2,
/// 2 and 1).
const NFF: u32 = 512;

/// The stores the adapter's decode kernels read weights from, each tried.
fn stores(gpu: &Gpu) -> Vec<Store> {
    match gpu.weight_textures() {
        true => vec![Store::Texture, Store::StorageTexture],
        false => vec![Store::Buffer],
    }
}

async fn ffn_fused_and_apart_twins(gpu: &Gpu) -> Result<()> {
    let cases = [
        (GgmlType::Q4_1, Epilogue::SiluGate, 2),
        (GgmlType::Q4_0, Epilogue::GeluGate, 4),
        (GgmlType::Q4_1, Epilogue::SiluGate, 1),
    ];
    for store in stores(gpu) {
        for (i, &(ty, gate, slices)) in cases.iter().enumerate() {
            let seed = 400 + i as u64;
            if !ffn_case(gpu, store, ty, gate, slices, seed).await? {
                // Only where decode does not take these types in int8.
                anyhow::ensure!(
                    !gpu.rows_per_lane(),
                    "ffn_matvec refused {} on a CPU adapter",
                    ty.name()
                );
                harness::note("ffn_matvec: not taken on this adapter");
                return Ok(());
            }
        }
    }
    Ok(())
}

/// One case; false where `ops::ffn_matvec` does not take it.
async fn ffn_case(
    gpu: &Gpu,
    store: Store,
    ty: GgmlType,
    gate: Epilogue,
    slices: u32,
    seed: u64,
) -> Result<bool> {
    let (dim, nff) = (DIM as usize, NFF as usize);
    let mut rng = harness::rng(seed);
    let gu_file = harness::random_weight_bytes(&mut rng, ty, 2 * NFF, DIM);
    let (gu, _) = harness::upload_weight_in(gpu, store, ty, &gu_file, 2 * NFF, DIM)?;
    let d_file = harness::random_weight_bytes(&mut rng, ty, DIM, NFF);
    let (wd, wd_cpu) = harness::upload_weight_in(gpu, store, ty, &d_file, DIM, NFF)?;
    // The next layer's attention output product, which adds the parts in.
    let o_file = harness::random_weight_bytes(&mut rng, ty, DIM, DIM);
    let (wo, wo_cpu) = harness::upload_weight_in(gpu, store, ty, &o_file, DIM, DIM)?;
    if !ops::ffn_fits(gpu, &gu, &wd, slices) {
        return Ok(false);
    }
    let activation = |label: &str, v: &[f32]| harness::upload_activation(gpu, label, v);
    let x = harness::uniform(&mut rng, dim, -1.0, 1.0);
    let g = harness::uniform(&mut rng, dim, 0.5, 1.5);
    let att = harness::uniform(&mut rng, dim, -1.0, 1.0);
    let (xb, gb, attb) = (
        activation("x", &x),
        activation("g", &g),
        activation("att", &att),
    );
    let eps = 1e-5;
    let step = harness::step_buffer(gpu);

    // Apart: h = gate(W_gu · norm(x)); y = x + W_d·h; then y += W_o·att.
    let hb = gpu.activation("h", (nff * 4) as u64);
    let up = ops::matvec_normed(gpu, &step, &gu, &xb, &gb, eps, &hb, gate)
        .context("the gate/up product fuses the norm")?;
    let ya = harness::upload_f32(gpu, &x);
    let down = ops::matvec_rows(gpu, &step, &wd, &hb, &ya, Epilogue::Accumulate)
        .context("h fits the uniform view")?;
    let out_a = ops::matvec_rows(gpu, &step, &wo, &attb, &ya, Epilogue::Accumulate)
        .context("att fits the uniform view")?;
    harness::submit(gpu, &step, harness::step(1, 0), &[&up, &down, &out_a]);
    let y_apart = harness::read_f32(gpu, &ya, dim).await?;
    let h = harness::read_f32(gpu, &hb, nff).await?;

    // Fused: the parts, then y = x + W_o·att + Σ parts.
    let parts = gpu.storage("parts", (slices as usize * dim * 4) as u64);
    let ffn = ops::ffn_matvec(
        gpu,
        &step,
        &gu,
        &wd,
        &xb,
        (&gb, eps),
        gate,
        (&parts, slices),
    )
    .context("ffn_matvec takes what ffn_fits does")?;
    let yb = harness::upload_f32(gpu, &x);
    let out_b = ops::matvec_adding_parts(gpu, &step, &wo, &attb, &yb, &parts, slices)
        .context("att fits the uniform view")?;
    harness::submit(gpu, &step, harness::step(1, 0), &[&ffn, &out_b]);
    let y_fused = harness::read_f32(gpu, &yb, dim).await?;

    let magnitude = |w: &[f32], v: &[f32], r: usize, n: usize| -> f64 {
        (0..n)
            .map(|i| (w[r * n + i] as f64 * v[i] as f64).abs())
            .sum()
    };
    let what = format!(
        "fused feed-forward {} {gate:?} in {store:?}, {slices} slices, against its twin",
        ty.name()
    );
    harness::assert_close_each(&what, &y_fused, &harness::widen(&y_apart), |r| Tol {
        abs: 1e-5
            * (magnitude(&wd_cpu, &h, r, nff)
                + magnitude(&wo_cpu, &att, r, dim)
                + x[r].abs() as f64)
            + 1e-6,
        rel: 0.0,
    })?;
    Ok(true)
}

/// The Q|K|V product of x short of two partial sums, given the sums, is
/// the product of x with them added (in the same order, in f32): the same
/// input to the same kernel, so the same q and caches, bit for bit.
async fn qkv_takes_the_parts_as_whole_x(gpu: &Gpu) -> Result<()> {
    let (ty, nh, nkv, hd) = (GgmlType::Q4_1, 2u32, 1u32, 64u32);
    let rows = (nh + 2 * nkv) * hd;
    let dim = DIM as usize;
    let mut rng = harness::rng(420);
    let file = harness::random_weight_bytes(&mut rng, ty, rows, DIM);
    let (w, _) = harness::upload_weight(gpu, ty, &file, rows, DIM)?;
    let short = harness::uniform(&mut rng, dim, -1.0, 1.0);
    let parts = harness::uniform(&mut rng, 2 * dim, -0.5, 0.5);
    let whole: Vec<f32> = (0..dim)
        .map(|i| short[i] + parts[i] + parts[dim + i])
        .collect();
    let g = harness::uniform(&mut rng, dim, 0.5, 1.5);
    let activation = |label: &str, v: &[f32]| harness::upload_activation(gpu, label, v);
    let (shortb, wholeb, gb) = (
        activation("x short", &short),
        activation("x", &whole),
        activation("g", &g),
    );
    let partsb = harness::upload_f32(gpu, &parts);
    let rope = RopeParams {
        n_head: nh,
        n_kv: nkv,
        head_dim: hd,
        rope_dim: hd,
        base: 10000.0,
        neox: 0,
        norm_eps: 0.0,
        _pad1: 0,
    };
    let step = harness::step_buffer(gpu);
    let (pos, ctx) = (3u32, 8u32);
    let cache_len = (ctx * nkv * hd) as usize;
    let kv16 = gpu.kv_f16();
    let mut out = Vec::new();
    for parts in [None, Some((&partsb, 2u32))] {
        let x = match parts {
            Some(_) => &shortb,
            None => &wholeb,
        };
        let q = gpu.storage("q", (nh * hd * 4) as u64);
        let zeros = vec![0.0f32; cache_len];
        let [kc, vc] = [0, 1].map(|_| harness::upload_kv(gpu, &zeros, kv16));
        let d = ops::qkv_matvec_parts(
            gpu,
            &step,
            &w,
            x,
            Some((&gb, 1e-5)),
            rope,
            [&q, &kc, &vc],
            None,
            parts,
        );
        let Some(d) = d else {
            anyhow::ensure!(
                !gpu.rows_per_lane(),
                "qkv_matvec refused a fused norm on a CPU adapter"
            );
            harness::note("qkv_matvec: no fused norm on this adapter");
            return Ok(());
        };
        harness::submit(gpu, &step, harness::step(1, pos), &[&d]);
        let mut got = harness::read_f32(gpu, &q, (nh * hd) as usize).await?;
        got.extend(harness::read_kv(gpu, &kc, cache_len, kv16).await?);
        got.extend(harness::read_kv(gpu, &vc, cache_len, kv16).await?);
        out.push(got);
    }
    harness::assert_close(
        "qkv_matvec of x short of two parts, given them, against x whole",
        &out[1],
        &harness::widen(&out[0]),
        Tol::EXACT,
    )
}
