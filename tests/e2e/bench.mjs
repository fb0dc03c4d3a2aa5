// Locum in the browser, measured: a benchmark program, not a test.
// Serves the trunk build with server.mjs, opens it in headless Chromium with
// WebGPU (SwiftShader on a machine without a GPU), asks a ~200-token prompt
// and then a ~520-token one (plain text, greedy, 32 tokens each; the same
// sentence 8 and 20 times, as bench-wllama.mjs asks wllama) and prints the
// page's own timings as a table.
//
//   node tests/e2e/bench.mjs          (after `trunk build --release`)
//   node tests/e2e/bench.mjs --short  (the ~200-token prompt only)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { repoRoot, startServer } from './server.mjs';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu-sandbox', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan'];
// The same sentence `locum bench` repeats, cut to about 200 tokens.
const SENTENCE = 'The patient is a 54-year-old woman with two days of fever, cough and pleuritic chest pain. ';
const PROMPT = SENTENCE.repeat(8);
const LONG_PROMPT = SENTENCE.repeat(20);
const LONG = !process.argv.includes('--short');
// The page keeps in its KV cache the start a question shares with the one
// before and reads only the rest ("…, N kept from the question before").
const STATS = /First token after ([\d.]+) s \((\d+) prompt tokens at ([\d.]+) tokens\/s(?:, (\d+) kept from the question before)?\); (\d+) tokens at ([\d.]+) tokens\/s/;

// Asks `prompt` (greedy, `tokens` tokens) on the ready page and returns the
// stats line's numbers: [first token s, prompt tokens read, prefill
// tokens/s, decoded tokens, decode tokens/s, prompt tokens kept].
async function ask(page, prompt, tokens = 32) {
  await page.fill('#prompt', prompt);
  await page.setChecked('#chat', false);
  await page.fill('#max-tokens', String(tokens));
  await page.fill('#temperature', '0');
  // The previous answer's stats, so that a second ask waits for its own.
  const before = await page.evaluate(() => document.querySelector('#stats')?.textContent ?? '');
  await page.click('#generate:not([disabled])');
  await page.waitForFunction((prev) => {
    const answer = document.querySelector('#answer');
    const stats = document.querySelector('#stats');
    return answer?.dataset.state === 'done' && stats && stats.textContent !== prev;
  }, before, { timeout: 15 * 60_000 });
  const stats = await page.textContent('#stats');
  const m = STATS.exec(stats);
  if (!m) throw new Error(`unexpected stats text: ${stats}`);
  const [ttft, read, prefill, kept, decoded, decode] = m.slice(1);
  return [ttft, read, prefill, decoded, decode, kept ?? '0'];
}

const server = await startServer({ dist: path.join(repoRoot, 'dist'), shards: path.join(repoRoot, 'model-shards') });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'locum-bench-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const t0 = Date.now();
  // Plain decode, as wllama's: prompt-lookup decoding off (the prompt
  // repeats one sentence, which drafts would find).
  await page.goto(`${server.url}?lookup=0`);
  await page.waitForSelector('#model-ready', { timeout: 8 * 60_000 });
  const load = (Date.now() - t0) / 1e3;
  const ready = await page.textContent('#model-ready');
  const m = await ask(page, PROMPT);
  console.log('| metric | value |\n|---|---|');
  console.log(`| adapter | ${ready} |`);
  console.log(`| page open to model ready (download from 127.0.0.1 + GPU upload) | ${load.toFixed(1)} s |`);
  console.log(`| prompt tokens | ${m[1]} |`);
  console.log(`| prefill tokens/s | ${m[2]} |`);
  console.log(`| time to first token | ${m[0]} s |`);
  console.log(`| decode tokens/s (${m[3]} tokens) | ${m[4]} |`);
  if (LONG) {
    // The long prompt starts as the short one did: a question between them
    // that shares no start with it makes the page read it whole, as wllama
    // does (the kept count below says so).
    await ask(page, 'Hello.', 1);
    const l = await ask(page, LONG_PROMPT);
    if (l[5] !== '0') console.error(`bench: ${l[5]} tokens of the long prompt were kept from before`);
    console.log(`| long prompt: tokens | ${l[1]} |`);
    console.log(`| long prompt: prefill tokens/s | ${l[2]} |`);
    console.log(`| long prompt: time to first token | ${l[0]} s |`);
    console.log(`| long prompt: decode tokens/s (${l[3]} tokens) | ${l[4]} |`);
  }
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  await server.close();
}
