//! Decode's attention with its output product in one launch
//! (`attention_out.wgsl`: a workgroup a KV head, each writing W_o times its
//! heads' columns of att as a partial sum) against its twin, the two
//! launches it replaces: lane attention merged in its workgroup
//! (`attention_lanes.wgsl`) and the output product (`matvec.wgsl`). att
//! equal bit for bit; the partial sums' total W_o · att up to the order of
//! its sums. Heads whose columns start inside a group of four blocks
//! (three KV heads of 192), whose rows end short of a lane's sixteen, and
//! an attention window.

use anyhow::{Context, Result};
use locum_engine::ops::{self, AttentionParams, Epilogue};
use locum_engine::{GgmlType, Gpu};

use crate::harness::{self, gpu_tests, Tol};

gpu_tests!(attention_out_and_its_two_launches_twins);

async fn attention_out_and_its_two_launches_twins(gpu: &Gpu) -> Result<()> {
    // (type, query heads, KV heads, head size, rows of W_o, position, window)
    let cases = [
        (GgmlType::Q4_1, 9, 3, 64, 200, 5, 0),
        (GgmlType::Q4_0, 6, 2, 64, 96, 13, 0),
        (GgmlType::Q4_1, 8, 4, 32, 130, 40, 16),
    ];
    for (i, &(ty, nh, nkv, hd, rows, pos, window)) in cases.iter().enumerate() {
        let shape = (nh, nkv, hd, rows);
        if !out_case(gpu, ty, shape, pos, window, 700 + i as u64).await? {
            anyhow::ensure!(
                !gpu.rows_per_lane() || !gpu.x_q8(ty),
                "attention_out refused {} where the products are int8",
                ty.name()
            );
            harness::note("attention_out: not taken on this adapter");
            return Ok(());
        }
    }
    Ok(())
}

/// One case at position `pos` (the cache's rows before it random); false
/// where `ops::attention_out` does not take it.
async fn out_case(
    gpu: &Gpu,
    ty: GgmlType,
    (nh, nkv, hd, rows): (u32, u32, u32, u32),
    pos: u32,
    window: u32,
    seed: u64,
) -> Result<bool> {
    let mut rng = harness::rng(seed);
    let file = harness::random_weight_bytes(&mut rng, ty, rows, nh * hd);
    let (wo, _) = harness::upload_weight(gpu, ty, &file, rows, nh * hd)?;
    let ctx = 48u32;
    let kv16 = gpu.kv_f16();
    let cache_len = (ctx * nkv * hd) as usize;
    let k = harness::uniform(&mut rng, cache_len, -1.0, 1.0);
    let v = harness::uniform(&mut rng, cache_len, -1.0, 1.0);
    let q = harness::uniform(&mut rng, (nh * hd) as usize, -1.0, 1.0);
    let attn = AttentionParams {
        n_head: nh,
        n_kv: nkv,
        head_dim: hd,
        window,
        scale: 1.0 / (hd as f32).sqrt(),
        stride: ops::row_stride(ctx),
        _pad1: 0,
        _pad2: 0,
    };
    let step = harness::step_buffer(gpu);
    let qb = harness::upload_activation(gpu, "q", &q);
    let (kc, vc) = (
        harness::upload_kv(gpu, &k, kv16),
        harness::upload_kv(gpu, &v, kv16),
    );
    // Two rows before the partial sums (another launch's), left as they were.
    let first = 2u32;
    let n = rows as usize;
    let before = harness::uniform(&mut rng, (first + nkv) as usize * n, -1.0, 1.0);
    let parts = harness::upload_f32(gpu, &before);
    let att = gpu.activation("att", (nh * hd * 4) as u64);
    let caches = [&qb, &kc, &vc];
    let Some(joined) =
        ops::attention_out(gpu, &step, attn, caches, None, &att, &wo, (&parts, first))
    else {
        return Ok(false);
    };
    harness::submit(gpu, &step, harness::step(1, pos), &[&joined]);
    let got_att = harness::read_f32(gpu, &att, (nh * hd) as usize).await?;
    let got_parts = harness::read_f32(gpu, &parts, (first + nkv) as usize * n).await?;

    // Again reading the cache's mirror in storage textures, where the
    // adapter takes one (an f16 cache on lavapipe): the same values.
    if kv16 && gpu.clone().with_kv_mirror(true).kv_mirror() {
        let m = ops::KvMirror::new(gpu, "mirror", ctx, nkv, hd).context("a mirror")?;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        m.copy_rows(&mut enc, &kc, &vc, 0, ctx);
        gpu.queue.submit([enc.finish()]);
        let parts_m = harness::upload_f32(gpu, &before);
        let att_m = gpu.activation("att", (nh * hd * 4) as u64);
        let d = ops::attention_out(
            gpu,
            &step,
            attn,
            caches,
            Some(&m),
            &att_m,
            &wo,
            (&parts_m, first),
        )
        .context("attention_out takes the mirror")?;
        harness::submit(gpu, &step, harness::step(1, pos), &[&d]);
        let mut got = harness::read_f32(gpu, &att_m, (nh * hd) as usize).await?;
        got.extend(harness::read_f32(gpu, &parts_m, (first + nkv) as usize * n).await?);
        let mut want = got_att.clone();
        want.extend(&got_parts);
        harness::assert_close(
            &format!(
                "attention_out {} from the mirror, position {pos}",
                ty.name()
            ),
            &got,
            &harness::widen(&want),
            Tol::EXACT,
        )?;
    }

    let att2 = gpu.activation("att", (nh * hd * 4) as u64);
    let y = harness::upload_f32(gpu, &vec![0.0; n]);
    let attend = ops::attention_lanes_merged(gpu, &step, attn, &qb, &kc, &vc, None, &att2)
        .context("lane attention takes what attention_out does")?;
    let product = ops::matvec_rows(gpu, &step, &wo, &att2, &y, Epilogue::Store)
        .context("the output product takes what attention_out does")?;
    harness::submit(gpu, &step, harness::step(1, pos), &[&attend, &product]);
    let want_att = harness::read_f32(gpu, &att2, (nh * hd) as usize).await?;
    let want_y = harness::read_f32(gpu, &y, n).await?;

    let what = format!(
        "attention_out {} ({nh} heads, {nkv} KV heads of {hd}, {rows} rows, position {pos}, window {window})",
        ty.name()
    );
    harness::assert_close(
        &format!("{what}: att"),
        &got_att,
        &harness::widen(&want_att),
        Tol::EXACT,
    )?;
    // The rows before the partial sums are untouched.
    let head = (first as usize) * n;
    harness::assert_close(
        &format!("{what}: the rows before"),
        &got_parts[..head],
        &harness::widen(&before[..head]),
        Tol::EXACT,
    )?;
    let total: Vec<f32> = (0..n)
        .map(|r| (0..nkv as usize).map(|h| got_parts[head + h * n + r]).sum())
        .collect();
    let tol = Tol {
        abs: 1e-3,
        rel: 1e-4,
    };
    harness::assert_close(
        &format!("{what}: Σ parts"),
        &total,
        &harness::widen(&want_y),
        tol,
    )?;
    Ok(true)
}
