//! Opening the GPU asks Mesa's CPU drivers (lavapipe, llvmpipe) for three
//! worker threads a core through `LP_NUM_THREADS`, before the process's
//! first Vulkan instance, and leaves a value the user set alone
//! (`gpu::cpu_driver_threads`, where the measurement behind it is). Its
//! own test binary: the variable is the process's, read once by the driver.
#![cfg(not(target_arch = "wasm32"))]

use anyhow::Result;
use locum_engine::gpu::cpu_driver_threads;
use locum_engine::Gpu;

#[test]
fn opening_the_gpu_sets_the_cpu_driver_threads_unless_set() -> Result<()> {
    let before = std::env::var_os("LP_NUM_THREADS");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gpu = pollster::block_on(Gpu::new())?;
    let now = std::env::var("LP_NUM_THREADS")?;
    match before {
        // The user's value stands.
        Some(b) => anyhow::ensure!(b.to_str() == Some(now.as_str()), "{b:?} became {now}"),
        None => {
            let want = cpu_driver_threads(None, cores).unwrap();
            anyhow::ensure!(
                now == want.to_string(),
                "LP_NUM_THREADS={now} on {cores} cores, want {want}"
            );
        }
    }
    // The device works with them: a copy reads back.
    let src = gpu.storage_init("src", &7u32.to_le_bytes());
    let rb = gpu.readback("rb", 4);
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&src, 0, &rb, 0, 4);
    gpu.queue.submit([enc.finish()]);
    let got = pollster::block_on(gpu.read(&rb, 4))?;
    anyhow::ensure!(got == 7u32.to_le_bytes(), "read back {got:?}");
    Ok(())
}
