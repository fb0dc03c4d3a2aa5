//! What every kernel test shares: its GPU, seeded random inputs,
//! random quantized weights in the file layout, one submission of a few
//! launches, reading results back, and the comparison with a CPU twin under a
//! stated tolerance that names the first index out of it.
//!
//! Outside `src/gpu` and `src/ops`, this file is the one place that records
//! wgpu commands: a test has to write the step uniform, encode a pass and copy
//! a result out, as `model::forward` does.

use anyhow::{bail, ensure, Context, Result};
use half::f16;
use locum_engine::format::quant::{dequantize, repack_for_gpu};
use locum_engine::ops::{Dispatch, Step, Weight, WeightData};
use locum_engine::{GgmlType, Gpu};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Declares runners for async kernel tests, each
/// `async fn name(gpu: &Gpu) -> anyhow::Result<()>` in the calling module:
/// natively a `#[test]` that blocks on it (wgpu on Vulkan: lavapipe here, or
/// a real GPU), on wasm32 a `#[wasm_bindgen_test]` that awaits it in a
/// browser (WebGPU), as candle's `test_device!` runs one body on every
/// device. The runners sit in a `gpu` submodule so they keep the body's name:
/// `matmul::gpu::q4_1`.
macro_rules! gpu_tests {
    ($($name:ident),+ $(,)?) => {
        mod gpu {
            $(
                #[cfg(not(target_arch = "wasm32"))]
                #[test]
                fn $name() -> anyhow::Result<()> {
                    pollster::block_on(async {
                        let gpu = crate::harness::test_gpu().await?;
                        super::$name(&gpu).await
                    })
                }

                #[cfg(target_arch = "wasm32")]
                #[wasm_bindgen_test::wasm_bindgen_test]
                async fn $name() -> anyhow::Result<()> {
                    let gpu = crate::harness::test_gpu().await?;
                    super::$name(&gpu).await
                }
            )+
        }
    };
}
pub(crate) use gpu_tests;

/// The GPU for one test. Natively each test opens its own device (each test
/// runs on its own thread, `Gpu` is not `Send`, and a device kept in a
/// thread-local cannot be dropped: wgpu-core's `Queue::drop` itself uses
/// thread-locals, which are gone by then). In the browser every test runs
/// on the one thread, which never exits, so the device is opened once.
pub async fn test_gpu() -> Result<Gpu> {
    #[cfg(target_arch = "wasm32")]
    if let Some(gpu) = GPU.with(|g| g.borrow().clone()) {
        return Ok(gpu);
    }
    let gpu = Gpu::new()
        .await
        .context("opening the GPU for kernel tests")?;
    #[cfg(target_arch = "wasm32")]
    GPU.with(|g| *g.borrow_mut() = Some(gpu.clone()));
    Ok(gpu)
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    static GPU: std::cell::RefCell<Option<Gpu>> = const { std::cell::RefCell::new(None) };
}

/// Prints a line of test output: stderr natively, the browser console in
/// wasm; the runners show it on failure or with `--nocapture`.
pub fn note(msg: &str) {
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{msg}");
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::console_log!("{}", msg);
}

// ---------------------------------------------------------------- inputs

/// The random source of a test: always seeded, so a failure repeats.
pub fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

/// `n` values drawn uniformly from [lo, hi).
pub fn uniform(rng: &mut SmallRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(lo..hi)).collect()
}

/// A random f16 of magnitude in [lo, hi), with a random sign when `signed`.
fn scale(rng: &mut SmallRng, lo: f32, hi: f32, signed: bool) -> [u8; 2] {
    let mut v = rng.gen_range(lo..hi);
    if signed && rng.gen::<bool>() {
        v = -v;
    }
    f16::from_f32(v).to_le_bytes()
}

