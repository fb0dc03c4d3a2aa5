//! `locum-worker`: the dedicated Web Worker that runs Locum's engine, so the
//! page never waits on the GPU or on a download.
//!
//! Trunk builds it from `index.html` (`data-type="worker"`, wasm-bindgen's
//! `no-modules` target); the page starts it with
//! `new Worker("./locum-worker-loader.js")` (see `locum-worker-loader.js`
//! beside this crate's Cargo.toml). The messages it speaks are the
//! library's [`locum_worker::Request`] and [`locum_worker::Event`].
//!
//! This binary only means something in a browser; natively it says so and
//! exits, which keeps `cargo build --workspace` working.

#[cfg(target_arch = "wasm32")]
mod loader;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(target_arch = "wasm32")]
mod runner;

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    // A second init (there is none) would be the only failure: ignore it.
    let _ = console_log::init_with_level(log::Level::Info);
    runner::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "locum-worker runs only in a browser, as a Web Worker: build the app with `trunk build` \
         (see index.html). On this machine use the `locum` command instead."
    );
    std::process::exit(2);
}
