// The rest of a layer after its Q|K|V product, for one token (decode), in
// one launch on lavapipe: lane attention (attention_lanes_body.wgsl, one
// launch's merge), the attention output product with the residual add and
// the partial sums of the feed-forward before (as matvec.wgsl's EPILOGUE 1
// with parts), and the fused feed-forward (ffn_slice.wgsl), whose partial
// sums the next layer adds in. Three launches' work in one.
// The launch has n workgroups, one a core, that all run at once: each
// takes every n-th KV head's attention, every n-th group of output rows,
// and slice k of the feed-forward. Between the parts the workgroups meet
// (`meet_all`): each counts itself in on an atomic counter and waits until
// the whole launch has, so that no workgroup reads att before every head
// is written, nor x before every row is.
// Why: a launch on lavapipe costs 40–80 µs whatever it does (the driver
// wakes its worker threads and waits for the last), a meeting 2–3 µs
// (the workers keep spinning). WebGPU does not promise that a launch's
// workgroups run at once, so a workgroup that waits gives up after
// MEET_TRIES rounds (lavapipe also ends any shader's loops after 65,535
// rounds in all) and marks the step failed in meet[1]: the sampler then
// hands back the step's input token marked (`ops::MISSED`), and the model
// runs the step again with its layers apart (`Model::decode`). Only where
// the driver has a worker thread for every workgroup (`Gpu::layer_tail_runs`),
// and only when asked for (`Gpu::layer_tail`: off by default).
//   att: (n_head · HD/4) vec4s, `lanes_out`; x: the residual stream
//   (n_embd,), read and written; parts: the partial sums in (p_o.parts of
//   them) and out (one a workgroup), (·, n_embd).

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> ap: AttentionParams;
@group(0) @binding(2) var<uniform> q: array<vec4<f32>, 4096>;
// bindings 3 and 4: the K and V caches, read through `kv_at`, `k_load` and
// `v_load` (attention_kv_buffer.wgsl, or attention_kv_mirror.wgsl's)
@group(0) @binding(5) var<storage, read_write> lanes_out: array<vec4<f32>>;
// bindings 6, 10, 13: W_o, W_gu, W_d, read through `wv`
// (layer_weights_*.wgsl)
@group(0) @binding(7) var<uniform> p_o: MatmulParams;
@group(0) @binding(8) var<storage, read_write> x: array<f32>;
@group(0) @binding(9) var<storage, read_write> parts: array<f32>;
@group(0) @binding(11) var<uniform> p_gu: MatmulParams;
@group(0) @binding(12) var<uniform> g: array<vec4<f32>, 4096>;
@group(0) @binding(14) var<uniform> pd: MatmulParams;
// [0]: arrivals this step (the host clears it before each step's first
// launch); [1]: nonzero once a workgroup gave up waiting.
@group(0) @binding(15) var<storage, read_write> meet: array<atomic<u32>, 4>;

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

// The params of the product under way (p_o, then p_gu): matvec_q8.wgsl and
// ffn_slice.wgsl read `p`.
var<private> p: MatmulParams;
// The gated epilogue (gate.wgsl reads it).
var<private> EPILOGUE: u32;
// Which matrix `wv` reads: 0 W_gu, 1 W_d (ffn_slice.wgsl's), 2 W_o.
var<private> PHASE: u32;

// Lanes per workgroup (`ops::MATVEC_LANES`).
const WG: u32 = 8u;

// Rounds of 256 looks at the counter a workgroup waits at a meeting
// before it gives up: about 65 ms on lavapipe (lab: 4,096 rounds, 22 ms),
// far past the 0.1–3 ms a worker thread took to start (waking it). The
// two meetings' rounds and the kernel's other loops (about 2,000 rounds)
// stay under lavapipe's 65,535.
// 0: every waiting workgroup gives up at once (`Gpu::with_meet_tries`,
// for the tests of what the model does then).
override MEET_TRIES: u32 = 12288u;

// The products' x: att for the output product, else the residual stream.
fn x_at(k: u32) -> vec4<f32> {
    if (PHASE == 2u) { return lanes_out[k]; }
    return vec4<f32>(x[4u * k], x[4u * k + 1u], x[4u * k + 2u], x[4u * k + 3u]);
}

