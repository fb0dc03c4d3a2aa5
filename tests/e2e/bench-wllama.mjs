// wllama (llama.cpp compiled to wasm, @wllama/wllama from npm, pinned in
// package.json) in the browser, measured: a benchmark program, not a test.
// It is what tests/e2e/bench.mjs measures for Locum, on the same GGUF, from
// the same local server (server.mjs, with the harness page tests/e2e/wllama/
// and the package's files mounted), in the same headless Chromium with the
// same flags, so that the two can be compared in one run (scripts/bench.py
// --browser does).
//
//   node tests/e2e/bench-wllama.mjs [--json] [--model .models/SmolLM2-135M-Instruct.Q4_1.gguf]
//        [--threads N] [--webgpu] [--no-long] [--no-isolation] [--verbose]
//
// Load: the GGUF fetched from 127.0.0.1 into a Blob, then wllama's
// loadModel (wasm start, model load, llama.cpp's warm-up). Then, greedy, for
// the ~200-token prompt bench.mjs asks (the same text) and for one of about
// 512 tokens (the sentence repeated): prefill tokens/s and decode tokens/s
// (32 tokens, end of sequence ignored) from llama.cpp's own timings of the
// request, and the time to first token on the page's clock. The page is
// cross-origin isolated (COOP/COEP), which wllama's multi-thread mode needs;
// it runs on the CPU with as many threads as the machine has cores unless
// --threads says otherwise. --webgpu measures wllama on Chromium's WebGPU
// adapter too (llama.cpp's WebGPU backend); on SwiftShader that backend
// offloaded no layer when this was written, and the program then says so.
// --json prints one JSON object instead of the tables.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { BASE_FLAGS, CHROMIUM, WEBGPU_FLAGS } from './browser.mjs';
import { repoRoot, startServer } from './server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// The sentence bench.mjs (and `locum bench`) repeats; bench.mjs asks it 8 times.
const SENTENCE = 'The patient is a 54-year-old woman with two days of fever, cough and pleuritic chest pain. ';
const SHORT_REPEATS = 8;
const LONG_TARGET = 512;
const DECODE_TOKENS = 32;
const PAGE_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = 20 * 60_000;

