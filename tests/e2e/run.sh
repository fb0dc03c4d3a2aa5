#!/usr/bin/env bash
# Locum's end-to-end test, from the repository root or anywhere:
#
#   tests/e2e/run.sh
#
# 1. builds the native CLI (or takes $LOCUM_CLI) and asks it for the expected answer
#    (`locum generate --chat --max-tokens 30`, greedy, on the native GPU,
#    from the same shards the page loads);
# 2. `cargo xtask dist`: trunk build --release, shards and file list in dist/;
# 3. runs the browser tests in headless Chromium: e2e.test.mjs (the page,
#    the answer, Stop), then shards.test.mjs (model loading: cold, warm,
#    resume, offline, damaged/missing shards, quota, peak memory; it makes
#    its extra models with the CLI in a temporary folder, ~1.1 GB for a
#    while, and removes them).
#
# The model is the default one's shards, model-shards/smollm2-135m-instruct
# (`cargo xtask setup` writes them; the test was written against
# SmolLM2-135M-Instruct Q4_1). Set LOCUM_E2E_SKIP_BUILD=1 to reuse an
# existing dist/ and CLI; LOCUM_E2E_SKIP_1GIB=1 leaves out the 1 GiB model.
# Ends with a line "N passed, M failed" over both test files; exits non-zero
# on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model="$root/model-shards/smollm2-135m-instruct"
prompt="What is the capital of France?"

step() { printf '\n== %s\n' "$*"; }
die() { printf 'run.sh: %s\n0 passed, 1 failed\n' "$*" >&2; exit 1; }

gguf="$root/.models/SmolLM2-135M-Instruct.Q4_1.gguf"

[ -f "$model/manifest.json" ] || die "no shards at $model (run cargo xtask setup)"
[ -f "$gguf" ] || die "no $gguf (run cargo xtask setup)"
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

# LOCUM_CLI: a CLI already built (`cargo xtask test` passes the one its test
# build made, so nothing is compiled twice).
cli="${LOCUM_CLI:-$root/target/release/locum}"
if [ -z "${LOCUM_CLI:-}" ] && [ "${LOCUM_E2E_SKIP_BUILD:-0}" != 1 ]; then
  step "building the native CLI"
  cargo build --release -p locum-cli
fi
[ -x "$cli" ] || die "$cli is missing"

step "native expectation"
# XDG_RUNTIME_DIR silences a harmless Vulkan loader warning on lavapipe.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 0700 "$XDG_RUNTIME_DIR"
expected="$(mktemp)"
trap 'rm -f "$expected"' EXIT
# The page runs on SwiftShader, which has no shader-f16, so its KV cache is
# f32, and there decode takes its Q4 and Q8_0 products with x in int8: the native
# answer is asked for with the same cache and products (lavapipe would
# otherwise keep K and V in f16 and decode in f32, and 30 greedy tokens may
# part ways: with prefill in int8 on both, f32 decode answers "Paris,
# France." where int8 decode answers "Paris."). Prefill is int8 on both.
LOCUM_KV_F16=0 LOCUM_INT8=1 LOCUM_INT8_Q8_0=1 "$cli" generate --model "$model" --prompt "$prompt" --chat --max-tokens 30 >"$expected"
printf 'native answer: %s\n' "$(cat "$expected")"
# Gemma 3 270M, the second architecture (`cargo xtask setup --gemma`).
gemma="$root/model-shards/gemma-3-270m"
gemma_expected="$(mktemp)"
trap 'rm -f "$expected" "$gemma_expected"' EXIT
if [ -f "$gemma/manifest.json" ]; then
  # A plain completion, not a chat turn: see GEMMA_PROMPT in e2e.test.mjs.
  LOCUM_KV_F16=0 LOCUM_INT8=1 LOCUM_INT8_Q8_0=1 "$cli" generate --model "$gemma" --prompt "1, 2, 3, 4, 5," --max-tokens 30 --ctx 256 >"$gemma_expected"
  printf 'native Gemma answer: %s\n' "$(cat "$gemma_expected")"
  export LOCUM_E2E_GEMMA_EXPECTED_FILE="$gemma_expected"
else
  printf 'no Gemma shards at %s: its browser test is skipped\n' "$gemma"
fi

if [ "${LOCUM_E2E_SKIP_BUILD:-0}" != 1 ]; then
  step "cargo xtask dist"
  cargo xtask dist
fi
[ -f dist/index.html ] || die "dist/ is missing: run trunk build --release"

# Each test file ends with its own "N passed, M failed"; both run even if the
# first fails, and the totals come last.
totals="$(mktemp)"
log="$(mktemp)"
trap 'rm -f "$expected" "$gemma_expected" "$totals" "$log"' EXIT
status=0
browser_test() {
  step "browser test: $1"
  node "tests/e2e/$1" | tee "$log" || status=1
  grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1 >>"$totals" || echo "0 passed, 1 failed" >>"$totals"
}

export LOCUM_E2E_SHARDS="$root/dist/model-shards"
LOCUM_E2E_EXPECTED_FILE="$expected" browser_test e2e.test.mjs
browser_test clinical.test.mjs
LOCUM_E2E_GGUF="$gguf" LOCUM_E2E_CLI="$cli" browser_test shards.test.mjs

printf '\n'
awk '{ p += $1; f += $3 } END { printf "%d passed, %d failed\n", p, f }' "$totals"
exit "$status"
