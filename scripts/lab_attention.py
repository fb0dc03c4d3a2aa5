"""A measurement, not a test: row attention's values or scores launch
(`attention_values.wgsl` or `attention_scores.wgsl` with
`attention_rows.wgsl`, the engine's real WGSL)
for one 64-token batch of SmolLM2's shape (9 query heads, 3 KV heads, head
size 64) at position POS, timed on one adapter through wgpu for Python, and
checked against numpy; the best of 8 rounds of REPS launches.

    python3 -m venv .venv-lab && .venv-lab/bin/pip install wgpu numpy
    POS=1024 KINDS=values@HEAD,values .venv-lab/bin/python scripts/lab_attention.py

KINDS: `values` (or `scores`, `softmax`) is the working tree's kernel, `softmax` the
softmax, `values@REV` the kernel at git revision REV, `file=PATH` a kernel from any file (the same
bindings and entry point; a scores kernel where PATH has "scores" in it);
`:TQ` after any of them sets its tokens a workgroup (5 unless set), and `:TQu` the same with every lane loading the shared weights. KV=f32 puts the cache in f32 (SwiftShader has no f16); f16 otherwise.
`lanes` is decode's lane attention (SPLITS workgroups a KV head, its parts
merged here in numpy), reading K and V from the cache buffers, or with
MIRROR=1 from the KV mirror's storage textures as on lavapipe
(`attention_kv_mirror.wgsl`, or MIRROR_FILE; MIRROR_TEXEL=16 for
rgba32uint texels of eight values, else rg32uint of four).

    MIRROR=1 POS=1984 SPLITS=2 KINDS=lanes .venv-lab/bin/python scripts/lab_attention.py
"""
import os
import time

import numpy as np
import wgpu

from lab_common import device, rd

POS = int(os.environ.get("POS", "1024"))
REPS = int(os.environ.get("REPS", "10"))
KV16 = os.environ.get("KV", "f16") == "f16"
# MIRROR=1: lane attention reads K and V from the KV mirror's storage
# textures (attention_kv_mirror.wgsl, or the file MIRROR_FILE), as on
# lavapipe; MIRROR_TEXEL=16 makes them rgba32uint (8 values a texel), else
# rg32uint (4).
MIRROR = os.environ.get("MIRROR", "0") == "1"
MIRROR_TEXEL = int(os.environ.get("MIRROR_TEXEL", "8"))


def mirror_src(rev):
    f = os.environ.get("MIRROR_FILE")
    return open(f).read() if f else rd("attention_kv_mirror.wgsl", rev or None)
NT, NH, NKV, HD = 64, 9, 3, 64
KV_LEN = POS + NT
STRIDE = (KV_LEN + 3) // 4 * 4


def src(kind, uniform=False):
    base, _, rev = kind.partition("@")
    if base.startswith("file="):
        body = open(base[5:]).read()
        rev = None
    else:
        body = rd(f"attention_{base}.wgsl", rev or None)
    kv = rd("kv_f16.wgsl" if KV16 else "kv_f32.wgsl")
    if "attention_lanes" in body:
        # K and V read through `kv_at` / `k_load` / `v_load` since the KV
        # mirror: here from the cache buffers.
        extra = "" if "fn kv_at" in body else (
            mirror_src(rev) if MIRROR else rd("attention_kv_buffer.wgsl", rev or None))
        return kv + body + extra + rd("attention_common.wgsl")
    s = kv + body + rd("attention_rows.wgsl") + rd("attention_common.wgsl")
    if "store_rows(" in body:
        s += rd("attention_store_rows.wgsl")
    if "share_rows(" in body:
        # Since the weights came through `share_rows`: by subgroups where
        # the adapter has them, else every lane loads them (`:u` after TQ
        # asks for that where it has subgroups).
        s += rd("attention_share_subgroup.wgsl" if feats and not uniform else "attention_share_uniform.wgsl")
    return s


a, dev, feats = device()
print(a.info["description"], "POS", POS, "KV", "f16" if KV16 else "f32")
rng = np.random.default_rng(0)
U = wgpu.BufferUsage
step = dev.create_buffer_with_data(data=np.array([NT, POS, KV_LEN, 0], np.uint32).tobytes(), usage=U.UNIFORM)
params = np.array([NH, NKV, HD, 0, 0, STRIDE, 0, 0], np.uint32)
params[4] = np.array([0.125], np.float32).view(np.uint32)[0]
pb = dev.create_buffer_with_data(data=params.tobytes(), usage=U.UNIFORM)
# Weights as the softmax leaves them: e^(s - max) up to each token's
# position, 0 after it.
w = rng.random((NT, NH, STRIDE), dtype=np.float32)
for t in range(NT):
    w[t, :, POS + t + 1:] = 0.0
