"""A measurement, not a test: the engine's decode product kernels, from their
real WGSL files, timed against each other on one adapter through wgpu for
Python: f32 with x from a uniform (`x_uniform.wgsl`), f32 with x shared by
subgroup broadcasts (`x_subgroup.wgsl`, where the adapter has subgroups) and
int8 (`matvec_q8.wgsl`, x quantized in workgroup memory). Random weights in
a texture as the engine keeps them on CPU adapters; the best of 12 rounds
of REPS launches each (20 unless set), the kernels taking turns.

    python3 -m venv .venv-lab && .venv-lab/bin/pip install wgpu numpy
    # n_in n_out qtype (3 = Q4_1, 8 = Q8_0) epilogue (0 store, 1 add, 2 SiLU pair) norm (0/1)
    .venv-lab/bin/python scripts/lab_decode_kernels.py 576 3072 3 2 1
    VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json .venv-lab/bin/python scripts/lab_decode_kernels.py 576 3072 3 2 0

Options, as environment variables:
- KINDS=uni,sub,q8: which kernels (`sto` in front, e.g. `stosub`: the
  weights read as a storage texture); `kind@REV` (e.g. `sub@69232c1`) takes
  that kernel's WGSL from git revision REV, to time a change against what
  came before it in one run.
- COLD=N: N copies of the weights, each launch reading the next, so that
  with N × the matrix's size past the caches (60 for a 576 × 3,072 Q4_1
  matrix) the weights come from memory, as in a decode step.
- REPS=N: launches per round.
- Q8LOOP=1: the int8 kernel's group of four blocks as a loop
  (q8_group_loop.wgsl, SwiftShader's) rather than written out (lavapipe's).

Rows per invocation and lanes per workgroup are read from the kernel's WGSL
(16 and 8 since commit 3ada4cb's successor, 8 and 16 from 9d26f41, 2 and
64 before). The f32
kernel without a fused norm ignores NORM (its y differs then), and
SwiftShader's 4-lane subgroups give the subgroup kernel wrong values: the
engine does not use it there. Numbers are in BENCHMARKS.md and matvec.wgsl.
"""
import os
import re
import sys
import time

import numpy as np
import wgpu

from lab_common import device, rd, weight_textures


N_IN, N_OUT = int(sys.argv[1]), int(sys.argv[2])
QT = int(sys.argv[3]) if len(sys.argv) > 3 else 3   # 3 = Q4_1, 8 = Q8_0
EPI = int(sys.argv[4]) if len(sys.argv) > 4 else 0
NORM = int(sys.argv[5]) if len(sys.argv) > 5 else 0
COLD = int(os.environ.get("COLD", "1"))
REPS = int(os.environ.get("REPS", "20"))
NB = N_IN // 32


def src(kind):
    base, _, rev = kind.partition("@")
    rev = rev or None
    # `sto` in front of a kind (`stosub`, `stouni`, `stoq8`): the weights
    # read as a read-only storage texture (weights_storage.wgsl), as on lavapipe.
    wt = "weights_texture.wgsl"
    if base.startswith("sto"):
        base, wt = base[3:] or "sub", "weights_storage.wgsl"
    s = rd("matvec.wgsl", rev) + rd("gate.wgsl", rev) + rd("quant.wgsl", rev) + rd(wt, rev)
    if base == "q8":
        s += f"const XBLOCKS: u32 = {NB}u;\n" + rd("matvec_q8.wgsl", rev)
        if "fn q8_group(" not in s and "q8_group(" in s:
            # a group's four blocks split out of matvec_q8.wgsl (4a58e62):
            # written out as on lavapipe, or looped as on SwiftShader (Q8LOOP=1)
            s += rd("q8_group_loop.wgsl" if os.environ.get("Q8LOOP") == "1" else "q8_group_unrolled.wgsl", rev)
        if "fn block_idot" not in s:
            # block_idot split out of matvec_q8.wgsl by weight type
            s += rd("matvec_q8_bytes.wgsl" if QT == 8 else "matvec_q8_pairs.wgsl", rev)
        if "fn w_pairs" not in s and QT != 8:
            s += rd("int8_pairs.wgsl", rev)  # split out of matvec_q8.wgsl with the int8 tile
    else:
        s += rd("matvec_row.wgsl", rev) + rd("x_subgroup.wgsl" if base == "sub" else "x_uniform.wgsl", rev)
    return s


