#!/usr/bin/env bash
# The engine's kernel tests (crates/engine/tests/kernels) in headless
# Chromium: wasm-bindgen-test drives the browser through ChromeDriver, and the
# same test bodies that run natively on Vulkan run on WebGPU (SwiftShader on
# a machine without a GPU). Needs Debian's chromium and chromium-driver and
# wasm-bindgen-cli at the version in Cargo.lock (`cargo xtask setup --test`).
#
# Usage: scripts/test-browser-kernels.sh [test name filter]
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in /usr/bin/chromium /usr/bin/chromedriver; do
    [[ -x $tool ]] || { echo "missing $tool: run \`cargo xtask setup --test\`" >&2; exit 1; }
done
command -v wasm-bindgen-test-runner >/dev/null || {
    echo "missing wasm-bindgen-test-runner: run \`cargo xtask setup --test\`" >&2
    exit 1
}

export CHROMEDRIVER=/usr/bin/chromedriver
# Absolute: cargo starts the runner in the package's directory.
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/crates/engine/tests/webdriver.json"
# The runner's default (20 s) is too short for SwiftShader.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"

# Not `-q`: the runner rejects `--quiet`.
exec cargo test -p locum-engine --target wasm32-unknown-unknown --test kernels -- "$@"
