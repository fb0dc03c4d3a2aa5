// Locum's service worker: the offline app shell.
//
// It keeps the page's own files (index.html, the app and worker JS and
// wasm, CSS) so that Locum opens without a network after one complete
// visit. It is deliberately small and plain JavaScript: no build step.
//
// What it does NOT do: touch the model. Shards under /model-shards/ and the
// engine's own storage under /locum-cache/ are never intercepted, and the
// caches the engine worker owns (`locum-shards*`, `locum-manifests*`) are
// never opened or deleted here. The engine stores shards content-addressed
// and verifies them itself.
//
// Strategy: network first, cache as fallback, for navigations and app
// files alike. Online, every request goes to the server, so a new deploy is
// picked up at once (and its responses refresh the cache); offline, the
// cached copy answers.
//
// The file list comes from `./locum-files.json`, written by the build:
//   {"version": "<hash>", "files": ["index.html", "locum-app-<hash>.js", …]}
// with paths relative to the site root. Its files go into the cache
// `locum-app-<version>`. A dev server has no list: the worker installs
// anyway and caches what the page fetches into `locum-app-unversioned`.

'use strict';

const APP_CACHE_PREFIX = 'locum-app-';
const UNVERSIONED_CACHE = APP_CACHE_PREFIX + 'unversioned';
const FILE_LIST = './locum-files.json';
// Path segments this worker must never answer for: the engine worker
// fetches and stores these itself. Matched anywhere in the path, so the rule
// also holds when the site is served from a sub-folder.
const NEVER_INTERCEPT = ['/model-shards/', '/locum-cache/'];

// The app cache in use, remembered between events while this worker is
// alive (the browser may stop it at any time; then it is looked up again).
let appCacheName = null;

self.addEventListener('install', (event) => {
  // Take over from an older worker as soon as this one is installed: the
  // strategy is network first, so old and new pages are both served right.
  event.waitUntil(precache().finally(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      await dropOldAppCaches(await currentAppCache());
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (!shouldHandle(request)) return; // the browser fetches it as usual
  const navigation = request.mode === 'navigate';
  event.respondWith(networkFirst(request, navigation, event));
});

/** Whether this worker answers `request`; everything else passes through. */
function shouldHandle(request) {
  if (request.method !== 'GET') return false;
  // Partial responses (206) cannot be cached; leave ranges to the browser.
  if (request.headers.has('range')) return false;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return false;
  return !NEVER_INTERCEPT.some((segment) => url.pathname.includes(segment));
}

/**
 * Fetches `request` from the network and stores a good answer; if the
 * network fails, answers from the cache. A navigation the cache does not
 * know falls back to the cached page itself ("./").
 */
async function networkFirst(request, navigation, event) {
  try {
    const response = await fetch(request);
    // Only plain same-origin answers: a redirected one cannot answer a
    // navigation later, and an opaque or failed one is not worth keeping.
    if (response.ok && response.type === 'basic' && !response.redirected) {
      const copy = response.clone();
      event.waitUntil(
        (async () => {
          const cache = await caches.open(await currentAppCache());
          await cache.put(request, copy);
          // A page load while online is the moment to notice a new deploy.
          if (navigation) await refreshPrecache();
        })().catch((e) => console.info(`[sw] could not update the cache: ${e}`)),
      );
    }
    return response;
  } catch (networkError) {
    const cache = await caches.open(await currentAppCache());
    const cached =
      (await cache.match(request, { ignoreSearch: navigation })) ??
      (navigation ? await cache.match('./') : undefined);
    if (cached) return cached;
    throw networkError; // the page sees an ordinary network error
  }
}

/**
 * Reads the build's file list and fills `locum-app-<version>` with its files
 * and "./". Resolves to the cache's name, or null when there is no list (a
 * dev server) or a file could not be fetched: installing goes on regardless.
 */
async function precache() {
  let list;
  let listResponse;
  try {
    listResponse = await fetch(FILE_LIST, { cache: 'no-store' });
    if (!listResponse.ok) throw new Error(`HTTP ${listResponse.status}`);
    list = await listResponse.clone().json();
    if (typeof list.version !== 'string' || !Array.isArray(list.files)) {
      throw new Error('no "version" and "files" in it');
    }
  } catch (e) {
    console.info(`[sw] no file list at ${FILE_LIST} (${e}); the app is cached as it is used`);
    return null;
  }
  const name = APP_CACHE_PREFIX + list.version;
  const cache = await caches.open(name);
  // The list itself goes in last: its presence marks the cache complete.
  if (await cache.match(FILE_LIST)) return name;
  try {
    // `no-cache`: revalidate with the server, as worker files keep their
    // names across builds and the HTTP cache may hold an older one.
    const urls = ['./', ...list.files.map((f) => './' + String(f).replace(/^\/+/, ''))];
    await cache.addAll(urls.map((url) => new Request(url, { cache: 'no-cache' })));
    await cache.put(FILE_LIST, listResponse);
  } catch (e) {
    console.info(`[sw] could not keep every app file for offline use (${e})`);
    return null;
  }
  appCacheName = name;
  return name;
}

/**
 * After a page load online: if the build's file list names a version not
 * yet cached, cache it and drop the older app caches.
 */
async function refreshPrecache() {
  const name = await precache();
  if (name) await dropOldAppCaches(name);
}

/**
 * The app cache to read and write: the newest complete `locum-app-<version>`
 * (one that holds its file list), else the unversioned one.
 */
async function currentAppCache() {
  if (appCacheName) return appCacheName;
  const names = (await caches.keys()).filter((n) => n.startsWith(APP_CACHE_PREFIX));
  // Cache Storage lists caches in the order they were made: newest last.
  for (const name of names.reverse()) {
    if (name === UNVERSIONED_CACHE) continue;
    if (await (await caches.open(name)).match(FILE_LIST)) {
      appCacheName = name;
      return name;
    }
  }
  return UNVERSIONED_CACHE;
}

/**
 * Deletes every `locum-app-*` cache but `keep`. Only this worker's prefix:
 * the engine's `locum-shards*` and `locum-manifests*` caches are left alone.
 */
async function dropOldAppCaches(keep) {
  const names = await caches.keys();
  await Promise.all(
    names
      .filter((n) => n.startsWith(APP_CACHE_PREFIX) && n !== keep)
      .map((n) => caches.delete(n)),
  );
  appCacheName = keep;
}
