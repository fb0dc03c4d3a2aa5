// attention_lanes.wgsl's V pass with its first sixteen steps written out
// (a head of 64, SmolLM2's, is all of them; a longer head loops over the
// rest), for lavapipe: a step's index into the sums, acc[query · HD/4 +
// d], is then a constant, where the loop's moving d made each read and
// write of them an indexed access to the lanes' private memory. Lab,
// SmolLM2's shape, one launch at 1,536 positions (`KV=f16 MIRROR=1
// POS=1536 SPLITS=1 KINDS=lanes scripts/lab_attention.py`): 0.266 / 0.270
// ms looped, 0.218 / 0.233 written out (BENCHMARKS.md, "twentieth
// session"). The steps are calls with a literal d: a loop of sixteen
// calls a round was twice as slow (0.59-0.66 ms), its d not a constant.
// Put in after attention_lanes.wgsl, whose V loop `Kernel::source`
// replaces with a call of `v_pass` (`written_out_v_pass` in shaders/mod.rs;
// `Variant::attention_v_loop` off).

// A pass's eight positions, as `kv_at` gives them.
struct Positions {
    a0: KvAt, a1: KvAt, a2: KvAt, a3: KvAt, a4: KvAt, a5: KvAt, a6: KvAt, a7: KvAt,
}

// Step d of `v_pass`: vec4 d of the eight positions' V rows, weighed by
// each query's weights, into that query's sums (acc[query · HD/4 + d]),
// the old sums scaled by `keep` first. Written out query by query (see
// `Fold`).
fn v_step(acc: ptr<function, array<vec4<f32>, 64>>, d: u32, at: Positions, keep: array<f32, 8>,
          wa: array<vec4<f32>, 8>, wb: array<vec4<f32>, 8>) {
    let hd4 = HD / 4u;
    if (d >= hd4) { return; }
    let vs = V8(v_load(at.a0, d), v_load(at.a1, d), v_load(at.a2, d), v_load(at.a3, d),
                v_load(at.a4, d), v_load(at.a5, d), v_load(at.a6, d), v_load(at.a7, d));
    if (0u < GROUP) { (*acc)[0u * hd4 + d] = (*acc)[0u * hd4 + d] * keep[0] + weigh(wa[0], wb[0], vs); }
    if (1u < GROUP) { (*acc)[1u * hd4 + d] = (*acc)[1u * hd4 + d] * keep[1] + weigh(wa[1], wb[1], vs); }
    if (2u < GROUP) { (*acc)[2u * hd4 + d] = (*acc)[2u * hd4 + d] * keep[2] + weigh(wa[2], wb[2], vs); }
    if (3u < GROUP) { (*acc)[3u * hd4 + d] = (*acc)[3u * hd4 + d] * keep[3] + weigh(wa[3], wb[3], vs); }
    if (4u < GROUP) { (*acc)[4u * hd4 + d] = (*acc)[4u * hd4 + d] * keep[4] + weigh(wa[4], wb[4], vs); }
    if (5u < GROUP) { (*acc)[5u * hd4 + d] = (*acc)[5u * hd4 + d] * keep[5] + weigh(wa[5], wb[5], vs); }
    if (6u < GROUP) { (*acc)[6u * hd4 + d] = (*acc)[6u * hd4 + d] * keep[6] + weigh(wa[6], wb[6], vs); }
    if (7u < GROUP) { (*acc)[7u * hd4 + d] = (*acc)[7u * hd4 + d] * keep[7] + weigh(wa[7], wb[7], vs); }
}

fn v_pass(acc: ptr<function, array<vec4<f32>, 64>>, at: Positions, keep: array<f32, 8>,
          wa: array<vec4<f32>, 8>, wb: array<vec4<f32>, 8>) {
    v_step(acc, 0u, at, keep, wa, wb);
    v_step(acc, 1u, at, keep, wa, wb);
    v_step(acc, 2u, at, keep, wa, wb);
    v_step(acc, 3u, at, keep, wa, wb);
    v_step(acc, 4u, at, keep, wa, wb);
    v_step(acc, 5u, at, keep, wa, wb);
    v_step(acc, 6u, at, keep, wa, wb);
    v_step(acc, 7u, at, keep, wa, wb);
    v_step(acc, 8u, at, keep, wa, wb);
    v_step(acc, 9u, at, keep, wa, wb);
    v_step(acc, 10u, at, keep, wa, wb);
    v_step(acc, 11u, at, keep, wa, wb);
    v_step(acc, 12u, at, keep, wa, wb);
    v_step(acc, 13u, at, keep, wa, wb);
    v_step(acc, 14u, at, keep, wa, wb);
    v_step(acc, 15u, at, keep, wa, wb);
    for (var d = 16u; d < HD / 4u; d++) {
        v_step(acc, d, at, keep, wa, wb);
    }
}