a, dev, feats = device()
print(a.info["description"], N_IN, N_OUT, "QT", QT, "EPI", EPI, "NORM", NORM, feats, "COLD", COLD)
rng = np.random.default_rng(0)
texs = weight_textures(dev, N_IN, N_OUT, QT, COLD, rng)
U = wgpu.BufferUsage
step = dev.create_buffer_with_data(data=np.array([1, 0, 1, 0], np.uint32).tobytes(), usage=U.UNIFORM)
# MatmulParams: n_in, n_out, one_row, accumulate, y_stride, y_offset, token0,
# eps, epilogue, x_group, norm, pad (the epilogue and norm read at run time
# since 4f92d1c; older kernels take them as overrides too)
p = np.array([N_IN, N_OUT, 1, 0, N_OUT // (2 if EPI >= 2 else 1), 0, 0, 0, EPI, 0, NORM, 0], np.uint32); p[7] = np.float32(1e-5).view(np.uint32)
pb = dev.create_buffer_with_data(data=p.tobytes(), usage=U.UNIFORM)
xf = np.zeros(16384, np.float32); xf[:N_IN] = rng.standard_normal(N_IN)
xb = dev.create_buffer_with_data(data=xf.tobytes(), usage=U.UNIFORM)
gf = np.zeros(16384, np.float32); gf[:N_IN] = 1.0
gb = dev.create_buffer_with_data(data=gf.tobytes(), usage=U.UNIFORM)
y = dev.create_buffer(size=N_OUT*4, usage=U.STORAGE | U.COPY_SRC)
parts = dev.create_buffer(size=16, usage=U.STORAGE)


def mk(kind):
    code = src(kind)
    m = dev.create_shader_module(code=code)
    consts = {"QTYPE": QT}
    if re.search(r"override EPILOGUE", code): consts["EPILOGUE"] = EPI
    normed = kind.split("@")[0].removeprefix("sto") in ("q8", "sub", "")
    if normed and re.search(r"override NORM", code): consts["NORM"] = NORM
    pipe = dev.create_compute_pipeline(layout="auto", compute={"module": m, "entry_point": "matvec", "constants": consts})
    groups = []
    for tex in texs:
        ents = [{"binding": 0, "resource": {"buffer": step}}, {"binding": 1, "resource": {"buffer": pb}},
                {"binding": 2, "resource": tex.create_view()}, {"binding": 3, "resource": {"buffer": xb}},
                {"binding": 4, "resource": {"buffer": y}}]
        # Since the fused feed-forward (ffn_matvec.wgsl) binding 5 is the
        # partial sums the residual add takes in (none here) and g is 6.
        if "parts_in" in code:
            ents.append({"binding": 5, "resource": {"buffer": parts}})
            if normed: ents.append({"binding": 6, "resource": {"buffer": gb}})
        elif normed: ents.append({"binding": 5, "resource": {"buffer": gb}})
        groups.append(dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=ents))
    lanes = re.search(r"const WG: u32 = (\d+)u;", code)
    rows_per = 16 if "rows_dot16" in code else 8 if "rows_dot8" in code else 2
    lanes = int(lanes.group(1)) if lanes else 64
    return pipe, groups, -(-(-(-N_OUT // rows_per)) // lanes)


def t(pg, reps=REPS):
    pipe, groups, n = pg
    enc = dev.create_command_encoder(); cp = enc.begin_compute_pass(); cp.set_pipeline(pipe)
    for r in range(reps):
        cp.set_bind_group(0, groups[r % len(groups)]); cp.dispatch_workgroups(n)
    cp.end(); t0 = time.perf_counter(); dev.queue.submit([enc.finish()]); dev.queue.read_buffer(y, size=4)
    return (time.perf_counter() - t0) / reps * 1e3


kinds = os.environ.get("KINDS", "uni,sub,q8").split(",")
kinds = [k for k in kinds if not k.removeprefix("sto").startswith("sub") or feats]
ps = {}
for k in kinds:
    try: ps[k] = mk(k)
    except Exception as e: print(k, "failed", str(e)[:300])
best = {k: 1e9 for k in ps}
for it in range(12):
    for k in ps:
        best[k] = min(best[k], t(ps[k]))
for k in ps:
    t(ps[k], 1); out = np.frombuffer(dev.queue.read_buffer(y), np.float32)[:4].copy()
    print(f"{k}: {best[k]:.3f} ms  y={out}")
