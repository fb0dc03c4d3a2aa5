// Locum's model-loading test: the sharded model in headless Chromium, with a
// server that can be slowed down, broken and switched off.
//
// It serves `dist/` with server.mjs and, under `/model-shards/`, a temporary
// folder of models: the default SmolLM2 shards (from LOCUM_E2E_SHARDS), the
// same model cut into ~4 MiB shards (`smollm2-small`, 18 shards) and a
// synthetic 1 GiB llama (`synth-1g`, 32 MiB shards), both made here with the
// native CLI. Then, each in real Chromium with WebGPU (SwiftShader):
//   1. a cold load requests every shard once and reports it downloaded;
//   2. a warm load (same profile) requests no shard at all;
//   3. a load interrupted half way (Cancel, or leaving the page) and started
//      again fetches only the shards not already stored;
//   4. offline (server stopped) the service worker serves the page and the
//      model comes from this device;
//   5. a shard whose bytes are damaged on the server is fetched twice, then
//      named in the error; Try again fetches only that shard; a shard
//      damaged in this device's storage is fetched again, alone;
//   6. a shard that answers 404 is tried 4 times with back-off, then named;
//      a connection dropped mid-shard is retried and the load completes;
//   7. with too small a storage quota the page says what is needed and what
//      is free, and downloads nothing;
//   8. the model picker (over an index.json served for that test only) shows
//      each model's size and whether it is on this device, switches model
//      without losing the case, and removes a model from this device;
//   9. the worker's peak wasm memory does not grow with the model: the 1 GiB
//      model's peak is within one shard of SmolLM2's.
// Every test asserts on the server's request log and the page's test hooks.
// The measured numbers (load times, peaks, shard counts) are printed in a
// summary at the end.
//
// Settings:
//   LOCUM_E2E_DIST    the trunk output             (default: <repo>/dist)
//   LOCUM_E2E_SHARDS  holds smollm2-135m-instruct/ (default: <repo>/dist/model-shards)
//   LOCUM_E2E_GGUF    SmolLM2's GGUF, for the small shards and the synthetic
//                     model's tokenizer (default: <repo>/.models/SmolLM2-135M-Instruct.Q4_1.gguf)
//   LOCUM_E2E_CLI     the native CLI               (default: <repo>/target/release/locum)
//   LOCUM_E2E_SKIP_1GIB=1  skips the synthetic 1 GiB model (test 8)
//   LOCUM_E2E_ONLY    runs only the tests whose name contains this text
//                     (the warm and offline tests need the cold one)
//   CHROMIUM          the browser                  (default: /usr/bin/chromium)
//
// Ends with a line "N passed, M failed"; exits 1 if anything failed.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { assert, finish, runner } from './harness.mjs';
import { repoRoot, startServer } from './server.mjs';
import { BASE_FLAGS, CHROMIUM, WEBGPU_FLAGS } from './browser.mjs';
const FLAGS = [...BASE_FLAGS, ...WEBGPU_FLAGS];

const DEFAULT_MODEL = 'smollm2-135m-instruct';
const SMALL_MODEL = 'smollm2-small';
const BIG_MODEL = 'synth-1g';
const LOAD_TIMEOUT_MS = 3 * 60_000;
const BIG_LOAD_TIMEOUT_MS = 8 * 60_000;
/// The loader's constants (crates/worker/src/loader.rs).
const TRIES = 4;
const BACKOFF_TOTAL_MS = 500 + 1000 + 2000;
const QUOTA_MARGIN = 8 << 20;
/// The server's bandwidth for the interrupted loads: the 98 MB model takes
/// about 4 s, long enough to stop it half way.
const THROTTLE_BYTES_PER_S = 25e6;


