#!/usr/bin/env bash
# An experiment for the speed issue, not a test: prefill's matmul_tile
# (Q4_1, 1536 x 576, 8-token groups) reading x from a storage buffer, as it
# does now, against the same kernel reading the group's 8 tokens of x from a
# 64 KB uniform, as the decode kernels already do. Both are generated from
# the engine's own shaders and timed by the kernel_lab example on this
# machine's adapter. Needs `cargo build --release --example kernel_lab -p
# locum-engine` (or any `cargo test --workspace --release` build).
set -euo pipefail
cd "$(dirname "$0")/.."
lab="${KERNEL_LAB:-target/release/examples/kernel_lab}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
s=crates/engine/src/shaders
cat "$s/matmul_tile.wgsl" "$s/gate.wgsl" "$s/quant.wgsl" |
  sed 's/^override QTYPE: u32 = 0u;/const QTYPE: u32 = 3u;/; s/^override EPILOGUE: u32 = 0u;/const EPILOGUE: u32 = 0u;/' >"$dir/storage_x.wgsl"
sed 's|var<storage, read> x: array<vec4<f32>>;|var<uniform> x: array<vec4<f32>, 4096>;|;
     s|let t0 = gid.y \* TT;|let t0 = p._pad0;|;
     s|x\[(t0 + min(t, nt - 1u)) \* n4 + b \* 8u + i\]|x[min(t, nt - 1u) * n4 + b * 8u + i]|' \
  "$dir/storage_x.wgsl" >"$dir/uniform_x.wgsl"
grep -q 'var<uniform> x' "$dir/uniform_x.wgsl" && grep -q 'x\[min(t, nt - 1u)' "$dir/uniform_x.wgsl" ||
  { echo "the shader changed: update the substitutions" >&2; exit 1; }
export LAB_REPS="${LAB_REPS:-10}" LAB_U0=8,0,0,0 LAB_U1=576,1536,0,0,1536,0,0,0
LAB_U3="$(python3 -c "import random; random.seed(1); print(','.join(str(random.getrandbits(32) & 0x3bff3bff) for _ in range(8 * 576)))")"
export LAB_U3
echo "storage x, one 8-token group:"
"$lab" "$dir/storage_x.wgsl" matmul_tile 12 1 1 u:16 u:32 s:600000 s:147456 s:393216 | tail -n1
echo "uniform x, one 8-token group:"
"$lab" "$dir/uniform_x.wgsl" matmul_tile 12 1 1 u:16 u:32 s:600000 u:65536 s:393216 | tail -n1