/// A random (n_out, n_in) matrix of type `ty` in the GGUF file layout
/// (`format::quant`'s block structs): values in about [-1, 1] for the float
/// types; for the quantized ones random quant bytes under f16 scales of the
/// size real weights have (Q4_0 |d| in [0.01, 0.1), signed; Q4_1 d in
/// [0.005, 0.05), m in [-0.4, 0.1); Q8_0 |d| in [0.002, 0.02), signed).
pub fn random_weight_bytes(rng: &mut SmallRng, ty: GgmlType, n_out: u32, n_in: u32) -> Vec<u8> {
    let n = (n_out * n_in) as usize;
    let blocks = n / 32;
    let mut out = Vec::with_capacity(n / ty.block_len() * ty.block_bytes());
    match ty {
        GgmlType::F32 => {
            for v in uniform(rng, n, -1.0, 1.0) {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for v in uniform(rng, n, -1.0, 1.0) {
                out.extend_from_slice(&f16::from_f32(v).to_le_bytes());
            }
        }
        GgmlType::Q4_0 => {
            for _ in 0..blocks {
                out.extend_from_slice(&scale(rng, 0.01, 0.1, true));
                out.extend((0..16).map(|_| rng.gen::<u8>()));
            }
        }
        GgmlType::Q4_1 => {
            for _ in 0..blocks {
                out.extend_from_slice(&scale(rng, 0.005, 0.05, false));
                out.extend_from_slice(&f16::from_f32(rng.gen_range(-0.4..0.1)).to_le_bytes());
                out.extend((0..16).map(|_| rng.gen::<u8>()));
            }
        }
        GgmlType::Q8_0 => {
            for _ in 0..blocks {
                out.extend_from_slice(&scale(rng, 0.002, 0.02, true));
                out.extend((0..32).map(|_| rng.gen::<u8>()));
            }
        }
        GgmlType::Q5_0 => {
            for _ in 0..blocks {
                out.extend_from_slice(&scale(rng, 0.005, 0.05, true));
                out.extend((0..20).map(|_| rng.gen::<u8>()));
            }
        }
        GgmlType::Q4_K => {
            // d, dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles.
            for _ in 0..n / 256 {
                out.extend_from_slice(&scale(rng, 0.0005, 0.003, false));
                out.extend_from_slice(&scale(rng, 0.0005, 0.005, false));
                out.extend((0..140).map(|_| rng.gen::<u8>()));
            }
        }
        GgmlType::Q6_K => {
            // ql, qh, 16 signed scales, d.
            for _ in 0..n / 256 {
                out.extend((0..192).map(|_| rng.gen::<u8>()));
                out.extend((0..16).map(|_| rng.gen_range(-40i8..40) as u8));
                out.extend_from_slice(&scale(rng, 0.0002, 0.001, false));
            }
        }
        other => panic!("no random blocks for {}", other.name()),
    }
    out
}

/// Where a test's weights go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Where the model loader puts them on this adapter.
    Adapter,
    /// A storage buffer (`weights_buffer.wgsl`).
    Buffer,
    /// A sampled texture (`weights_texture.wgsl`).
    Texture,
    /// A read-only storage texture (`weights_storage.wgsl`).
    StorageTexture,
}

/// Uploads a file-layout matrix the way the model loader does
/// (`repack_for_gpu`), and returns it with its CPU dequantization
/// (`dequantize`), the reference values, row-major (n_out, n_in).
pub fn upload_weight(
    gpu: &Gpu,
    ty: GgmlType,
    file_bytes: &[u8],
    n_out: u32,
    n_in: u32,
) -> Result<(Weight, Vec<f32>)> {
    upload_weight_in(gpu, Store::Adapter, ty, file_bytes, n_out, n_in)
}

