#!/usr/bin/env bash
# A measurement for the speed issue, not a test: prefill's two tile kernels
# (Q4_1, 1536 x 576, one 8-token group), matmul_tile_x.wgsl reading x from
# a storage buffer and matmul_tile_group.wgsl reading the group's 8 tokens of
# x from a 64 KB uniform, as the decode kernels do. Both are the engine's own
# shaders (QTYPE and EPILOGUE made constants), timed by the kernel_lab
# example on this machine's adapter. Needs `cargo build --release --example
# kernel_lab -p locum-engine` (or any `cargo test --workspace --release`
# build).
set -euo pipefail
cd "$(dirname "$0")/.."
lab="${KERNEL_LAB:-target/release/examples/kernel_lab}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
s=crates/engine/src/shaders
consts='s/^override QTYPE: u32 = 0u;/const QTYPE: u32 = 3u;/; s/^override EPILOGUE: u32 = 0u;/const EPILOGUE: u32 = 0u;/'
cat "$s/matmul_tile_x.wgsl" "$s/matmul_tile.wgsl" "$s/gate.wgsl" "$s/quant.wgsl" "$s/weights_buffer.wgsl" | sed "$consts" >"$dir/storage_x.wgsl"
cat "$s/matmul_tile_group.wgsl" "$s/matmul_tile.wgsl" "$s/gate.wgsl" "$s/quant.wgsl" "$s/weights_buffer.wgsl" | sed "$consts" >"$dir/uniform_x.wgsl"
grep -q '^const QTYPE' "$dir/uniform_x.wgsl" || { echo "the shader changed: update the substitutions" >&2; exit 1; }
export LAB_REPS="${LAB_REPS:-10}" LAB_U0=8,0,0,0 LAB_U1=576,1536,0,0,1536,0,0,0
LAB_U3="$(python3 -c "import random; random.seed(1); print(','.join(str(random.getrandbits(32) & 0x3bff3bff) for _ in range(8 * 576)))")"
export LAB_U3
echo "storage x, one 8-token group:"
"$lab" "$dir/storage_x.wgsl" matmul_tile 12 1 1 u:16 u:32 s:600000 s:147456 s:393216 | tail -n1
echo "uniform x, one 8-token group:"
"$lab" "$dir/uniform_x.wgsl" matmul_tile_group 12 1 1 u:16 u:32 s:600000 u:65536 s:393216 | tail -n1
