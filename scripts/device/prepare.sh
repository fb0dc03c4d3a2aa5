#!/usr/bin/env bash
# Packs what the GPU check (scripts/device/run.sh) needs into .device/, which
# git ignores and the device tool carries (`carry: [".device"]`): the CLI,
# the test programs that hold the GPU kernels to their twins and the whole
# model to candle, the default model's header (its metadata and tensor list,
# 1.8 MB: the 98 MB file does not fit the 64 MiB a device call carries, so
# run.sh makes a model of the same shape with random weights there), and the
# Vulkan loader's package for a machine without one. About 50 MB.
#
# With a llama.cpp Vulkan `llama-bench` built (scripts/build_llama_vulkan.sh)
# it also packs .device-llama/ (about 60 MB) for a second call,
# `bash scripts/device/run.sh llama` with `carry: [".device-llama"]`: that
# llama-bench on the same GPU and a model of the same shape.
#
#   bash scripts/device/prepare.sh [model.gguf]
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-.models/SmolLM2-135M-Instruct.Q4_1.gguf}
llama_bench=.tools/llama-vulkan/llama-bench
[ -f "$model" ] || { echo "no model at $model: run cargo xtask setup" >&2; exit 1; }

tests="kernels smollm2_vs_candle decode_ahead"
cargo build --profile test-release -p locum-cli
rm -rf .device && mkdir -p .device
install -m 755 target/test-release/locum .device/locum
for t in $tests; do
  exe=$(cargo test --profile test-release -p locum-engine --test "$t" --no-run \
          --message-format=json 2>/dev/null |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$t")
  install -m 755 "$exe" ".device/test-$t"
done
strip .device/locum .device/test-*
.device/locum synth --like "$model" --header-only --out .device/model.head.gguf
# The loader (libvulkan.so.1); the GPU's driver comes with the machine.
(cd .device && apt-get download libvulkan1 >/dev/null 2>&1) ||
  echo "libvulkan1 not downloaded: run.sh will rely on the machine's loader"
du -sh .device
ls -l .device

rm -rf .device-llama
if [ -x "$llama_bench" ]; then
  mkdir -p .device-llama
  cp .device/locum .device/model.head.gguf .device/*.deb .device-llama/ 2>/dev/null || true
  install -m 755 "$llama_bench" .device-llama/llama-bench
  strip .device-llama/llama-bench
  du -sh .device-llama
fi
