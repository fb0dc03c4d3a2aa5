// Decode's attention and its output product in one launch, for CPU
// adapters, without the workgroups waiting for each other: workgroup h
// takes KV head h's attention (attention_lanes_body.wgsl, merged in the
// workgroup as `ops::attention_lanes_merged`'s launch), then dots every row
// of W_o with that head's GROUP · HD columns of att only, and writes the
// result as one partial sum, parts[p.y_offset + h · p.y_stride + r].
// W_o · att is the sum of the KV heads' partial sums. The launches after it
// add them in, as they add the fused feed-forward's (ffn_matvec.wgsl's
// `x_at`, qkv_matvec.wgsl's): nobody waits for another workgroup, and the
// attention's own launch and the output product's become one.
// Why: a launch on lavapipe costs 40–80 µs whatever it does (the driver
// wakes its worker threads and waits for the last), about a third of a
// decode step's time at short contexts across its 125 launches.
// The product is matvec_q8.wgsl's (x quantized to int8 blocks in workgroup
// memory, `rows_dot16_span`), over the groups of four blocks that hold the
// head's columns; the window's blocks outside them are quantized from
// zeros, which add exactly 0 (their scale d and sum are 0).
//   att: (n_head · HD/4) vec4s, `lanes_out`, written and read back by the
//   same workgroup; W_o (n_embd, n_head · HD); p: W_o's params with n_in
//   the window's width (its most groups of four blocks, times 128).

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> ap: AttentionParams;
@group(0) @binding(2) var<uniform> q: array<vec4<f32>, 4096>;
// bindings 3 and 4: the K and V caches, read through `kv_at`, `k_load` and
// `v_load` (attention_kv_buffer.wgsl, or attention_kv_mirror.wgsl's)
@group(0) @binding(5) var<storage, read_write> lanes_out: array<vec4<f32>>;
// binding 6: W_o, read through `wv` (weights_*.wgsl's prelude, moved there)
@group(0) @binding(7) var<uniform> p: MatmulParams;
@group(0) @binding(8) var<storage, read_write> parts: array<f32>;

struct MatmulParams {
    n_in: u32,
    n_out: u32,
    one_row: u32,
    accumulate: u32,
    y_stride: u32,
    y_offset: u32,
    token0: u32,
    eps: f32,
    epilogue: u32,
    x_group: u32,
    norm: u32,
    parts: u32,
}

// matvec_q8.wgsl's fused norm reads g; p.norm is 0 here.
var<private> g: array<vec4<f32>, 1>;

// The window of att the product reads (vec4s from `win`), and the head's
// vec4s in it (`head_lo` .. `head_hi`).
var<private> win: u32;
var<private> head_lo: u32;
var<private> head_hi: u32;

// Lanes per workgroup (`ops::MATVEC_LANES`).
const WG: u32 = 8u;

// The product's x: the head's columns of att, zeros around them.
fn x_at(k: u32) -> vec4<f32> {
    let c = win + k;
    if (c >= head_lo && c < head_hi) { return lanes_out[c]; }
    return vec4<f32>(0.0);
}

@compute @workgroup_size(WG)
fn attention_out(@builtin(workgroup_id) wid: vec3<u32>, lane: Lane) {
    if (step.n_tokens == 0u) { return; }
    let h = wid.x;
    lanes_attend(h, 0u, 0u, lane.index);
    // The head's att is written before any lane reads it.
    storageBarrier();
    workgroupBarrier();
    let hd4 = HD / 4u;
    head_lo = h * GROUP * hd4;
    head_hi = head_lo + GROUP * hd4;
    // Groups of four blocks (128 columns, 32 vec4s) holding the head.
    let g_first = head_lo / 32u;
    let groups = (head_hi + 31u) / 32u - g_first;
    win = g_first * 32u;
    x_quantize(lane);
    let wo = Span(p.n_out, ap.n_head * HD / 32u, g_first, groups);
    let last = p.n_out - 1u;
    // Rows 16·rg .. 16·rg + 15 a lane (rows past the last computed again,
    // clamped, and not stored).
    for (var rg = lane.index; rg * 16u < p.n_out; rg += WG) {
        let r = rg * 16u;
        let v = rows_dot16_span(array<u32, 16>(
            min(r, last), min(r + 1u, last), min(r + 2u, last), min(r + 3u, last),
            min(r + 4u, last), min(r + 5u, last), min(r + 6u, last), min(r + 7u, last),
            min(r + 8u, last), min(r + 9u, last), min(r + 10u, last), min(r + 11u, last),
            min(r + 12u, last), min(r + 13u, last), min(r + 14u, last), min(r + 15u, last)), wo);
        put_part(h, r, v.a);
        put_part(h, r + 4u, v.b);
        put_part(h, r + 8u, v.c);
        put_part(h, r + 12u, v.d);
    }
}

// Rows r .. r + 3 of head h's partial sum, those that are rows.
fn put_part(h: u32, r: u32, v: vec4<f32>) {
    let base = p.y_offset + h * p.y_stride;
    if (r < p.n_out) { parts[base + r] = v.x; }
    if (r + 1u < p.n_out) { parts[base + r + 1u] = v.y; }
    if (r + 2u < p.n_out) { parts[base + r + 2u] = v.z; }
    if (r + 3u < p.n_out) { parts[base + r + 3u] = v.w; }
}
