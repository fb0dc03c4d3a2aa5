// Starts Locum's inference worker: the page runs `new Worker("./locum-worker-loader.js")`.
//
// Trunk's own `data-loader-shim` would do the same, but it calls wasm-bindgen's
// init with a deprecated argument (a console warning on every visit) and lets
// a failed load pass silently, leaving the page waiting forever. Here a failed
// load becomes the protocol's `Error` event, which the page shows.
importScripts('./locum-worker.js');
wasm_bindgen({ module_or_path: './locum-worker_bg.wasm' }).catch((e) => {
  postMessage(
    JSON.stringify({
      type: 'Error',
      message: `The assistant's engine could not be loaded (${e}). Reload the page to try again.`,
    }),
  );
});
