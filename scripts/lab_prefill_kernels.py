"""A measurement, not a test: prefill's grouped tile kernel
(`matmul_tile_group.wgsl` + `matmul_tile.wgsl`, the engine's real WGSL) for
one 8-token group, timed on one adapter through wgpu for Python, with random
weights in a texture as the engine keeps them on CPU adapters; the best of
8 rounds of REPS launches (10 unless set).

    python3 -m venv .venv-lab && .venv-lab/bin/pip install wgpu numpy
    # n_in n_out qtype (3 = Q4_1) epilogue (0 store, 1 add, 2 SiLU pair)
    KINDS=tile@69232c1,tile COLD=4 REPS=4 .venv-lab/bin/python scripts/lab_prefill_kernels.py 576 3072 3 2
    VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json KINDS=... .venv-lab/bin/python scripts/lab_prefill_kernels.py 1536 576 3 1

KINDS: `tile` is the working tree's kernel (x shared by subgroups where the
adapter has them), `tileu` the same with every lane loading x, `tile@REV`
the kernel at git revision REV; `q8` and `q8u` the int8 tile
(`matmul_tile_q8.wgsl`, Q4_0/Q4_1 only) the same two ways, its x quantized
here as `quantize_x8.wgsl` lays it out; COLD=N reads N copies of the weights in turn. Rows per
workgroup come from the WGSL: R rows times WG lanes (64 where the file
declares no WG, as before commit d537a82). Numbers are in matmul_tile.wgsl
and BENCHMARKS.md.
"""
import os
import re
import sys
import time

import numpy as np
import wgpu

from lab_common import device, rd, weight_textures


N_IN, N_OUT = int(sys.argv[1]), int(sys.argv[2])
QT = int(sys.argv[3]); EPI = int(sys.argv[4])
COLD = int(os.environ.get("COLD", "1")); REPS = int(os.environ.get("REPS", "10"))


def src(kind):
    base, _, rev = kind.partition("@")
    rev = rev or None
    if base in ("q8", "q8u"):
        files = ["matmul_tile_q8.wgsl", "int8_pairs.wgsl", "tile_store.wgsl", "gate.wgsl", "quant.wgsl", "weights_texture.wgsl",
                 "tile_q8_x_subgroup.wgsl" if base == "q8" and feats else "tile_q8_x_uniform.wgsl"]
        return "".join(rd(f, rev) for f in files)
    s = "".join(rd(f, rev) for f in ["matmul_tile_group.wgsl", "matmul_tile.wgsl", "gate.wgsl", "quant.wgsl", "weights_texture.wgsl"])
    if "fn store_token" not in s:
        s += rd("tile_store.wgsl", rev)  # split out of matmul_tile.wgsl with the int8 tile
    if "fn tile(lane" in s:
        # Since x came by subgroup: `tile` shares it so where the adapter
        # has subgroups, `tileu` has every lane load it.
        s += rd("tile_x_subgroup.wgsl" if base == "tile" and feats else "tile_x_uniform.wgsl", rev)
    return s


a, dev, feats = device()
print(a.info["description"], N_IN, N_OUT, QT, EPI, "COLD", COLD)
rng = np.random.default_rng(0)
texs = weight_textures(dev, N_IN, N_OUT, QT, COLD, rng)
U = wgpu.BufferUsage
NT = 8
step = dev.create_buffer_with_data(data=np.array([NT, 0, NT, 0], np.uint32).tobytes(), usage=U.UNIFORM)
yo = N_OUT // (2 if EPI >= 2 else 1)
p = np.array([N_IN, N_OUT, 0, 0, yo, 0, 0, 0], np.uint32)
pb = dev.create_buffer_with_data(data=p.tobytes(), usage=U.UNIFORM)
xf = np.zeros(16384, np.float32); xf[:N_IN*NT] = rng.standard_normal(N_IN*NT)
xb = dev.create_buffer_with_data(data=xf.tobytes(), usage=U.UNIFORM)
y = dev.create_buffer(size=yo*NT*4, usage=U.STORAGE | U.COPY_SRC)


def x8_words(x):
    """x (8, n_in) as quantize_x8.wgsl writes one group: per block and token
    the pairs e0, o0, e1, o1, then per block the tokens' (d, Σx)."""
    nb = x.shape[1] // 32
    xb4 = x.reshape(NT, nb, 32)
    d = np.abs(xb4).max(-1) / 127.0
    q = np.clip(np.round(xb4 / np.where(d > 0, d, 1)[..., None]), -127, 127).astype(np.int64)
    w = np.zeros(nb * 36 * 4, np.uint32)
    for b in range(nb):
        for t in range(NT):
            v = q[t, b]
            pairs = [v[h + 4 * i + j] * 65536 + v[h + 4 * i + j + 2] for h in (0, 16) for j in (0, 1) for i in range(4)]
            w[16 * (8 * b + t):16 * (8 * b + t) + 16] = np.array(pairs, np.int64).astype(np.int32).view(np.uint32)
        ds = np.array([[d[t, b], xb4[t, b].sum()] for t in range(NT)], np.float32).ravel()
        w[128 * nb + 16 * b:128 * nb + 16 * b + 16] = ds.view(np.uint32)
    return w


x8 = np.zeros(16384, np.uint32); x8[:N_IN // 32 * 144] = x8_words(xf[:N_IN*NT].reshape(NT, N_IN))
x8b = dev.create_buffer_with_data(data=x8.tobytes(), usage=U.UNIFORM)
def mk(kind):
    code = src(kind)
    m = dev.create_shader_module(code=code)
    q8 = kind.split("@")[0] in ("q8", "q8u")
    entry = "matmul_tile_q8" if q8 else "matmul_tile_group"
    pipe = dev.create_compute_pipeline(layout="auto", compute={"module": m, "entry_point": entry, "constants": {"QTYPE": QT, "EPILOGUE": EPI}})
    gs = [dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=[
        {"binding": 0, "resource": {"buffer": step}}, {"binding": 1, "resource": {"buffer": pb}},
        {"binding": 2, "resource": t.create_view()}, {"binding": 3, "resource": {"buffer": x8b if q8 else xb}},
        {"binding": 4, "resource": {"buffer": y}}]) for t in texs]
    rows = int(re.search(r"const R: u32 = (\d+)u;", code).group(1))
    lanes = re.search(r"const WG: u32 = (\d+)u;", code)
    per_group = rows * (int(lanes.group(1)) if lanes else 64)
    return pipe, gs, -(-N_OUT // per_group)
def t(pg, reps=REPS):
    pipe, gs, n = pg
    enc = dev.create_command_encoder(); cp = enc.begin_compute_pass(); cp.set_pipeline(pipe)
    for r in range(reps): cp.set_bind_group(0, gs[r % len(gs)]); cp.dispatch_workgroups(n)
    cp.end(); t0 = time.perf_counter(); dev.queue.submit([enc.finish()]); dev.queue.read_buffer(y, size=4)
    return (time.perf_counter() - t0) / reps * 1e3
kinds = os.environ.get("KINDS", "tile").split(",")
ps = {}
for k in kinds:
    try: ps[k] = mk(k)
    except Exception as e: print(k, "failed", str(e)[:1500])
best = {k: 1e9 for k in ps}
for it in range(8):
    for k in ps: best[k] = min(best[k], t(ps[k]))
for k in ps:
    t(ps[k], 1); out = np.frombuffer(dev.queue.read_buffer(y), np.float32)
    print(f"{k}: {best[k]:.3f} ms  y={out[:3]} y[t7]={out[7*yo:7*yo+2]}")