function args(argv) {
  const out = { json: false, model: path.join('.models', 'SmolLM2-135M-Instruct.Q4_1.gguf'), threads: 0, webgpu: false, long: true, isolation: true, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--json') out.json = true;
    else if (a === '--model') out.model = value();
    else if (a === '--threads') out.threads = Number(value());
    else if (a === '--webgpu') out.webgpu = true;
    else if (a === '--no-long') out.long = false;
    else if (a === '--no-isolation') out.isolation = false;
    else if (a === '--verbose') out.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n\n')[0]);
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (see --help)`);
  }
  if (!Number.isInteger(out.threads) || out.threads < 0) throw new Error('--threads must be a whole number');
  return out;
}

/** Rejects after `ms` with a message naming `what`. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${(ms / 1e3).toFixed(0)} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One configuration in a fresh page: the page's result object. */
async function measure(context, server, opt, { gpuLayers, threads, modelName }) {
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  try {
    const t0 = Date.now();
    await page.goto(`${server.url}wllama/index.html`, { timeout: PAGE_TIMEOUT_MS });
    await page.waitForSelector('body[data-ready="true"]', { timeout: PAGE_TIMEOUT_MS });
    const result = await within(RUN_TIMEOUT_MS, `wllama (${gpuLayers ? 'WebGPU' : 'CPU'})`, page.evaluate((o) => window.wllamaBench(o), {
      modelUrl: `/models/${encodeURIComponent(modelName)}`,
      wasmUrl: '/node_modules/@wllama/wllama/esm/wasm/wllama.wasm',
      threads,
      gpuLayers,
      sentence: SENTENCE,
      shortRepeats: SHORT_REPEATS,
      longTarget: opt.long ? LONG_TARGET : 0,
      decodeTokens: DECODE_TOKENS,
    }));
    result.page_open_to_done_ms = Date.now() - t0;
    const logs = result.logs ?? [];
    delete result.logs;
    const offload = logs.map((l) => /offloaded (\d+)\/(\d+) layers to GPU/.exec(l)).find(Boolean);
    result.gpu_layers_requested = gpuLayers;
    result.gpu_layers_offloaded = offload ? Number(offload[1]) : 0;
    result.backend = result.gpu_layers_offloaded > 0 ? 'WebGPU' : 'CPU (wasm)';
    if (gpuLayers > 0 && result.gpu_layers_offloaded === 0) {
      result.webgpu_unused = true;
      console.error("bench-wllama: WebGPU was asked for, but llama.cpp's WebGPU backend offloaded no layer (it ran on the CPU)");
    }
    if (opt.verbose || !result.ok) {
      for (const line of [...consoleLines, ...logs].slice(opt.verbose ? 0 : -40)) console.error(line);
    }
    if (!result.ok) throw new Error(`wllama failed in the page: ${result.error}`);
    return result;
  } finally {
    await page.close().catch(() => {});
  }
}

function table(report) {
  const lines = [];
  for (const r of report.runs) {
    const where = r.backend === 'WebGPU' ? `WebGPU, ${r.gpu_layers_offloaded} layers offloaded`
      : `CPU, ${r.threads} thread${r.threads === 1 ? '' : 's'}${r.webgpu_unused ? ' (WebGPU asked for, not used)' : ''}`;
    lines.push(`wllama ${report.wllama_version} (llama.cpp ${r.libllama}), ${where}:`, '');
    lines.push('| metric | value |', '|---|---|');
    lines.push(`| backend | ${r.backend}${r.multithread ? ', multi-thread' : ', single thread'} (cross-origin isolated: ${r.cross_origin_isolated ? 'yes' : 'no'}) |`);
    lines.push(`| threads | ${r.threads} |`);
    lines.push(`| page open to model ready (s) | ${(r.page_open_to_ready_ms / 1e3).toFixed(2)} |`);
    lines.push(`| load: fetch from 127.0.0.1 + model init (s) | ${(r.load_ms / 1e3).toFixed(2)} |`);
    lines.push(`| fetch / init (s) | ${(r.fetch_ms / 1e3).toFixed(2)} / ${(r.init_ms / 1e3).toFixed(2)} |`);
    for (const p of r.prompts) {
      lines.push(`| prompt tokens (${p.name}) | ${p.prompt_tokens} |`);
      lines.push(`| prefill tokens/s (${p.prompt_tokens}-token prompt) | ${p.prefill_tokens_per_s.toFixed(1)} |`);
      lines.push(`| time to first token (${p.prompt_tokens}-token prompt, s) | ${(p.time_to_first_token_ms / 1e3).toFixed(2)} |`);
      lines.push(`| decode tokens/s (${p.decode_tokens} tokens after ${p.prompt_tokens}) | ${p.decode_tokens_per_s.toFixed(1)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

async function main() {
  const opt = args(process.argv.slice(2));
  const model = path.resolve(repoRoot, opt.model);
  if (!fs.existsSync(model) || !fs.statSync(model).isFile()) {
    throw new Error(`the GGUF ${path.relative(repoRoot, model)} is missing (\`cargo xtask setup\` downloads it; --model names another)`);
  }
  const pkgDir = path.join(here, 'node_modules', '@wllama', 'wllama');
  const pkgFile = path.join(pkgDir, 'package.json');
  if (!fs.existsSync(pkgFile)) throw new Error('@wllama/wllama is not installed: run `npm ci` in tests/e2e');
  const version = JSON.parse(fs.readFileSync(pkgFile, 'utf8')).version;
  const threads = opt.threads || os.availableParallelism?.() || os.cpus().length;

  const server = await startServer({
    mounts: {
      '/wllama/': path.join(here, 'wllama'),
      '/node_modules/@wllama/wllama/': pkgDir,
      '/models/': path.dirname(model),
    },
    headers: opt.isolation ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {},
  });
  let context;
  let profile;
  const cleanup = async () => {
    await context?.close().catch(() => {});
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    await server.close();
  };
  const onSignal = () => cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'locum-bench-wllama-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: [...BASE_FLAGS, ...WEBGPU_FLAGS], timeout: PAGE_TIMEOUT_MS,
    });
    const modelName = path.basename(model);
    const configs = [{ gpuLayers: 0, threads, modelName }];
    if (opt.webgpu) configs.push({ gpuLayers: 999, threads, modelName });
    const runs = [];
    for (const c of configs) {
      if (!opt.json) console.error(`wllama on the ${c.gpuLayers ? 'WebGPU adapter' : 'CPU'} ...`);
      runs.push(await measure(context, server, opt, c));
    }
    const report = {
      wllama_version: version,
      libllama: runs[0].libllama,
      browser: /(?:HeadlessChrome|Chrome)\/([\d.]+)/.exec(runs[0].user_agent)?.[1] ?? runs[0].user_agent,
      model: path.relative(repoRoot, model),
      model_bytes: runs[0].model_bytes,
      requested_threads: threads,
      runs,
    };
    console.log(opt.json ? JSON.stringify(report) : table(report));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

main().catch((e) => {
  console.error(`bench-wllama: ${e.message ?? e}`);
  process.exitCode = 1;
});
