// Decode attention for CPU adapters, one cached position to a lane: the
// first launch of a split, whose partial results `attention_merge.wgsl`
// combines (the same format as `attention_split.wgsl`'s).
// Workgroup (KV head g, token t, split s) of LANES lanes takes the s-th of
// SPLITS runs of the positions token t sees; lane i takes every LANES-th
// position of the run from its i-th on. For each, it reads the K row and
// dots it with the GROUP queries of g, then folds the V row into its own
// running softmax for each of those queries (its max m, its sum of weights
// l, its unnormalized weighted sum of V rows). Each lane writes its three
// as one part: the merge sees SPLITS · LANES parts per head.
// Why this shape on a CPU adapter (lavapipe, SwiftShader): there a lane is a
// SIMD lane of one core, a storage or workgroup load costs a load per lane
// and 32-bit word, and a uniform load whose address is the same on every
// lane costs one. So: each K and V word is loaded once, by one lane; the
// queries come from a uniform binding (`q`, one load serves the SIMD
// group); nothing goes through workgroup memory, and no barrier is taken.
// Row attention (`attention_rows.wgsl`) takes three launches and loads
// each score from storage twice more and each query once per lane.
// Every sum is f32; the KV cache may be f16 (`kv4`, `widen`).

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> ap: AttentionParams;
// The first 64 KiB of q (n_tokens, n_head, HD/4): the op takes only batches
// whose queries fit (`ops::attention_lanes`).
@group(0) @binding(2) var<uniform> q: array<vec4<f32>, 4096>;
// bindings 3 and 4: the K and V caches, read through `kv_at`, `k_load` and
// `v_load` (attention_kv_buffer.wgsl, or attention_kv_mirror.wgsl's
// textures)
// The parts, (n_tokens, n_head, SPLITS · LANES, HD/4 + 1), or with MERGE = 1
// the output, (n_tokens, n_head, HD/4).
@group(0) @binding(5) var<storage, read_write> lanes_out: array<vec4<f32>>;

// The work is lanes_attend's (attention_lanes_body.wgsl).
@compute @workgroup_size(8)
fn attention_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    lanes_attend(wid.x, wid.y, wid.z, lid);
}