const DIST = path.resolve(process.env.LOCUM_E2E_DIST ?? path.join(repoRoot, 'dist'));
const SHARDS = path.resolve(process.env.LOCUM_E2E_SHARDS ?? path.join(repoRoot, 'dist', 'model-shards'));
const GGUF = path.resolve(
  process.env.LOCUM_E2E_GGUF ?? path.join(repoRoot, '.models', 'SmolLM2-135M-Instruct.Q4_1.gguf'),
);
const CLI = path.resolve(process.env.LOCUM_E2E_CLI ?? path.join(repoRoot, 'target', 'release', 'locum'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const secs = (ms) => `${(ms / 1e3).toFixed(2)} s`;

/** What the summary prints at the end. */
const measured = [];
function record(what, value) {
  measured.push([what, value]);
  console.log(`  ${what}: ${value}`);
}

// ---------------------------------------------------------------------------
// Models on disk.

/** `model-shards/<id>/manifest.json` of the served folder, with helpers. */
function manifestOf(root, id) {
  const m = JSON.parse(fs.readFileSync(path.join(root, id, 'manifest.json'), 'utf8'));
  const files = m.shards.map((s) => s.file);
  const byHash = new Map(m.shards.map((s) => [s.sha256, s.file]));
  const bytesOf = new Map(m.shards.map((s) => [s.file, s.bytes]));
  const total = m.shards.reduce((a, s) => a + s.bytes, 0);
  const largest = Math.max(...m.shards.map((s) => s.bytes));
  return { id, m, files, byHash, bytesOf, total, largest, tokenizerHash: m.tokenizer.sha256 };
}

function cli(...args) {
  execFileSync(CLI, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

// ---------------------------------------------------------------------------
// The browser.

/** Console lines not worth echoing. */
const QUIET = [/The `integrity` attribute is currently ignored/];

/**
 * A fresh Chromium profile (with `extraFlags` added to the command line);
 * pages opened in it echo their console errors and warnings (the worker's
 * included: Playwright reports them on the page).
 */
async function openProfile(extraFlags = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locum-shards-profile-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...extraFlags],
  });
  // Records every state of the progress region and of <main data-phase>.
  await context.addInitScript(() => {
    window.__progress = [];
    window.__phases = [];
    const look = () => {
      const phase = document.querySelector('main')?.dataset.phase;
      if (phase && window.__phases.at(-1) !== phase) window.__phases.push(phase);
      const el = document.querySelector('[data-testid="load-progress"]');
      if (!el) return;
      const d = el.dataset;
      const snap = {
        phase: d.loadPhase,
        done: Number(d.doneBytes ?? NaN),
        total: Number(d.totalBytes ?? NaN),
        shardsDone: Number(d.shardsDone ?? NaN),
        shardsTotal: Number(d.shardsTotal ?? NaN),
        words: document.getElementById('load-phase-text')?.textContent ?? '',
      };
      const last = window.__progress.at(-1);
      if (!last || Object.keys(snap).some((k) => !Object.is(snap[k], last[k]))) {
        window.__progress.push({ ...snap, t: performance.now() });
      }
    };
    new MutationObserver(look).observe(document, {
      childList: true,
      subtree: true,
      attributes: true,
      characterData: true,
    });
  });
  const watched = new WeakSet();
  const watch = (page) => {
    if (watched.has(page)) return page;
    watched.add(page);
    page.on('console', (msg) => {
      if (!['error', 'warning'].includes(msg.type())) return;
      if (QUIET.some((q) => q.test(msg.text()))) return;
      console.log(`  [console ${msg.type()}] ${msg.text()}`);
    });
    page.on('pageerror', (e) => console.log(`  [page exception] ${e.message}`));
    return page;
  };
  return {
    context,
    /** The profile's first tab (about:blank), or a new one. */
    async page() {
      return watch(context.pages()[0] ?? (await context.newPage()));
    },
    async newPage() {
      return watch(await context.newPage());
    },
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const OUTCOME = '#model-ready, #load-error, #load-cancelled, #webgpu-missing';

/** Waits for the load to end; the element's id and text. */
async function outcome(page, timeout = LOAD_TIMEOUT_MS) {
  const el = await page.waitForSelector(OUTCOME, { timeout });
  return el.evaluate((e) => ({ id: e.id, text: e.textContent }));
}

/** Waits for a ready model; `#model-ready`'s numbers. */
async function ready(page, timeout = LOAD_TIMEOUT_MS) {
  const o = await outcome(page, timeout);
  assert(o.id === 'model-ready', `the load ended in #${o.id}: ${o.text}`);
  return page.$eval('#model-ready', (e) => ({
    text: e.textContent,
    fromDevice: e.dataset.fromDevice,
    downloaded: Number(e.dataset.downloadedBytes),
    modelBytes: Number(e.dataset.modelBytes),
    wasm: Number(e.dataset.wasmMemoryBytes),
    loadMs: Number(e.dataset.loadMs),
  }));
}

/** Waits for `#load-error`; its sentence. */
async function loadError(page, timeout = LOAD_TIMEOUT_MS) {
  const o = await outcome(page, timeout);
  assert(o.id === 'load-error', `expected a load error, the load ended in #${o.id}: ${o.text}`);
  return o.text;
}

/** The shard files of `man` this origin holds in Cache Storage, sorted. */
async function storedShards(page, man) {
  const hashes = await page.evaluate(async () => {
    if (!(await caches.has('locum-shards-v1'))) return [];
    const cache = await caches.open('locum-shards-v1');
    return (await cache.keys()).map((r) => new URL(r.url).pathname.split('/').pop());
  });
  return hashes.filter((h) => man.byHash.has(h)).map((h) => man.byHash.get(h)).sort();
}

/** The files of model `id` requested since `mark` (index into server.requests). */
function requested(server, id, mark, ext = '.bin') {
  const prefix = `/model-shards/${id}/`;
  return server.requests
    .slice(mark)
    .filter((p) => p.startsWith(prefix) && p.endsWith(ext))
    .map((p) => p.slice(prefix.length));
}

/** How often each name occurs. */
function counts(names) {
  const c = new Map();
  for (const n of names) c.set(n, (c.get(n) ?? 0) + 1);
  return c;
}

const sorted = (xs) => [...xs].sort();
const same = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

/** Checks that every file of `expected` was requested exactly once. */
function assertEachOnce(names, expected, what) {
  const c = counts(names);
  const twice = [...c].filter(([, n]) => n > 1).map(([f, n]) => `${f} ×${n}`);
  assert(twice.length === 0, `${what}: requested more than once: ${twice.join(', ')}`);
  assert(
    same(c.keys(), expected),
    `${what}: requested ${JSON.stringify(sorted(c.keys()))}, expected ${JSON.stringify(sorted(expected))}`,
  );
}

// ---------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();

  assert(fs.existsSync(path.join(DIST, 'index.html')), `no trunk build at ${DIST}`);
  assert(fs.existsSync(path.join(SHARDS, DEFAULT_MODEL, 'manifest.json')), `no ${DEFAULT_MODEL} in ${SHARDS}`);
  assert(fs.existsSync(CLI), `no native CLI at ${CLI} (cargo build --release -p locum-cli)`);
  assert(fs.existsSync(GGUF), `no GGUF at ${GGUF} (set LOCUM_E2E_GGUF)`);

  // The served models: links to the default one, the others made here.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'locum-shards-test-'));
  const models = path.join(tmp, 'models');
  fs.mkdirSync(models);
  fs.symlinkSync(path.join(SHARDS, DEFAULT_MODEL), path.join(models, DEFAULT_MODEL));
  cli('shard', GGUF, '--out', path.join(models, SMALL_MODEL), '--shard-mib', '4');
  const smol = manifestOf(models, DEFAULT_MODEL);
  const small = manifestOf(models, SMALL_MODEL);
  console.log(
    `models: ${DEFAULT_MODEL} ${smol.files.length} shards (${mb(smol.total)}), ` +
      `${SMALL_MODEL} ${small.files.length} shards (largest ${mb(small.largest)})`,
  );

  const profiles = [];
  const fresh = async (extraFlags) => {
    const p = await openProfile(extraFlags);
    profiles.push(p);
    return p;
  };
  const done = async (p) => {
    profiles.splice(profiles.indexOf(p), 1);
    await p.close();
  };

  let server = await startServer({ dist: DIST, shards: models });
  // No test's faults leak into the next one.
  const { test, summary } = runner({ only: process.env.LOCUM_E2E_ONLY, after: () => server.resetFaults() });
  console.log(`serving ${DIST} and ${models} at ${server.url}`);
  let coldSmol = null; // test 1's numbers, for test 8

  try {
    // --- 1, 2, 4: one profile, one origin: cold, warm, offline.
    const visitor = await fresh();
    let visitorComplete = false;

    await test('a cold load requests every shard once and downloads the whole model', async () => {
      const page = await visitor.page();
      const mark = server.requests.length;
      const t = Date.now();
      await page.goto(server.url);
      const r = await ready(page);
      const wall = Date.now() - t;
      assert(r.fromDevice === 'false', `data-from-device=${r.fromDevice} on a first visit`);
      assert(r.modelBytes === smol.total, `data-model-bytes ${r.modelBytes}, the manifest says ${smol.total}`);
      assert(r.downloaded === smol.total, `downloaded ${r.downloaded} bytes of a ${smol.total}-byte model`);
      assertEachOnce(requested(server, DEFAULT_MODEL, mark), smol.files, 'cold load');
      const tok = requested(server, DEFAULT_MODEL, mark, 'tokenizer.json');
      assert(tok.length === 1, `tokenizer.json requested ${tok.length} times`);
      const progress = await page.evaluate(() => window.__progress);
      const downloading = progress.filter((p) => p.phase === 'downloading' || p.phase === 'verifying');
      assert(downloading.length >= 2, `the progress never showed the download: ${JSON.stringify(progress)}`);
      const dones = downloading.map((p) => p.done);
      assert(
        dones.every((d, i) => i === 0 || d >= dones[i - 1]),
        `done-bytes went backwards during the download: ${dones}`,
      );
      assert(new Set(dones).size >= 2 && dones.at(-1) > dones[0], `done-bytes did not rise: ${dones}`);
      const phases = [...new Set(progress.map((p) => p.phase))];
      assert(!phases.includes('from-device'), `a first visit reported from-device: ${phases}`);
      const over = progress.filter((p) => p.done > p.total || p.shardsDone > p.shardsTotal);
      assert(over.length === 0, `progress beyond the total: ${JSON.stringify(over[0])}`);
      const last = progress.at(-1);
      assert(
        last.shardsDone === smol.files.length && last.shardsTotal === smol.files.length,
        `the last progress shows ${last.shardsDone} of ${last.shardsTotal} shards`,
      );
      assert(stored(await storedShards(page, smol), smol.files), 'not every shard was stored');
      coldSmol = r;
      record('SmolLM2 cold load (page data-load-ms)', `${r.loadMs} ms`);
      record('SmolLM2 cold load (goto to ready)', `${wall} ms`);
      record('SmolLM2 cold progress', `${progress.length} states, phases ${phases.join(' → ')}`);
      record('SmolLM2 peak wasm memory (cold)', `${r.wasm} bytes (${mb(r.wasm)})`);
    });

    await test('a warm load (same profile, new page) requests no shard and says from this device', async () => {
      const old = visitor.context.pages()[0];
      const page = await visitor.newPage();
      await old?.close();
      const mark = server.requests.length;
      const t = Date.now();
      await page.goto(server.url);
      const r = await ready(page);
      const wall = Date.now() - t;
      assert(r.fromDevice === 'true', `data-from-device=${r.fromDevice} on a second visit`);
      assert(r.downloaded === 0, `downloaded ${r.downloaded} bytes on a second visit`);
      const fetched = server.requests.slice(mark).filter((p) => p.startsWith('/model-shards/'));
      // The model list (index.json, which the picker reads) is not model bytes.
      const extra = fetched.filter((p) => !p.endsWith('/manifest.json') && p !== '/model-shards/index.json');
      assert(extra.length === 0, `a warm load requested ${JSON.stringify(extra)}`);
      const phases = [...new Set((await page.evaluate(() => window.__progress)).map((p) => p.phase))];
      assert(phases.includes('from-device'), `the progress never said from-device: ${phases}`);
      assert(!phases.includes('downloading'), `a warm load showed downloading: ${phases}`);
      record('SmolLM2 warm load (page data-load-ms)', `${r.loadMs} ms`);
      record('SmolLM2 warm load (goto to ready)', `${wall} ms`);
      record('SmolLM2 warm load requests under /model-shards/', JSON.stringify(fetched));
      visitorComplete = true;
    });

    await test('offline (server stopped) the service worker serves the page and the model loads from this device', async () => {
      assert(visitorComplete, 'needs the complete visit of the two tests above');
      const page = visitor.context.pages().at(-1);
      // The app shell must be installed and precached before the network goes.
      const shell = await page.evaluate(async () => {
        const reg = await navigator.serviceWorker.ready;
        for (let i = 0; i < 200; i++) {
          for (const name of await caches.keys()) {
            if (!name.startsWith('locum-app-') || name === 'locum-app-unversioned') continue;
            const c = await caches.open(name);
            if ((await c.match('index.html')) && (await c.match('locum-files.json'))) {
              return { name, active: reg.active?.state, controlled: !!navigator.serviceWorker.controller };
            }
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        return null;
      });
      assert(shell, 'the service worker never precached the app (no locum-app-* cache with index.html)');
      console.log(`  app shell in ${shell.name} (worker ${shell.active}, page controlled: ${shell.controlled})`);
      const url = server.url;
      await server.close();
      const mark = server.requests.length;
      const again = await visitor.newPage();
      await page.close();
      const t = Date.now();
      await again.goto(url);
      const r = await ready(again);
      const wall = Date.now() - t;
      assert(server.requests.length === mark, 'the stopped server got requests');
      assert(r.fromDevice === 'true', `data-from-device=${r.fromDevice} offline`);
      assert(r.downloaded === 0, `downloaded ${r.downloaded} bytes offline`);
      assert(
        await again.evaluate(() => !!navigator.serviceWorker.controller),
        'the offline page is not controlled by the service worker',
      );
      record('SmolLM2 offline load (page data-load-ms)', `${r.loadMs} ms`);
      record('SmolLM2 offline load (goto to ready)', `${wall} ms`);
    });
    await done(visitor);

    // Everything else on a new server (the first one is stopped), each test
    // in a fresh profile.
    await server.close();
    server = await startServer({ dist: DIST, shards: models });
    console.log(`serving again at ${server.url}`);
    const smallUrl = `${server.url}?model=${SMALL_MODEL}`;

    /** Starts a throttled load of the small model and waits for half of its shards. */
    const halfLoaded = async (page) => {
      server.faults.throttleBytesPerSec = THROTTLE_BYTES_PER_S;
      await page.goto(smallUrl);
      const half = Math.ceil(small.files.length / 2);
      await page.waitForFunction(
        (n) => Number(document.querySelector('[data-testid="load-progress"]')?.dataset.shardsDone) >= n,
        half,
        { timeout: LOAD_TIMEOUT_MS, polling: 50 },
      );
      return page.$eval('[data-testid="load-progress"]', (e) => ({ ...e.dataset }));
    };

    /** Loads again after an interruption and checks that only the missing shards come. */
    const resumes = async (page, before, mark1, start) => {
      const first = requested(server, SMALL_MODEL, mark1);
      assert(before.length > 0, 'nothing was stored before the interruption');
      assert(before.length < small.files.length, 'the whole model was stored before the interruption');
      const unrequested = before.filter((f) => !first.includes(f));
      assert(unrequested.length === 0, `stored but never requested: ${unrequested}`);
      server.resetFaults(); // full speed for the rest
      const mark2 = server.requests.length;
      await start();
      const r = await ready(page);
      const second = requested(server, SMALL_MODEL, mark2);
      const missing = small.files.filter((f) => !before.includes(f));
      assertEachOnce(second, missing, 'the resumed load');
      const again = second.filter((f) => before.includes(f));
      assert(again.length === 0, `stored shards were fetched again: ${again}`);
      assert(same(new Set([...before, ...second]), small.files), 'stored + fetched do not cover the model');
      const missingBytes = missing.reduce((a, f) => a + small.bytesOf.get(f), 0);
      assert(r.fromDevice === 'false', `data-from-device=${r.fromDevice} after a partial download`);
      assert(r.downloaded === missingBytes, `downloaded ${r.downloaded} bytes, the missing shards are ${missingBytes}`);
      assert(r.modelBytes === small.total, `data-model-bytes ${r.modelBytes}`);
      assert(
        r.text.includes('the rest was already on this device'),
        `the ready sentence does not say part came from this device: ${r.text}`,
      );
      const words = (await page.evaluate(() => window.__progress)).map((p) => p.words);
      assert(
        words.some((w) => w.includes('already on this device')),
        `the progress never said part of the model was already on this device: ${JSON.stringify([...new Set(words)])}`,
      );
      const after = await storedShards(page, small);
      assert(same(after, small.files), `after the load ${after.length} of ${small.files.length} shards are stored`);
      return { first, second, r };
    };

    await test('a load cancelled half way and loaded again fetches only the shards not stored', async () => {
      const p = await fresh();
      try {
        const page = await p.page();
        const mark1 = server.requests.length;
        const at = await halfLoaded(page);
        await page.click('[data-testid="cancel-load"]');
        const o = await outcome(page);
        assert(o.id === 'load-cancelled', `Cancel ended in #${o.id}: ${o.text}`);
        const before = await storedShards(page, small);
        console.log(
          `  cancelled at ${at.shardsDone}/${at.shardsTotal} shards (${mb(Number(at.doneBytes))}); ` +
            `${before.length} stored`,
        );
        assert(before.length >= Number(at.shardsDone), `${before.length} stored, but ${at.shardsDone} were done`);
        const { first, second, r } = await resumes(page, before, mark1, () =>
          page.click('[data-testid="load-model"]'),
        );
        record(
          `${SMALL_MODEL} cancel + load again`,
          `${small.files.length} shards: ${before.length} stored before (${first.length} requested, ` +
            `${first.length - before.length} abandoned), ${second.length} fetched after, ` +
            `${mb(r.downloaded)} downloaded on resume, ready in ${r.loadMs} ms`,
        );
      } finally {
        await done(p);
      }
    });

    await test('a load interrupted by leaving the page fetches only the missing shards next time', async () => {
      const p = await fresh();
      try {
        const page = await p.page();
        const mark1 = server.requests.length;
        const at = await halfLoaded(page);
        // Leaves the app mid-download (as a reload does: the worker ends) for
        // a plain page of the same origin, to look at its storage.
        await page.goto(`${server.url}locum-files.json`);
        await sleep(500);
        const before = await storedShards(page, small);
        console.log(
          `  left at ${at.shardsDone}/${at.shardsTotal} shards (${mb(Number(at.doneBytes))}); ${before.length} stored`,
        );
        const { first, second, r } = await resumes(page, before, mark1, () => page.goto(smallUrl));
        record(
          `${SMALL_MODEL} leave page + open again`,
          `${small.files.length} shards: ${before.length} stored before (${first.length} requested), ` +
            `${second.length} fetched after, ${mb(r.downloaded)} downloaded, ready in ${r.loadMs} ms`,
        );
      } finally {
        server.resetFaults();
        await done(p);
      }
    });

    await test('a shard damaged on the server is fetched twice, then named as damaged; Try again fetches only it', async () => {
      const bad = 'shard-001.bin';
      const badPath = `/model-shards/${DEFAULT_MODEL}/${bad}`;
      server.faults.tamper.add(badPath);
      const p = await fresh();
      try {
        const page = await p.page();
        const mark = server.requests.length;
        await page.goto(server.url);
        const text = await loadError(page);
        console.log(`  error: ${text}`);
        assert(text.includes(bad), `the error does not name ${bad}: ${text}`);
        assert(/damaged/.test(text), `the error does not say "damaged": ${text}`);
        const c = counts(requested(server, DEFAULT_MODEL, mark));
        assert(c.get(bad) === 2, `${bad} was requested ${c.get(bad)} times, expected 2`);
        for (const f of smol.files.filter((f) => f !== bad)) {
          assert(c.get(f) === 1, `${f} was requested ${c.get(f)} times, expected 1`);
        }
        const stored = await storedShards(page, smol);
        assert(!stored.includes(bad), `the damaged ${bad} was stored`);
        // Try again: the good shards are stored now, only the bad one comes.
        const mark2 = server.requests.length;
        const n = await page.evaluate(() => window.__phases.length);
        await page.click('[data-testid="retry-load"]');
        await page.waitForFunction(
          (n) => window.__phases.slice(n).some((p) => p === 'failed' || p === 'ready'),
          n,
          { timeout: LOAD_TIMEOUT_MS },
        );
        const text2 = await loadError(page);
        assert(text2.includes(bad) && /damaged/.test(text2), `Try again ended with: ${text2}`);
        const retried = requested(server, DEFAULT_MODEL, mark2);
        assert(
          same(retried, [bad, bad]),
          `Try again requested ${JSON.stringify(retried)}, expected ${bad} twice and nothing else`,
        );
        const tok = requested(server, DEFAULT_MODEL, mark2, 'tokenizer.json');
        assert(tok.length === 0, 'Try again fetched the stored tokenizer again');
      } finally {
        server.resetFaults();
        await done(p);
      }
    });

    await test('a shard damaged on this device is fetched again, and only it', async () => {
      const bad = 'shard-000.bin';
      const p = await fresh();
      try {
        const page = await p.page();
        await page.goto(server.url);
        await ready(page);
        // Overwrites the stored copy with other bytes under the same key.
        const hash = smol.m.shards.find((s) => s.file === bad).sha256;
        const replaced = await page.evaluate(async (hash) => {
          const cache = await caches.open('locum-shards-v1');
          const key = (await cache.keys()).find((r) => r.url.endsWith('/' + hash));
          if (!key) return false;
          await cache.put(key, new Response(new Uint8Array(1000).fill(7)));
          return true;
        }, hash);
        assert(replaced, `${bad} was not stored after the first load`);
        const mark = server.requests.length;
        await page.reload();
        const r = await ready(page);
        const again = requested(server, DEFAULT_MODEL, mark);
        assert(same(again, [bad]), `after damaging ${bad} on the device the load requested ${JSON.stringify(again)}`);
        assert(r.downloaded === smol.bytesOf.get(bad), `downloaded ${r.downloaded} bytes, ${bad} has ${smol.bytesOf.get(bad)}`);
        assert(r.fromDevice === 'false', `data-from-device=${r.fromDevice} after downloading ${bad}`);
        assert(same(await storedShards(page, smol), smol.files), 'not every shard is stored again');
      } finally {
        await done(p);
      }
    });

    await test('a shard answering 404 is tried 4 times with back-off, then named with the 404', async () => {
      const bad = 'shard-002.bin';
      const badPath = `/model-shards/${DEFAULT_MODEL}/${bad}`;
      server.faults.missing.add(badPath);
      const p = await fresh();
      try {
        const page = await p.page();
        const mark = server.requests.length;
        const logMark = server.log.length;
        await page.goto(server.url);
        const text = await loadError(page);
        console.log(`  error: ${text}`);
        assert(text.includes(bad), `the error does not name ${bad}: ${text}`);
        assert(text.includes('404'), `the error does not say 404: ${text}`);
        const c = counts(requested(server, DEFAULT_MODEL, mark));
        assert(c.get(bad) === TRIES, `${bad} was requested ${c.get(bad)} times, expected ${TRIES}`);
        const tries = server.log.slice(logMark).filter((e) => e.path === badPath);
        const span = tries.at(-1).at - tries[0].at;
        assert(span >= BACKOFF_TOTAL_MS - 100, `the ${TRIES} tries took only ${span} ms (back-off ${BACKOFF_TOTAL_MS} ms)`);
        record('404: tries and time from first to last', `${tries.length} tries in ${span} ms`);
      } finally {
        server.resetFaults();
        await done(p);
      }
    });

    await test('a connection dropped mid-shard is retried and the load completes', async () => {
      const bad = 'shard-000.bin';
      const badPath = `/model-shards/${DEFAULT_MODEL}/${bad}`;
      const cut = 5_000_000;
      server.faults.dropAfterBytes.set(badPath, { bytes: cut, times: 1 });
      const p = await fresh();
      try {
        const page = await p.page();
        const mark = server.requests.length;
        await page.goto(server.url);
        const r = await ready(page);
        const c = counts(requested(server, DEFAULT_MODEL, mark));
        assert(c.get(bad) === 2, `${bad} was requested ${c.get(bad)} times, expected 2 (one dropped, one retry)`);
        for (const f of smol.files.filter((f) => f !== bad)) {
          assert(c.get(f) === 1, `${f} was requested ${c.get(f)} times, expected 1`);
        }
        assert(r.downloaded >= smol.total, `downloaded ${r.downloaded} < ${smol.total}`);
        assert(same(await storedShards(page, smol), smol.files), 'not every shard was stored');
        record('dropped connection: bytes counted as downloaded', `${r.downloaded} (model ${smol.total})`);
      } finally {
        server.resetFaults();
        await done(p);
      }
    });

    // Chromium answers navigator.storage.estimate() with a static quota
    // (usage + 10 GiB) unless StaticStorageQuota is off; the real quota,
    // which the DevTools override sets, applies to writes either way.
    const QUOTA = 20_000_000;
    const withQuota = async (extraFlags) => {
      const p = await fresh(extraFlags);
      const page = await p.page();
      const cdp = await p.context.newCDPSession(page);
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: server.origin, quotaSize: QUOTA });
      return { p, page };
    };

    await test('with too small a storage quota the page says what is needed and free, and downloads nothing', async () => {
      const { p, page } = await withQuota(['--disable-features=StaticStorageQuota']);
      try {
        const mark = server.requests.length;
        await page.goto(server.url);
        const text = await loadError(page);
        console.log(`  error: ${text}`);
        const need = mb(smol.total + QUOTA_MARGIN);
        assert(text.includes(`needs ${need}`), `the error does not say it needs ${need}: ${text}`);
        const free = /allows this site ([\d.]+) MB more/.exec(text);
        assert(free, `the error does not say how much is free: ${text}`);
        assert(Number(free[1]) <= QUOTA / 1e6, `${free[1]} MB free with a ${mb(QUOTA)} quota`);
        const got = server.requests
          .slice(mark)
          .filter(
            (r) => r.startsWith('/model-shards/') && !r.endsWith('/manifest.json') && r !== '/model-shards/index.json',
          );
        assert(got.length === 0, `requested despite the quota: ${JSON.stringify(got)}`);
        record('quota error', text);
      } finally {
        await done(p);
      }
    });

    await test('with too small a quota and Chromium\'s default (static) estimate, the model runs and the page says it was not kept', async () => {
      // How a real Chrome behaves: estimate() does not reveal the small
      // quota, so the check before the download passes and every cache.put
      // fails with "Quota exceeded". The model still runs, and the page must
      // say that it could not be kept on this device.
      const { p, page } = await withQuota([]);
      try {
        const mark = server.requests.length;
        await page.goto(server.url);
        const o = await outcome(page);
        const estimate = await page.evaluate(() => navigator.storage.estimate());
        console.log(`  estimate() on the page: quota ${estimate.quota}, usage ${estimate.usage}`);
        const got = requested(server, DEFAULT_MODEL, mark);
        const kept = await storedShards(page, smol);
        record(
          'small real quota, default estimate',
          `estimate says ${mb(estimate.quota)}; load ended in #${o.id}; ${got.length} shards downloaded, ` +
            `${kept.length} kept`,
        );
        if (o.id === 'model-ready') {
          assert(kept.length < smol.files.length, 'every shard was kept despite a 20 MB quota');
          const notStored = Number(await page.getAttribute('#model-ready', 'data-not-stored'));
          assert(
            notStored === smol.files.length - kept.length,
            `the page counts ${notStored} shards not kept, the cache lacks ${smol.files.length - kept.length}`,
          );
          const warning = await page.textContent('#not-stored');
          assert(/could not be kept/.test(warning ?? ''), `no sentence says the model was not kept: ${warning}`);
        } else {
          assert(o.id === 'load-error', `the load ended in #${o.id}: ${o.text}`);
          assert(got.length === 0, `an error after downloading ${got.length} shards: ${o.text}`);
        }
      } finally {
        await done(p);
      }
    });

    await test('the model picker shows sizes and what is stored, switches model keeping the case, and removes one', async () => {
      // Only this test serves an index: the others count every request
      // under /model-shards/.
      const index = path.join(models, 'index.json');
      const entry = (man) => ({
        id: man.id,
        name: man.m.model.name,
        architecture: man.m.model.architecture,
        license: man.m.model.license,
        quant_types: [],
        bytes: man.total,
        manifest: `${man.id}/manifest.json`,
      });
      fs.writeFileSync(index, JSON.stringify({ default: DEFAULT_MODEL, models: [entry(smol), entry(small)] }));
      const p = await fresh();
      try {
        const page = await p.page();
        await page.goto(server.url);
        await ready(page);
        const rows = async () =>
          page.$$eval('#model-picker li[data-model]', (lis) =>
            Object.fromEntries(
              lis.map((li) => [li.dataset.model, { current: li.dataset.current, stored: li.dataset.stored, text: li.textContent }]),
            ),
          );
        await page.waitForFunction(
          (id) => document.querySelector(`#model-picker li[data-model="${id}"]`)?.dataset.stored === 'all',
          DEFAULT_MODEL,
          { timeout: 30_000 },
        );
        let r = await rows();
        assert(Object.keys(r).length === 2, `the picker lists ${Object.keys(r)}`);
        assert(r[DEFAULT_MODEL].current === 'true' && /on this device/.test(r[DEFAULT_MODEL].text), JSON.stringify(r[DEFAULT_MODEL]));
        assert(r[SMALL_MODEL].current === 'false' && r[SMALL_MODEL].stored === 'none', JSON.stringify(r[SMALL_MODEL]));
        assert(/\d+(\.\d)? MB to download/.test(r[SMALL_MODEL].text), `no size before the download: ${r[SMALL_MODEL].text}`);
        const marker = 'picker-' + Math.random().toString(36).slice(2);
        await page.fill('#case-text', marker);
        const mark = server.requests.length;
        await page.click(`#model-picker li[data-model="${SMALL_MODEL}"] button.use-model`);
        await page.waitForSelector('#model-ready', { state: 'detached', timeout: 10_000 }).catch(() => {});
        await ready(page);
        assertEachOnce(requested(server, SMALL_MODEL, mark), small.files, 'switching model');
        assert(new URL(page.url()).searchParams.get('model') === SMALL_MODEL, `the address is ${page.url()}`);
        assert((await page.inputValue('#case-text')) === marker, 'switching model lost the case');
        await page.waitForFunction(
          (id) => {
            const li = document.querySelector(`#model-picker li[data-model="${id}"]`);
            return li?.dataset.current === 'true' && li?.dataset.stored === 'all';
          },
          SMALL_MODEL,
          { timeout: 30_000 },
        );
        await page.click(`#model-picker li[data-model="${DEFAULT_MODEL}"] button.remove-model`);
        await page.waitForFunction(() => /Removed/.test(document.getElementById('model-picker-status')?.textContent ?? ''));
        assert((await storedShards(page, smol)).length === 0, 'the removed model is still stored');
        assert(stored(await storedShards(page, small), small.files), 'removing one model removed the other');
        await page.waitForFunction(
          (id) => document.querySelector(`#model-picker li[data-model="${id}"]`)?.dataset.stored === 'none',
          DEFAULT_MODEL,
          { timeout: 30_000 },
        );
        r = await rows();
        assert(/to download/.test(r[DEFAULT_MODEL].text), `after removal: ${r[DEFAULT_MODEL].text}`);
        record('model picker: switch to the 4 MiB-shard model (download and load)', `${(await ready(page)).loadMs} ms`);
      } finally {
        await done(p);
        fs.rmSync(index, { force: true });
      }
    });

    await test('the peak wasm memory of a 1 GiB model is within one shard of SmolLM2\'s', async () => {
      if (process.env.LOCUM_E2E_SKIP_1GIB === '1') {
        console.log('  skipped (LOCUM_E2E_SKIP_1GIB=1)');
        return;
      }
      // SmolLM2's cold peak from the first test, or a cold load now.
      let smolPeak = coldSmol;
      if (!smolPeak) {
        const p = await fresh();
        try {
          const page = await p.page();
          await page.goto(server.url);
          smolPeak = await ready(page);
          record('SmolLM2 peak wasm memory (cold)', `${smolPeak.wasm} bytes (${mb(smolPeak.wasm)})`);
        } finally {
          await done(p);
        }
      }
      const made = Date.now();
      const gguf = path.join(tmp, 'synth.gguf');
      cli('synth', '--tokenizer-from', GGUF, '--out', gguf, '--size-mib', '1024');
      cli('shard', gguf, '--out', path.join(models, BIG_MODEL));
      fs.rmSync(gguf);
      const big = manifestOf(models, BIG_MODEL);
      record(
        `${BIG_MODEL} model`,
        `${big.files.length} shards, ${mb(big.total)}, largest shard ${big.largest} bytes; made in ${secs(Date.now() - made)}`,
      );
      const p = await fresh();
      try {
        const page = await p.page();
        const mark = server.requests.length;
        const t = Date.now();
        await page.goto(`${server.url}?model=${BIG_MODEL}`);
        const r = await ready(page, BIG_LOAD_TIMEOUT_MS);
        const wall = Date.now() - t;
        record(`${BIG_MODEL} cold load (page data-load-ms)`, `${r.loadMs} ms`);
        record(`${BIG_MODEL} cold load (goto to ready)`, `${wall} ms`);
        record(`${BIG_MODEL} peak wasm memory (cold)`, `${r.wasm} bytes (${mb(r.wasm)})`);
        assert(r.downloaded === big.total, `downloaded ${r.downloaded} of ${big.total}`);
        assertEachOnce(requested(server, BIG_MODEL, mark), big.files, 'the 1 GiB load');
        const diff = r.wasm - smolPeak.wasm;
        record('peak difference (1 GiB − SmolLM2)', `${diff} bytes (${mb(diff)}); bound: largest shard ${big.largest}`);
        assert(
          Math.abs(diff) < big.largest,
          `the peaks differ by ${diff} bytes, more than the largest shard (${big.largest})`,
        );
      } finally {
        await done(p);
        fs.rmSync(path.join(models, BIG_MODEL), { recursive: true, force: true });
      }
    });
  } finally {
    for (const p of [...profiles]) await p.close();
    await server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  console.log('\nMeasured (headless Chromium, SwiftShader, server on 127.0.0.1):');
  for (const [what, value] of measured) console.log(`  ${what}: ${value}`);
  console.log(`  total run time: ${secs(Date.now() - t0)}`);
  return summary();
}

/** Whether `have` holds every file of `want`. */
function stored(have, want) {
  return want.every((f) => have.includes(f));
}

finish(main);
