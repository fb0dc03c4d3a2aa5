// The page side of tests/e2e/bench-wllama.mjs: loads a GGUF into wllama
// (llama.cpp in wasm) and times prefill and decode. The program calls
// `window.wllamaBench(options)` and gets one result object back.
//
// wllama 3 has no tokenize/decode/sampling calls of its own any more (its
// core is llama-server's server-context), so each measurement is one raw
// completion: prefill and decode times are llama.cpp's own `timings` for
// that request (prompt_ms, predicted_ms), the time to first token is taken
// here, from the call to the first streamed token.

import { Wllama } from '/node_modules/@wllama/wllama/esm/index.js';

const status = document.getElementById('status');
const logs = [];
const keep = (level) => (...args) => {
  logs.push(`${level}: ${args.map((a) => (typeof a === 'string' ? a : safeJson(a))).join(' ')}`);
  if (logs.length > 2000) logs.splice(0, logs.length - 2000);
};
const logger = { debug: keep('debug'), log: keep('log'), warn: keep('warn'), error: keep('error') };

function safeJson(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** One raw completion, streamed; resolves to its timings and our own clock. */
async function complete(wllama, prompt, maxTokens) {
  const t0 = performance.now();
  let first = null;
  let last = null;
  let pieces = 0;
  let text = '';
  let timings = null;
  let usage = null;
  await wllama.createCompletion({
    prompt,
    max_tokens: maxTokens,
    temperature: 0,
    ignore_eos: true,
    cache_prompt: false,
    stream: true,
    onData: (chunk) => {
      const now = performance.now();
      const piece = chunk?.choices?.[0]?.text;
      if (piece) {
        first ??= now;
        last = now;
        pieces += 1;
        text += piece;
      }
      if (chunk?.timings) timings = chunk.timings;
      if (chunk?.usage) usage = chunk.usage;
    },
  });
  const end = performance.now();
  if (!timings) throw new Error('wllama returned no timings for the completion');
  return { t0, first, last, end, pieces, text, timings, usage };
}

window.wllamaBench = async (opts) => {
  const {
    modelUrl,
    wasmUrl,
    threads,
    gpuLayers = 0,
    nCtx = 1024,
    sentence,
    shortRepeats = 8,
    longTarget = 512,
    decodeTokens = 32,
  } = opts;
  const result = {
    cross_origin_isolated: self.crossOriginIsolated === true,
    hardware_concurrency: navigator.hardwareConcurrency,
    user_agent: navigator.userAgent,
    libllama: Wllama.getLibllamaVersion(),
    logs,
  };
  try {
    status.textContent = 'downloading the model';
    const t0 = performance.now();
    const response = await fetch(modelUrl);
    if (!response.ok) throw new Error(`GET ${modelUrl}: ${response.status} ${response.statusText}`);
    const blob = await response.blob();
    const t1 = performance.now();
    status.textContent = 'loading the model';
    const wllama = new Wllama({ default: wasmUrl }, { logger });
    result.webgpu_available = wllama.isSupportWebGPU();
    await wllama.loadModel([blob], {
      n_threads: threads,
      n_gpu_layers: gpuLayers,
      n_ctx: nCtx,
      n_batch: 512,
      n_ubatch: 512,
      n_parallel: 1,
    });
    const t2 = performance.now();
    result.model_bytes = blob.size;
    result.fetch_ms = t1 - t0;
    result.init_ms = t2 - t1;
    result.load_ms = t2 - t0;
    // performance.now() counts from the navigation's start: page open to model ready
    result.page_open_to_ready_ms = t2;
    result.multithread = wllama.isMultithread();
    result.threads = wllama.getNumThreads();
    const info = wllama.getLoadedContextInfo();
    // wllama resolves loadModel even when llama.cpp could not load the file
    if (info.success === false || !info.n_vocab) {
      const why = logs.filter((l) => l.startsWith('error:')).slice(-3).join('; ');
      throw new Error(`llama.cpp could not load the model${why ? `: ${why}` : ''}`);
    }
    result.n_ctx = info.n_ctx;
    result.n_batch = info.n_batch;
    result.n_ubatch = info.n_ubatch;

    // Warm-up, and the prompt's token count per sentence: 1 and 2 sentences.
    status.textContent = 'warming up';
    const one = await complete(wllama, sentence, 1);
    const two = await complete(wllama, sentence.repeat(2), 1);
    const perSentence = two.timings.prompt_n - one.timings.prompt_n;
    const longRepeats = Math.max(1, 1 + Math.round((longTarget - one.timings.prompt_n) / Math.max(1, perSentence)));
    result.calibration = { one_sentence_tokens: one.timings.prompt_n, tokens_per_sentence: perSentence, long_repeats: longRepeats };

    result.prompts = [];
    for (const [name, repeats] of [['short', shortRepeats], ['long', longRepeats]]) {
      if (name === 'long' && !longTarget) continue;
      status.textContent = `measuring the ${name} prompt`;
      const r = await complete(wllama, sentence.repeat(repeats), decodeTokens);
      const t = r.timings;
      result.prompts.push({
        name,
        repeats,
        prompt_tokens: t.prompt_n,
        cached_tokens: t.cache_n,
        prefill_ms: t.prompt_ms,
        prefill_tokens_per_s: (t.prompt_n / t.prompt_ms) * 1e3,
        time_to_first_token_ms: r.first - r.t0,
        decode_tokens: t.predicted_n,
        decode_ms: t.predicted_ms,
        // llama.cpp's clock starts at the first sampled token, so predicted_ms
        // spans predicted_n - 1 decode steps (its predicted_per_second agrees)
        decode_tokens_per_s: ((t.predicted_n - 1) / t.predicted_ms) * 1e3,
        decode_tokens_per_s_llama_cpp: t.predicted_per_second,
        // the same from this page's clock: first to last streamed piece
        decode_tokens_per_s_page: r.pieces > 1 ? ((r.pieces - 1) / (r.last - r.first)) * 1e3 : null,
        streamed_pieces: r.pieces,
        request_ms: r.end - r.t0,
        text: r.text,
      });
    }
    await wllama.exit();
    status.textContent = 'done';
    result.ok = true;
  } catch (e) {
    status.textContent = 'failed';
    result.ok = false;
    result.error = String(e?.stack ?? e);
  }
  return result;
};
status.textContent = 'ready';
document.body.dataset.ready = 'true';
