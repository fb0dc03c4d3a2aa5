// A tiny static server for Locum's trunk build: `dist/` at the root and the
// model files under `/model-shards/`, on 127.0.0.1 only.
//
//   node tests/e2e/server.mjs [--port 8080] [--dist dist] [--shards model-shards]
//
// It is also what the end-to-end tests serve the page with. GET and HEAD
// only, no directory listings, nothing outside the two folders; files are
// streamed with their Content-Length so the page can show download progress.
// `shards` is served as it is, so a folder of symbolic links to several
// models' shard folders serves them all (`?model=<link name>`).
//
// For tests, the returned object has a request log and faults that can be
// changed at any time (they apply to requests from then on; a new
// throttleBytesPerSec also to responses already being throttled):
//
//   server.requests       every path asked for, in order (strings)
//   server.log            one entry per request: { method, path, url (with its query), body (of anything but GET and HEAD), status,
//                         sent (body bytes written), done (true once the
//                         body was sent in full), aborted, at (ms) }
//   server.faults = {
//     throttleBytesPerSec: 0,   // > 0: shard files (*.bin under
//                               // /model-shards/) share this bandwidth
//     tamper: new Set(),        // paths whose body has one byte flipped
//                               // in the middle (same length)
//     missing: new Set(),       // paths answered 404
//     dropAfterBytes: new Map(),// path -> n: the connection is destroyed
//                               // after n body bytes; or path ->
//                               // { bytes, times }: only the next `times`
//                               // requests are dropped
//   }
//   server.resetFaults()  back to no faults
//
// Paths are URL paths as the browser asks for them, e.g.
// `/model-shards/smollm2-135m-instruct/shard-001.bin`.
//
// Two options for the benchmark pages (bench-wllama.mjs), off by default:
// `mounts` serves more folders under URL prefixes (`{ '/wllama/': folder }`,
// looked up before `/model-shards/` and `dist`), and `headers` adds headers to
// every answer (e.g. COOP/COEP, for cross-origin isolation).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** No faults: the server's ordinary behaviour. */
export function noFaults() {
  return {
    throttleBytesPerSec: 0,
    tamper: new Set(),
    missing: new Set(),
    dropAfterBytes: new Map(),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `res` can take more data, or is closed. */
function drained(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Maps a URL path to a file under `root`, or null if it would leave it. */
function within(root, urlPath) {
  const file = path.resolve(root, '.' + path.posix.normalize('/' + urlPath));
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

/**
 * Starts the server; resolves to `{ url, close(), requests, log, faults,
 * resetFaults() }` (see the top of this file).
 */
export function startServer({
  dist = path.join(repoRoot, 'dist'),
  shards = path.join(repoRoot, 'model-shards'),
  port = 0,
  mounts = {},
  headers = {},
} = {}) {
  dist = path.resolve(dist);
  shards = path.resolve(shards);
  const mounted = Object.entries(mounts).map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : prefix + '/', path.resolve(dir)]);
  const requests = [];
  const log = [];
  const started = Date.now();
  // The object handed back; its `faults` may be replaced or changed.
  const control = { requests, log, faults: noFaults() };
  control.resetFaults = () => {
    control.faults = noFaults();
  };
  // The shared bandwidth of throttled responses: the time the pipe is next free.
  let pipeFreeAt = 0;

  /** Writes `file`'s body to `res`, applying the faults as it goes. */
  async function sendBody(req, res, file, size, urlPath, entry) {
    const faults = control.faults;
    const throttled = () =>
      urlPath.startsWith('/model-shards/') && urlPath.endsWith('.bin') && control.faults.throttleBytesPerSec > 0;
    const tamperAt = faults.tamper?.has(urlPath) ? Math.floor(size / 2) : -1;
    let dropAfter = Infinity;
    const drop = faults.dropAfterBytes?.get(urlPath);
    if (typeof drop === 'number') dropAfter = drop;
    else if (drop && drop.times > 0) {
      dropAfter = drop.bytes;
      drop.times -= 1;
    }
    if (tamperAt < 0 && dropAfter === Infinity && !throttled()) {
      // The ordinary case: stream the file as it is.
      const stream = fs.createReadStream(file);
      stream.on('data', (c) => (entry.sent += c.length));
      res.on('finish', () => (entry.done = entry.sent === size));
      stream.pipe(res);
      return;
    }
    const stream = fs.createReadStream(file, { highWaterMark: 64 * 1024 });
    let closed = false;
    res.on('close', () => (closed = true));
    let at = 0;
    try {
      for await (let chunk of stream) {
        if (closed) break;
        if (tamperAt >= at && tamperAt < at + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[tamperAt - at] ^= 0xff;
        }
        if (at + chunk.length > dropAfter) chunk = chunk.subarray(0, Math.max(0, dropAfter - at));
        const rate = control.faults.throttleBytesPerSec;
        if (throttled() && chunk.length > 0) {
          const now = Date.now();
          const start = Math.max(now, pipeFreeAt);
          pipeFreeAt = start + (chunk.length / rate) * 1e3;
          if (pipeFreeAt - now > 1) await sleep(pipeFreeAt - now);
          if (closed) break;
        }
        if (chunk.length > 0 && !res.write(chunk)) {
          await drained(res);
        }
        at += chunk.length;
        entry.sent = at;
        if (at >= dropAfter) {
          // Let the bytes leave, then cut the connection mid-body.
          await sleep(20);
          entry.aborted = true;
          req.socket.destroy();
          stream.destroy();
          return;
        }
      }
    } catch {
      closed = true;
    }
    stream.destroy();
    if (closed) {
      entry.aborted = true;
      return;
    }
    res.end();
    entry.done = at === size;
  }

  const server = http.createServer((req, res) => {
    let urlPath;
    try {
      urlPath = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    requests.push(urlPath);
    const entry = { method: req.method, path: urlPath, url: req.url, body: '', status: 0, sent: 0, done: false, aborted: false, at: Date.now() - started };
    log.push(entry);
    res.on('close', () => {
      if (!res.writableFinished) entry.aborted = true;
    });
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    const answer = (status, head, body) => {
      entry.status = status;
      res.writeHead(status, head).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // Kept, so a test can tell whether anything was sent to the server.
      req.setEncoding('utf8');
      req.on('data', (chunk) => (entry.body += chunk));
      req.on('end', () => answer(405, { Allow: 'GET, HEAD' }));
      return;
    }
    if (control.faults.missing?.has(urlPath)) {
      answer(404, { 'Content-Type': 'text/plain' }, 'not found');
      return;
    }
    let file;
    const mount = mounted.find(([prefix]) => urlPath.startsWith(prefix));
    if (mount) {
      file = within(mount[1], urlPath.slice(mount[0].length - 1));
    } else if (urlPath.startsWith('/model-shards/')) {
      file = within(shards, urlPath.slice('/model-shards'.length));
    } else {
      file = within(dist, urlPath === '/' ? '/index.html' : urlPath);
    }
    let stat;
    try {
      stat = file && fs.statSync(file); // follows symlinks (model-shards/model.gguf may be one)
    } catch {
      stat = null;
    }
    if (!stat || !stat.isFile()) {
      answer(404, { 'Content-Type': 'text/plain' }, 'not found');
      return;
    }
    entry.status = 200;
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': stat.size,
      'Cache-Control': 'no-store',
    });
    if (req.method === 'HEAD') {
      res.end();
      entry.done = true;
      return;
    }
    sendBody(req, res, file, stat.size, urlPath, entry).catch(() => {
      entry.aborted = true;
      res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: actual } = server.address();
      control.url = `http://127.0.0.1:${actual}/`;
      control.origin = `http://127.0.0.1:${actual}`;
      control.close = () =>
        new Promise((done) => {
          server.closeAllConnections?.();
          server.close(() => done());
        });
      resolve(control);
    });
  });
}

// Run directly: serve until interrupted.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
  };
  const { url } = await startServer({
    port: Number(arg('--port', 8080)),
    dist: arg('--dist', path.join(repoRoot, 'dist')),
    shards: arg('--shards', path.join(repoRoot, 'model-shards')),
  });
  console.log(`Locum is served at ${url} (Ctrl+C to stop)`);
}
