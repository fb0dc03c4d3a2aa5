// A tiny static server for Locum's trunk build: `dist/` at the root and the
// model files under `/model-shards/`, on 127.0.0.1 only.
//
//   node tests/e2e/server.mjs [--port 8080] [--dist dist] [--shards model-shards]
//
// It is also what the end-to-end test serves the page with. GET and HEAD
// only, no directory listings, nothing outside the two folders; files are
// streamed with their Content-Length so the page can show download progress.

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

/** Maps a URL path to a file under `root`, or null if it would leave it. */
function within(root, urlPath) {
  const file = path.resolve(root, '.' + path.posix.normalize('/' + urlPath));
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

/**
 * Starts the server; resolves to `{ url, close(), requests }` where
 * `requests` lists every path asked for, in order.
 */
export function startServer({
  dist = path.join(repoRoot, 'dist'),
  shards = path.join(repoRoot, 'model-shards'),
  port = 0,
} = {}) {
  dist = path.resolve(dist);
  shards = path.resolve(shards);
  const requests = [];
  const server = http.createServer((req, res) => {
    let urlPath;
    try {
      urlPath = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    requests.push(urlPath);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    let file;
    if (urlPath.startsWith('/model-shards/')) {
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
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': stat.size,
      'Cache-Control': 'no-store',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: actual } = server.address();
      resolve({
        url: `http://127.0.0.1:${actual}/`,
        requests,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
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
