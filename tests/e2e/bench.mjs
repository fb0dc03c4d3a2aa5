// Locum in the browser, measured: a benchmark program, not a test.
// Serves the trunk build with server.mjs, opens it in headless Chromium with
// WebGPU (SwiftShader on a machine without a GPU), asks a ~200-token prompt
// (plain text, greedy, 32 tokens) and prints the page's own timings as a
// table.
//
//   node tests/e2e/bench.mjs          (after `trunk build --release`)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { repoRoot, startServer } from './server.mjs';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu-sandbox', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan'];
// The same sentence `locum bench` repeats, cut to about 200 tokens.
const PROMPT = 'The patient is a 54-year-old woman with two days of fever, cough and pleuritic chest pain. '.repeat(8);

const server = await startServer({ dist: path.join(repoRoot, 'dist'), shards: path.join(repoRoot, 'model-shards') });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'locum-bench-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const t0 = Date.now();
  await page.goto(server.url);
  await page.waitForSelector('#model-ready', { timeout: 8 * 60_000 });
  const load = (Date.now() - t0) / 1e3;
  const ready = await page.textContent('#model-ready');
  await page.fill('#prompt', PROMPT);
  await page.setChecked('#chat', false);
  await page.fill('#max-tokens', '32');
  await page.fill('#temperature', '0');
  await page.click('#generate:not([disabled])');
  await page.waitForSelector('#answer[data-state="done"]', { timeout: 15 * 60_000 });
  const stats = await page.textContent('#stats');
  const m = /First token after ([\d.]+) s \((\d+) prompt tokens at ([\d.]+) tokens\/s\); (\d+) tokens at ([\d.]+) tokens\/s/.exec(stats);
  if (!m) throw new Error(`unexpected stats text: ${stats}`);
  console.log('| metric | value |\n|---|---|');
  console.log(`| adapter | ${ready} |`);
  console.log(`| page open to model ready (download from 127.0.0.1 + GPU upload) | ${load.toFixed(1)} s |`);
  console.log(`| prompt tokens | ${m[2]} |`);
  console.log(`| prefill tokens/s | ${m[3]} |`);
  console.log(`| time to first token | ${m[1]} s |`);
  console.log(`| decode tokens/s (${m[4]} tokens) | ${m[5]} |`);
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  await server.close();
}
