//! Every WGSL kernel against a plain-Rust CPU twin, on seeded random inputs,
//! with a stated tolerance; a failure names the first index out of it
//! (`index {i}: gpu {a} vs reference {b}`).
//!
//! The same async test bodies run natively (`cargo test -p locum-engine
//! --test kernels`: wgpu on Vulkan, lavapipe on a machine without a GPU) and
//! in a browser (`scripts/test-browser-kernels.sh`: wasm-bindgen-test in
//! headless Chromium, WebGPU on SwiftShader); see `harness::gpu_tests!`.
//! Sizes are small and odd on purpose: rows not a multiple of a workgroup's,
//! batches not a multiple of a tile's, positions across attention's 64-chunks.

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod harness;

mod argmax_rows;
mod attention;
mod embed;
mod ffn;
mod layer_tail;
mod matmul;
mod nll;
mod rms_norm;
mod rope_kv;
mod sample;
mod silu_mul;
