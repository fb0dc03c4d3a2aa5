//! The explanation shown when this browser cannot run the assistant.

use leptos::prelude::*;

/// Tells the user, in plain words, that this browser has no WebGPU and what
/// to do about it.
#[component]
pub fn WebGpuMissing(
    /// The browser's own reason, shown small for whoever supports the user.
    #[prop(into)]
    detail: String,
) -> impl IntoView {
    view! {
        <section id="webgpu-missing" class="notice notice-blocking" role="alert">
            <h2>"This browser cannot run the assistant"</h2>
            <p>
                "Locum runs its language model on this computer's graphics processor, so that "
                "nothing you type leaves the computer. It needs a browser feature called "
                <strong>"WebGPU"</strong>", which this browser does not offer or has switched off."
            </p>
            <h3>"What to do"</h3>
            <ul>
                <li>
                    "Open this page in a recent "<strong>"Google Chrome"</strong>" or "
                    <strong>"Microsoft Edge"</strong>" (version 113 or later) on Windows, macOS or ChromeOS."
                </li>
                <li>
                    "On Linux, or if it still does not work, WebGPU must be switched on: in Chrome or "
                    "Edge open "<code>"chrome://flags/#enable-unsafe-webgpu"</code>", choose "
                    <em>"Enabled"</em>", and restart the browser. If your organisation manages the "
                    "browser, ask your IT team to enable WebGPU."
                </li>
                <li>"Make sure the browser and the graphics drivers are up to date."</li>
            </ul>
            <p class="detail">"Technical detail: " {detail}</p>
        </section>
    }
}
