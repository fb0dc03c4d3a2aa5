//! Work the GPU refuses (a validation error outside any error scope: here
//! a kernel whose WGSL does not parse) makes the next readback an error
//! that says so, not the buffer's stale bytes. In the browser such an error
//! used to vanish: a softmax kernel that Chromium's compiler rejected left
//! the page's prefill undone and its first token read back as 0 (end of
//! text), with nothing said. Natively wgpu would have panicked.
#![cfg(not(target_arch = "wasm32"))]

use anyhow::{bail, Result};
use locum_engine::{Error, Gpu};

#[test]
fn refused_work_fails_the_next_readback() -> Result<()> {
    let gpu = pollster::block_on(Gpu::new())?;
    let src = gpu.storage_init("src", &42u32.to_le_bytes());
    let rb = gpu.readback("rb", 4);
    let copy = |gpu: &Gpu| {
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&src, 0, &rb, 0, 4);
        gpu.queue.submit([enc.finish()]);
    };
    // Before: the readback is the copy.
    copy(&gpu);
    let before = pollster::block_on(gpu.read(&rb, 4))?;
    anyhow::ensure!(before == 42u32.to_le_bytes(), "read back {before:?}");
    // A kernel that does not parse, as `a >= b & c` does not in Tint.
    let _ = gpu
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("broken"),
            source: wgpu::ShaderSource::Wgsl("@compute @workgroup_size(1) fn main( {".into()),
        });
    copy(&gpu);
    match pollster::block_on(gpu.read(&rb, 4)) {
        Err(Error::GpuRefused(why)) => {
            anyhow::ensure!(
                why.contains("broken") || why.to_lowercase().contains("pars"),
                "{why}"
            );
            Ok(())
        }
        Err(e) => bail!("another error: {e}"),
        Ok(bytes) => bail!("the readback after refused work succeeded: {bytes:?}"),
    }
}
