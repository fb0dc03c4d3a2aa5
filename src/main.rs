//! Locum's page: a Leptos app (client-side rendered) whose assistant runs in
//! a dedicated Web Worker. See `app.rs` for the layout, and `state/offline.rs`
//! for the service worker that lets it open offline.

mod app;
mod components;
mod state;

fn main() {
    console_error_panic_hook::set_once();
    // A second init (there is none) would be the only failure: ignore it.
    let _ = console_log::init_with_level(log::Level::Info);
    leptos::mount::mount_to_body(app::App);
    // After the mount, so the page is up before the service worker's
    // install fetches the app files again.
    state::offline::register_service_worker();
    state::offline::request_persistent_storage();
}