/// [`upload_weight`] into a buffer or a texture, whatever the adapter.
pub fn upload_weight_in(
    gpu: &Gpu,
    store: Store,
    ty: GgmlType,
    file_bytes: &[u8],
    n_out: u32,
    n_in: u32,
) -> Result<(Weight, Vec<f32>)> {
    let words =
        repack_for_gpu(ty, file_bytes, n_in as usize).context("repack_for_gpu refused the type")?;
    let values = dequantize(ty, file_bytes).context("dequantize refused the type")?;
    ensure!(
        values.len() == (n_out * n_in) as usize,
        "{} bytes of {} hold {} values, not {n_out}×{n_in}",
        file_bytes.len(),
        ty.name(),
        values.len()
    );
    let bytes: &[u8] = bytemuck::cast_slice(&words);
    let data = match store {
        Store::Adapter => WeightData::allocate(gpu, "test weight", bytes.len() as u64),
        Store::Buffer => WeightData::Buffer(gpu.storage("test weight", bytes.len() as u64)),
        Store::Texture => WeightData::texture_as(gpu, "test weight", bytes.len() as u64, false)
            .context("the test weight fits a texture")?,
        Store::StorageTexture => {
            WeightData::texture_as(gpu, "test weight", bytes.len() as u64, true)
                .context("the test weight fits a texture")?
        }
    };
    data.write(gpu, bytes);
    let weight = Weight {
        data,
        ty,
        n_in,
        n_out,
    };
    Ok((weight, values))
}

/// A storage buffer holding `data`.
pub fn upload_f32(gpu: &Gpu, data: &[f32]) -> wgpu::Buffer {
    gpu.storage_init("test input", bytemuck::cast_slice(data))
}

/// An activation buffer ([`Gpu::activation`]: the decode kernels read it as
/// a uniform too) holding `data`.
pub fn upload_activation(gpu: &Gpu, label: &str, data: &[f32]) -> wgpu::Buffer {
    let b = gpu.activation(label, (data.len() * 4) as u64);
    gpu.queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
    b
}

// ---------------------------------------------------------------- the KV cache

/// The devices a KV-cache kernel is tested on: `gpu` with the f32 cache, and
/// with the f16 one where the device has `shader-f16` (lavapipe and GPUs;
/// SwiftShader has none, so the browser tests run f32 alone). The flag says
/// which.
pub fn kv_gpus(gpu: &Gpu) -> Vec<(Gpu, bool)> {
    let mut out = vec![(gpu.clone().with_kv_f16(false), false)];
    match gpu.summary.shader_f16 {
        true => out.push((gpu.clone().with_kv_f16(true), true)),
        false => note("no shader-f16 on this adapter: the f16 KV cache is not tested here"),
    }
    out
}

/// `data` as an f16 KV cache holds it (rounded to nearest), or as it is.
pub fn round_kv(data: &[f32], kv16: bool) -> Vec<f32> {
    match kv16 {
        true => data.iter().map(|&x| f16::from_f32(x).to_f32()).collect(),
        false => data.to_vec(),
    }
}

/// A KV-cache buffer holding `data`, in f16 or f32.
pub fn upload_kv(gpu: &Gpu, data: &[f32], kv16: bool) -> wgpu::Buffer {
    match kv16 {
        true => {
            let halves: Vec<u16> = data.iter().map(|&x| f16::from_f32(x).to_bits()).collect();
            gpu.storage_init("test kv", bytemuck::cast_slice(&halves))
        }
        false => upload_f32(gpu, data),
    }
}

/// The first `len` values of a KV-cache buffer, in f16 or f32, widened.
pub async fn read_kv(gpu: &Gpu, buf: &wgpu::Buffer, len: usize, kv16: bool) -> Result<Vec<f32>> {
    if !kv16 {
        return read_f32(gpu, buf, len).await;
    }
    let bytes = read_words(gpu, buf, len.div_ceil(2)).await?;
    Ok(bytes
        .chunks_exact(2)
        .take(len)
        .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect())
}

/// A storage buffer holding `data`.
pub fn upload_u32(gpu: &Gpu, data: &[u32]) -> wgpu::Buffer {
    gpu.storage_init("test input", bytemuck::cast_slice(data))
}

// ---------------------------------------------------------------- launching

/// The step uniform of a batch of `n_tokens` starting at position `pos`.
pub fn step(n_tokens: u32, pos: u32) -> Step {
    Step {
        n_tokens,
        pos,
        kv_len: pos + n_tokens,
        rng_step: 0,
    }
}