inv = (1.0 / w.sum(-1)).astype(np.float32)
v = rng.standard_normal((KV_LEN, NKV, HD)).astype(np.float16 if KV16 else np.float32)
want = np.einsum("thj,jhd->thd", w[:, :, :KV_LEN], np.repeat(v.astype(np.float32), NH // NKV, axis=1)) * inv[..., None]
wb = dev.create_buffer_with_data(data=w.tobytes(), usage=U.STORAGE)
vb = dev.create_buffer_with_data(data=v.tobytes(), usage=U.STORAGE)
ib = dev.create_buffer_with_data(data=inv.tobytes(), usage=U.STORAGE)
out = dev.create_buffer(size=NT * NH * HD * 4, usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
# The scores launch: queries and K, its output the score rows.
q = rng.standard_normal((NT, NH, HD)).astype(np.float32)
k = rng.standard_normal((KV_LEN, NKV, HD)).astype(np.float16 if KV16 else np.float32)
want_s = np.einsum("thd,jhd->thj", q, np.repeat(k.astype(np.float32), NH // NKV, axis=1)) * 0.125
qb = dev.create_buffer_with_data(data=q.tobytes(), usage=U.STORAGE)
kb = dev.create_buffer_with_data(data=k.tobytes(), usage=U.STORAGE)
K_CACHE = k
V_CACHE = v
sb = dev.create_buffer(size=NT * NH * STRIDE * 4, usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
# The softmax launch: score rows in, weights and 1 / sums out.
s_in = (rng.standard_normal((NT, NH, STRIDE)) * 3).astype(np.float32)
smb = dev.create_buffer_with_data(data=s_in.tobytes(), usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)
sib = dev.create_buffer(size=NT * NH * 4, usage=U.STORAGE | U.COPY_SRC)
# Decode's lane attention (`lanes`): one token at position POS + 63 (the
# batch's last), its queries from a uniform, SPLITS workgroups a KV head.
SPLITS = int(os.environ.get("SPLITS", "2"))
step1 = dev.create_buffer_with_data(data=np.array([1, KV_LEN - 1, KV_LEN, 0], np.uint32).tobytes(), usage=U.UNIFORM)
q1 = np.zeros(16384, np.float32)
q1[:NH * HD] = q[NT - 1].ravel()
q1b = dev.create_buffer_with_data(data=q1.tobytes(), usage=U.UNIFORM)
parts_n = NH * SPLITS * 8 * (HD // 4 + 1) * 4
# The mirror: MP positions to a texture row, the fewest whose bytes are a
# multiple of 256 (ops::KvMirror).
ROW_BYTES = NKV * HD * 2
MP = 256 // np.gcd(ROW_BYTES, 256)


def mirror_texture(cache):
    fmt = "rgba32uint" if MIRROR_TEXEL == 16 else "rg32uint"
    h = -(-KV_LEN // MP)
    data = np.zeros(h * MP * ROW_BYTES, np.uint8)
    data[:cache.nbytes] = np.frombuffer(cache.tobytes(), np.uint8)
    w = MP * ROW_BYTES // MIRROR_TEXEL
    t = dev.create_texture(size=(w, h, 1), format=fmt,
                           usage=wgpu.TextureUsage.STORAGE_BINDING | wgpu.TextureUsage.COPY_DST)
    dev.queue.write_texture({"texture": t}, data.tobytes(), {"bytes_per_row": MP * ROW_BYTES, "rows_per_image": h}, (w, h, 1))
    return t.create_view()
partsb = dev.create_buffer(size=parts_n * 4, usage=U.STORAGE | U.COPY_SRC)


def scores_kind(kind):
    return "scores" in kind.split(":")[0]


def softmax_kind(kind):
    return "softmax" in kind.split(":")[0]


def lanes_kind(kind):
    return "lanes" in kind.split(":")[0]


def mk(kind):
    name, _, tq = kind.partition(":")
    m = dev.create_shader_module(code=src(name, uniform=tq.endswith("u")))
    tq = int(tq.rstrip("u") or 5)
    sc, sm, ln = scores_kind(kind), softmax_kind(kind), lanes_kind(kind)
    consts = {"HD": HD, "GROUP": NH // NKV, "TQ": tq}
    if sc:
        consts["CHUNKS"] = 8
    if sm:
        consts = {"TQ": tq}
    if ln:
        consts = {"HD": HD, "GROUP": NH // NKV, "SPLITS": SPLITS}
        if MIRROR:
            consts["MIRROR_POSITIONS"] = int(MP)
    entry = ("attention_scores" if sc else "attention_softmax" if sm else "attention_lanes" if ln
             else "attention_values")
    pipe = dev.create_compute_pipeline(layout="auto", compute={
        "module": m, "entry_point": entry, "constants": consts})
    bufs = ([step, pb, qb, kb, sb] if sc else [step, pb, smb, sib] if sm
            else [step1, pb, q1b, kb, vb, partsb] if ln else [step, pb, wb, vb, ib, out])
    if ln and MIRROR:
        bufs[3], bufs[4] = mirror_texture(K_CACHE), mirror_texture(V_CACHE)
    g = dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=[
        {"binding": i, "resource": b if isinstance(b, wgpu.GPUTextureView) else {"buffer": b}}
        for i, b in enumerate(bufs)])
    grid = ((8, NKV, -(-NT // tq)) if sc else (NH, NT, 1) if sm else (NKV, 1, SPLITS) if ln
            else (NKV, 1, -(-NT // tq)))
    return pipe, g, grid


def run(pg, reps=REPS):
    pipe, g, n = pg
    enc = dev.create_command_encoder(); cp = enc.begin_compute_pass(); cp.set_pipeline(pipe)
    cp.set_bind_group(0, g)
    for _ in range(reps): cp.dispatch_workgroups(*n)
    cp.end(); t0 = time.perf_counter(); dev.queue.submit([enc.finish()]); dev.queue.read_buffer(out, size=4)
    return (time.perf_counter() - t0) / reps * 1e3


kinds = os.environ.get("KINDS", "values").split(",")
ps = {}
for k in kinds:
    try:
        ps[k] = mk(k)
    except Exception as e:
        print(k, "failed", str(e)[:1500])
best = {k: 1e9 for k in ps}
for _ in range(8):
    for k in ps:
        best[k] = min(best[k], run(ps[k]))
def merge_parts(parts):
    """The lanes' parts (head, part, HD/4 + 1 vec4s: sums, then (m, l)) merged."""
    p = parts.reshape(NH, SPLITS * 8, HD // 4 + 1, 4)
    acc, m, l = p[:, :, :HD // 4].reshape(NH, SPLITS * 8, HD), p[:, :, HD // 4, 0], p[:, :, HD // 4, 1]
    mx = m.max(1, keepdims=True)
    wgt = np.exp(m - mx) * (l > 0)
    return (acc * wgt[..., None]).sum(1) / (l * wgt).sum(1)[:, None]


for k in ps:
    if lanes_kind(k):
        run(ps[k], 1)
        got = merge_parts(np.frombuffer(dev.queue.read_buffer(partsb), np.float32))
        s1 = np.einsum("hd,jhd->hj", q[NT - 1], np.repeat(K_CACHE.astype(np.float32), NH // NKV, axis=1)) * 0.125
        e = np.exp(s1 - s1.max(1, keepdims=True))
        want1 = np.einsum("hj,jhd->hd", e / e.sum(1, keepdims=True), np.repeat(v.astype(np.float32), NH // NKV, axis=1))
        print(f"{k}: {best[k]:.3f} ms  max error {np.abs(got - want1).max() / np.abs(want1).max():.2e} of the largest output")
        continue
    if softmax_kind(k):
        dev.queue.write_buffer(smb, 0, s_in.tobytes())
        run(ps[k], 1)
        got = np.frombuffer(dev.queue.read_buffer(smb), np.float32).reshape(NT, NH, STRIDE)
        gi = np.frombuffer(dev.queue.read_buffer(sib), np.float32).reshape(NT, NH)
        err = 0.0
        for t in range(NT):
            e = np.exp(s_in[t, :, :POS + t + 1] - s_in[t, :, :POS + t + 1].max(-1, keepdims=True))
            err = max(err, np.abs(got[t, :, :POS + t + 1] - e).max(), np.abs(gi[t] * e.sum(-1) - 1).max())
        print(f"{k}: {best[k]:.3f} ms  max error {err:.2e} (weights, and sums' relative)")
        continue
    if scores_kind(k):
        dev.queue.write_buffer(sb, 0, np.zeros(NT * NH * STRIDE, np.float32).tobytes())
        run(ps[k], 1)
        got = np.frombuffer(dev.queue.read_buffer(sb), np.float32).reshape(NT, NH, STRIDE)
        # Each token's own span is what counts.
        err = max(np.abs(got[t, :, :POS + t + 1] - want_s[t, :, :POS + t + 1]).max() for t in range(NT))
        print(f"{k}: {best[k]:.3f} ms  max error {err / np.abs(want_s).max():.2e} of the largest score")
        continue
    dev.queue.write_buffer(out, 0, np.zeros(NT * NH * HD, np.float32).tobytes())
    run(ps[k], 1)
    got = np.frombuffer(dev.queue.read_buffer(out), np.float32).reshape(NT, NH, HD)
    err = np.abs(got - want).max() / np.abs(want).max()
    print(f"{k}: {best[k]:.3f} ms  max error {err:.2e} of the largest output")