@compute @workgroup_size(WG)
fn layer_tail(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>,
              lane: Lane) {
    if (step.n_tokens == 0u) { return; }
    let k = wid.x;
    let n = nwg.x;
    // 1. Attention, KV head by KV head.
    for (var h = k; h < ap.n_kv; h += n) {
        lanes_attend(h, 0u, 0u, lane.index);
        // lane_acc is the next head's.
        workgroupBarrier();
    }
    meet_all(lane, n);
    // 2. x += Σ parts + W_o · att, sixteen rows a lane.
    PHASE = 2u;
    p = p_o;
    EPILOGUE = 0u;
    x_quantize(lane);
    let nb = p.n_in / 32u;
    let wo = Span(p.n_out, nb, 0u, (nb + 3u) / 4u);
    let last = p.n_out - 1u;
    for (var rg = k * WG + lane.index; rg * 16u < p.n_out; rg += n * WG) {
        let r = rg * 16u;
        let v = rows_dot16_span(array<u32, 16>(
            min(r, last), min(r + 1u, last), min(r + 2u, last), min(r + 3u, last),
            min(r + 4u, last), min(r + 5u, last), min(r + 6u, last), min(r + 7u, last),
            min(r + 8u, last), min(r + 9u, last), min(r + 10u, last), min(r + 11u, last),
            min(r + 12u, last), min(r + 13u, last), min(r + 14u, last), min(r + 15u, last)), wo);
        add_row(r, v.a.x);
        add_row(r + 1u, v.a.y);
        add_row(r + 2u, v.a.z);
        add_row(r + 3u, v.a.w);
        add_row(r + 4u, v.b.x);
        add_row(r + 5u, v.b.y);
        add_row(r + 6u, v.b.z);
        add_row(r + 7u, v.b.w);
        add_row(r + 8u, v.c.x);
        add_row(r + 9u, v.c.y);
        add_row(r + 10u, v.c.z);
        add_row(r + 11u, v.c.w);
        add_row(r + 12u, v.d.x);
        add_row(r + 13u, v.d.y);
        add_row(r + 14u, v.d.z);
        add_row(r + 15u, v.d.w);
    }
    // Every row of x is whole, and every part read, before the
    // feed-forward reads x and writes its parts over them.
    meet_all(lane, n);
    // 3. The feed-forward's slice k.
    p = p_gu;
    ffn_slice(k, lane);
}

// Row r of x plus its partial sums and v (as matvec.wgsl's `put`, in the
// same order), if r is a row.
fn add_row(r: u32, v: f32) {
    if (r >= p.n_out) { return; }
    var s = v;
    for (var j = 0u; j < p.parts; j++) { s += parts[j * p.n_out + r]; }
    x[r] += s;
}

// Every workgroup of the launch waits here until all n have come.
fn meet_all(lane: Lane, n: u32) {
    storageBarrier();
    workgroupBarrier();
    if (lane.index == 0u) {
        // The arrivals are counted through the step: arrival t is at the
        // meeting that ends with arrival (t / n + 1) · n.
        let t = atomicAdd(&meet[0], 1u);
        let goal = (t / n + 1u) * n;
        var tries = 0u;
        if (MEET_TRIES == 0u) { atomicStore(&meet[1], 1u); }
        loop {
            if (MEET_TRIES == 0u || arrived256(goal)) { break; }
            tries += 1u;
            if (tries >= MEET_TRIES) {
                atomicStore(&meet[1], 1u);
                break;
            }
        }
    }
    storageBarrier();
    workgroupBarrier();
}

// Whether the counter has reached goal, looked at up to 256 times (written
// out: every round of a loop counts against lavapipe's 65,535 in all).
// Each look is a read-modify-write that changes nothing: the compiler
// merged 256 plain atomic loads into one, a round of the wait loop then
// lasting 0.03 µs, where 256 of these last about 5 µs.
fn arrived(goal: u32) -> bool {
    return atomicOr(&meet[0], 0u) >= goal;
}

fn arrived4(goal: u32) -> bool {
    return arrived(goal) || arrived(goal) || arrived(goal) || arrived(goal);
}

fn arrived16(goal: u32) -> bool {
    return arrived4(goal) || arrived4(goal) || arrived4(goal) || arrived4(goal);
}

fn arrived64(goal: u32) -> bool {
    return arrived16(goal) || arrived16(goal) || arrived16(goal) || arrived16(goal);
}

fn arrived256(goal: u32) -> bool {
    return arrived64(goal) || arrived64(goal) || arrived64(goal) || arrived64(goal);
}
