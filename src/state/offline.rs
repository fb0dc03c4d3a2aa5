//! The offline app shell: registers the service worker (`public/sw.js`,
//! served as `./sw.js`) that keeps the page's own files for offline visits.
//!
//! The service worker caches the app (HTML, JS, wasm, CSS) only. It never
//! touches the model's shards, which the engine worker stores itself,
//! content-addressed. Without service workers (an old browser, a page not
//! served over HTTPS or from localhost, a private window that forbids them)
//! the page works as before, online only; that is logged, never shown.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ServiceWorkerContainer, ServiceWorkerRegistration};

use super::webgpu::describe;

/// The service worker's script, relative to the page; its scope is the
/// page's folder.
const SERVICE_WORKER_SCRIPT: &str = "./sw.js";

/// Registers the service worker in the background. Never fails: absence or
/// refusal is logged.
pub fn register_service_worker() {
    wasm_bindgen_futures::spawn_local(async {
        match register().await {
            Ok(scope) => log::info!("offline app shell: service worker registered for {scope}"),
            Err(why) => log::info!("offline app shell unavailable: {why}"),
        }
    });
}

/// Asks the browser to keep this site's storage (the model's shards) even
/// when the disk fills up: `navigator.storage.persist()`, which exists only
/// on the page, not in the worker. The browser may say no; the model then
/// stays stored until the browser needs the room.
pub fn request_persistent_storage() {
    wasm_bindgen_futures::spawn_local(async {
        let granted = async {
            let navigator: JsValue = web_sys::window()?.navigator().into();
            let storage = Reflect::get(&navigator, &JsValue::from_str("storage")).ok()?;
            let persist = Reflect::get(&storage, &JsValue::from_str("persist")).ok()?;
            let persist: js_sys::Function = persist.dyn_into().ok()?;
            let promise: js_sys::Promise = persist.call0(&storage).ok()?.dyn_into().ok()?;
            JsFuture::from(promise).await.ok()?.as_bool()
        }
        .await;
        log::info!("persistent storage for the model: {granted:?}");
    });
}

/// Registers `./sw.js`; the scope it controls, or why it could not.
async fn register() -> Result<String, String> {
    let window = web_sys::window().ok_or("no browser window")?;
    // `navigator.serviceWorker` is missing outside secure contexts and in
    // some browsers; web-sys's getter would hand back `undefined` unchecked.
    let navigator: JsValue = window.navigator().into();
    let container = Reflect::get(&navigator, &JsValue::from_str("serviceWorker"))
        .ok()
        .and_then(|c| c.dyn_into::<ServiceWorkerContainer>().ok())
        .ok_or("this browser offers no service workers here")?;
    let registration = JsFuture::from(container.register(SERVICE_WORKER_SCRIPT))
        .await
        .map_err(|e| {
            format!(
                "registering {SERVICE_WORKER_SCRIPT} failed: {}",
                describe(&e)
            )
        })?;
    Ok(registration
        .dyn_into::<ServiceWorkerRegistration>()
        .map(|r| r.scope())
        .unwrap_or_default())
}
