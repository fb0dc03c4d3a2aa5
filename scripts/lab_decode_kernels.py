"""A measurement, not a test: the engine's decode product kernels, from their
real WGSL files, timed against each other on one adapter through wgpu for
Python: f32 with x from a uniform (`x_uniform.wgsl`), f32 with x shared by
subgroup broadcasts (`x_subgroup.wgsl`, where the adapter has subgroups) and
int8 (`matvec_q8.wgsl`, x quantized in workgroup memory). Random weights in
a texture as the engine keeps them on CPU adapters; the best of 12 rounds
of 20 launches each, the kernels taking turns.

    python3 -m venv .venv-lab && .venv-lab/bin/pip install wgpu numpy
    # n_in n_out qtype (3 = Q4_1, 8 = Q8_0) epilogue (0 store, 1 add, 2 SiLU pair) norm (0/1)
    .venv-lab/bin/python scripts/lab_decode_kernels.py 576 3072 3 2 1
    VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json .venv-lab/bin/python scripts/lab_decode_kernels.py 576 3072 3 2 0

The f32 kernel without a fused norm ignores NORM (its y differs then), and
SwiftShader's 4-lane subgroups give the subgroup kernel wrong values: the
engine does not use it there. Numbers (2026-12-04) are in BENCHMARKS.md.
"""
import os
import sys
import time

import numpy as np
import wgpu

S = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../crates/engine/src/shaders/")
rd = lambda f: open(S + f).read()
N_IN, N_OUT = int(sys.argv[1]), int(sys.argv[2])
QT = int(sys.argv[3]) if len(sys.argv) > 3 else 3   # 3 = Q4_1, 8 = Q8_0
EPI = int(sys.argv[4]) if len(sys.argv) > 4 else 0
NORM = int(sys.argv[5]) if len(sys.argv) > 5 else 0
NB = N_IN // 32; NS = (NB + 3) // 4
qv = 2 if QT == 8 else 1
def src(kind):
    s = rd("matvec.wgsl") + rd("gate.wgsl") + rd("quant.wgsl") + rd("weights_texture.wgsl")
    if kind == "q8": s += f"const XBLOCKS: u32 = {NB}u;\n" + rd("matvec_q8.wgsl")
    else: s += rd("matvec_row.wgsl") + rd("x_subgroup.wgsl" if kind == "sub" else "x_uniform.wgsl")
    return s
a = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
feats = [f for f in ["subgroup"] if f in a.features]
dev = a.request_device_sync(required_features=feats)
print(a.info["description"], N_IN, N_OUT, "QT", QT, "EPI", EPI, "NORM", NORM, feats)
rng = np.random.default_rng(0)
nw = N_OUT * NB * qv + N_OUT * NS
words = rng.integers(0, 2**32, size=(nw, 4), dtype=np.uint32)
if QT == 8: words[: N_OUT*NB*qv] &= np.uint32(0x3F3F3F3F)
sc = np.zeros((N_OUT*NS*4, 2), np.float16); sc[:, 0] = 0.01; sc[:, 1] = -0.05
words[N_OUT*NB*qv:] = sc.view(np.uint32).reshape(-1, 4)
W = 4096; rows = -(-nw // W)
tx = np.zeros((rows*W, 4), np.uint32); tx[:nw] = words
tex = dev.create_texture(size=(W, rows, 1), format="rgba32uint", usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST)
dev.queue.write_texture({"texture": tex}, tx.tobytes(), {"bytes_per_row": W*16, "rows_per_image": rows}, (W, rows, 1))
U = wgpu.BufferUsage
step = dev.create_buffer_with_data(data=np.array([1, 0, 1, 0], np.uint32).tobytes(), usage=U.UNIFORM)
p = np.array([N_IN, N_OUT, 1, 0, N_OUT // (2 if EPI >= 2 else 1), 0, 0, 0], np.uint32); p[7] = np.float32(1e-5).view(np.uint32)
pb = dev.create_buffer_with_data(data=p.tobytes(), usage=U.UNIFORM)
xf = np.zeros(16384, np.float32); xf[:N_IN] = rng.standard_normal(N_IN)
xb = dev.create_buffer_with_data(data=xf.tobytes(), usage=U.UNIFORM)
gf = np.zeros(16384, np.float32); gf[:N_IN] = 1.0
gb = dev.create_buffer_with_data(data=gf.tobytes(), usage=U.UNIFORM)
y = dev.create_buffer(size=N_OUT*4, usage=U.STORAGE | U.COPY_SRC)
def mk(kind):
    m = dev.create_shader_module(code=src(kind))
    consts = {"QTYPE": QT, "EPILOGUE": EPI}
    if kind in ("q8", "sub"): consts["NORM"] = NORM
    pipe = dev.create_compute_pipeline(layout="auto", compute={"module": m, "entry_point": "matvec", "constants": consts})
    ents = [{"binding": 0, "resource": {"buffer": step}}, {"binding": 1, "resource": {"buffer": pb}},
            {"binding": 2, "resource": tex.create_view()}, {"binding": 3, "resource": {"buffer": xb}},
            {"binding": 4, "resource": {"buffer": y}}]
    if kind in ("q8", "sub"): ents.append({"binding": 5, "resource": {"buffer": gb}})
    g = dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=ents)
    return pipe, g
groups = -(-(-(-N_OUT // 2)) // 64)
def t(pg, reps=20):
    pipe, g = pg
    enc = dev.create_command_encoder(); cp = enc.begin_compute_pass(); cp.set_pipeline(pipe); cp.set_bind_group(0, g)
    for _ in range(reps): cp.dispatch_workgroups(groups)
    cp.end(); t0 = time.perf_counter(); dev.queue.submit([enc.finish()]); dev.queue.read_buffer(y, size=4)
    return (time.perf_counter() - t0) / reps * 1e3
kinds = [k for k in ["uni", "sub", "q8"] if k != "sub" or feats]
ps = {}
for k in kinds:
    try: ps[k] = mk(k)
    except Exception as e: print(k, "failed", str(e)[:300])
best = {k: 1e9 for k in ps}
outs = {}
for it in range(12):
    for k in ps:
        best[k] = min(best[k], t(ps[k]))
for k in ps:
    t(ps[k], 1); outs[k] = np.frombuffer(dev.queue.read_buffer(y), np.float32)[:4].copy()
    print(f"{k}: {best[k]:.3f} ms  y={outs[k]}")