/// The step uniform buffer the ops bind at binding 0 (written by `submit`).
pub fn step_buffer(gpu: &Gpu) -> wgpu::Buffer {
    gpu.uniform_init("step", bytemuck::bytes_of(&Step::default()))
}

/// Writes `step` into `step_buf`, records `dispatches` in one compute pass
/// for its batch and submits, as `Model::run` does.
pub fn submit(gpu: &Gpu, step_buf: &wgpu::Buffer, step: Step, dispatches: &[&Dispatch]) {
    gpu.queue
        .write_buffer(step_buf, 0, bytemuck::bytes_of(&step));
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        for d in dispatches {
            d.encode(&mut pass, step.n_tokens);
        }
    }
    gpu.queue.submit([enc.finish()]);
}

/// The first `len` 32-bit words of `buf`, once the work submitted before is done.
async fn read_words(gpu: &Gpu, buf: &wgpu::Buffer, len: usize) -> Result<Vec<u8>> {
    let bytes = 4 * len as u64;
    let rb = gpu.readback("test readback", bytes);
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(buf, 0, &rb, 0, bytes);
    gpu.queue.submit([enc.finish()]);
    Ok(gpu.read(&rb, bytes).await?)
}

/// The first `len` f32 values of `buf`.
pub async fn read_f32(gpu: &Gpu, buf: &wgpu::Buffer, len: usize) -> Result<Vec<f32>> {
    // pod_collect_to_vec, not cast_slice: a Vec<u8> need not be 4-aligned.
    Ok(bytemuck::pod_collect_to_vec(
        &read_words(gpu, buf, len).await?,
    ))
}

/// The first `len` u32 values of `buf`.
pub async fn read_u32(gpu: &Gpu, buf: &wgpu::Buffer, len: usize) -> Result<Vec<u32>> {
    Ok(bytemuck::pod_collect_to_vec(
        &read_words(gpu, buf, len).await?,
    ))
}

// ---------------------------------------------------------------- comparing

/// How far a GPU value may be from the reference: |gpu − ref| ≤ abs + rel·|ref|.
#[derive(Debug, Clone, Copy)]
pub struct Tol {
    pub abs: f64,
    pub rel: f64,
}

impl Tol {
    /// Bit-for-bit (copies, values the kernel must leave alone).
    pub const EXACT: Tol = Tol { abs: 0.0, rel: 0.0 };
}

/// Checks `gpu` against `reference` value by value; the error names the
/// first index out of tolerance. On success notes the largest difference,
/// which is what a tolerance should be set from.
pub fn assert_close(what: &str, gpu: &[f32], reference: &[f64], tol: Tol) -> Result<()> {
    assert_close_each(what, gpu, reference, |_| tol)
}

/// [`assert_close`] with a tolerance per index (e.g. one scaled to the
/// magnitude of the sum that produced the value).
pub fn assert_close_each(
    what: &str,
    gpu: &[f32],
    reference: &[f64],
    tol: impl Fn(usize) -> Tol,
) -> Result<()> {
    ensure!(
        gpu.len() == reference.len(),
        "{what}: gpu gave {} values, reference {}",
        gpu.len(),
        reference.len()
    );
    let mut worst = (0usize, 0f64);
    for (i, (&a, &b)) in gpu.iter().zip(reference).enumerate() {
        let t = tol(i);
        let d = (a as f64 - b).abs();
        // NaN (from either side) fails too.
        let within = d <= t.abs + t.rel * b.abs();
        if !within {
            bail!(
                "{what}: index {i}: gpu {a} vs reference {b} (|diff| {d:.3e}, tolerance {:.1e} + {:.1e}·|ref|)",
                t.abs,
                t.rel
            );
        }
        if d > worst.1 {
            worst = (i, d);
        }
    }
    note(&format!(
        "{what}: {} values within tolerance, max |gpu - ref| {:.3e} at index {}",
        gpu.len(),
        worst.1,
        worst.0
    ));
    Ok(())
}

/// Widens f32 CPU values (inputs that pass through unchanged) for comparison.
pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}
