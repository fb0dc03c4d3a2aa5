#!/usr/bin/env bash
# The GPU check in one call, on a machine with a GPU (the device tool's,
# after scripts/device/prepare.sh here; it runs on any Vulkan adapter, so it
# can be tried here first). Writes to $OUT (or device-out/, git-ignored):
# - summary.txt: each test program's exit status, then the bench's;
# - test-*.log: the kernels against their twins (random inputs, odd sizes),
#   the whole model against candle on the CPU, pipelined decode against
#   plain, all on this adapter;
# - bench.json / bench.log: `locum bench` (512-token prompt, decode at
#   context 0 / 512 / 2,048, roofline against this adapter's copy bandwidth,
#   each kernel's time, launches timed inside a pass from GPU timestamps).
# The model is made here with the default model's shape and random weights
# (`locum synth --like`): it runs the real one's kernels (on lavapipe its
# decode at the real one's speed, its prefill about 0.9×), and the tests
# compare the GPU with candle on the same weights; its words are noise.
#
# `run.sh llama` (a second call, with .device-llama carried) runs llama.cpp's
# Vulkan llama-bench instead, on the same model and GPU: llama-bench.json.
#
# QUICK=1 shortens both (a 16-token prompt, context 0 only) to try them on a
# CPU adapter here, where llama.cpp's Vulkan build reads 2,048 tokens in
# minutes.
#
#   [QUICK=1] bash scripts/device/run.sh [llama]
set -uo pipefail
cd "$(dirname "$0")/../.."
kit=.device
[ "${1:-}" = llama ] && kit=.device-llama
out=${OUT:-device-out}
prompt=512 contexts=0,512,2048 decode=128 reps=3
[ "${QUICK:-0}" = 1 ] && prompt=16 contexts=0 decode=8 reps=1
mkdir -p "$out"
: > "$out/summary.txt"
say() { echo "$*" | tee -a "$out/summary.txt"; }

if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  for f in $kit/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
  ldconfig
fi
nv=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv" ]; then export VK_DRIVER_FILES=$nv; fi
(nvidia-smi -L || true) > "$out/gpu.txt" 2>&1
say "gpu: $(head -1 "$out/gpu.txt")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model=$tmp/model.gguf
$kit/locum synth --like $kit/model.head.gguf --out "$model" >/dev/null || { say "synth failed"; exit 1; }
export LOCUM_TEST_MODEL=$model RUST_BACKTRACE=1

if [ "$kit" = .device-llama ]; then
  # Every layer on the first adapter (its Vulkan backend skips CPU ones
  # unless named): the same prompt, contexts and decode as the bench below.
  GGML_VK_VISIBLE_DEVICES=${GGML_VK_VISIBLE_DEVICES:-0} timeout 500 $kit/llama-bench -m "$model" \
    -ngl 99 -p $prompt -n $decode -d $contexts -r $reps -o json > "$out/llama-bench.json" 2> "$out/llama-bench.log"
  say "llama-bench: exit $?"
  cat "$out/llama-bench.json"
  exit 0
fi

for t in kernels smollm2_vs_candle decode_ahead; do
  start=$(date +%s)
  timeout 200 "$kit/test-$t" > "$out/test-$t.log" 2>&1
  say "test $t: exit $? in $(( $(date +%s) - start )) s; $(grep -E '^test result' "$out/test-$t.log" | tail -1)"
done

timeout 240 $kit/locum bench --model "$model" --prompt-tokens $prompt --contexts $contexts \
  --decode-tokens $decode --profile --json > "$out/bench.json" 2> "$out/bench.log"
say "bench: exit $?"
cat "$out/bench.json"
grep -A14 'inside one decode pass' "$out/bench.log"
