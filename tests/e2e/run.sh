#!/usr/bin/env bash
# Locum's end-to-end test, from the repository root or anywhere:
#
#   tests/e2e/run.sh
#
# 1. builds the native CLI and asks it for the expected answer
#    (`locum generate --chat --max-tokens 30`, greedy, on the native GPU,
#    from the same shards the page loads);
# 2. `cargo xtask dist`: trunk build --release, shards and file list in dist/;
# 3. runs the browser tests (tests/e2e/*.test.mjs) in headless Chromium.
#
# The model is the default one's shards, model-shards/smollm2-135m-instruct
# (`cargo xtask setup` writes them; the test was written against
# SmolLM2-135M-Instruct Q4_1). Set LOCUM_E2E_SKIP_BUILD=1 to reuse an
# existing dist/ and CLI.
# Ends with the test's "N passed, M failed" line; exits non-zero on failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model="$root/model-shards/smollm2-135m-instruct"
prompt="What is the capital of France?"

step() { printf '\n== %s\n' "$*"; }
die() { printf 'run.sh: %s\n0 passed, 1 failed\n' "$*" >&2; exit 1; }

[ -f "$model/manifest.json" ] || die "no shards at $model (run cargo xtask setup)"
cd "$root"
command -v trunk >/dev/null || die "trunk is not installed (cargo install trunk --version 0.21.14 --locked --no-default-features)"
command -v node >/dev/null || die "node is not installed"

# Tools that live in the repository, both gitignored.
if [ ! -x .tools/node_modules/.bin/wasm-opt ]; then
  step "installing wasm-opt (binaryen 132) into .tools/"
  npm install --prefix .tools --no-save binaryen@132.0.0
fi
export PATH="$root/.tools/node_modules/.bin:$PATH"
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  step "installing playwright-core into tests/e2e/"
  npm ci --prefix tests/e2e
fi

if [ "${LOCUM_E2E_SKIP_BUILD:-0}" != 1 ]; then
  step "building the native CLI"
  cargo build --release -p locum-cli
fi
[ -x target/release/locum ] || die "target/release/locum is missing"

step "native expectation"
# XDG_RUNTIME_DIR silences a harmless Vulkan loader warning on lavapipe.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 0700 "$XDG_RUNTIME_DIR"
expected="$(mktemp)"
trap 'rm -f "$expected"' EXIT
target/release/locum generate --model "$model" --prompt "$prompt" --chat --max-tokens 30 >"$expected"
printf 'native answer: %s\n' "$(cat "$expected")"

if [ "${LOCUM_E2E_SKIP_BUILD:-0}" != 1 ]; then
  step "cargo xtask dist"
  cargo xtask dist
fi
[ -f dist/index.html ] || die "dist/ is missing: run trunk build --release"

step "browser test"
LOCUM_E2E_EXPECTED_FILE="$expected" LOCUM_E2E_SHARDS="$root/dist/model-shards" node tests/e2e/e2e.test.mjs
