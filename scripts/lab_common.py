"""What the kernel labs (lab_decode_kernels.py, lab_prefill_kernels.py) share:
the engine's WGSL from the working tree or a git revision, an adapter, and
random quantized weights in textures laid out as the engine keeps them on
CPU adapters. A helper for measurements, not a test."""
import os
import subprocess

import numpy as np
import wgpu

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHADERS = "crates/engine/src/shaders/"
TEXTURE_WIDTH = 4096  # texels a row: `ops::WEIGHT_TEXTURE_WIDTH`


def rd(f, rev=None):
    """Shader file `f` from the working tree, or as it was at git revision `rev`."""
    if rev is None:
        return open(os.path.join(ROOT, SHADERS, f)).read()
    return subprocess.run(["git", "-C", ROOT, "show", f"{rev}:{SHADERS}{f}"],
                          check=True, capture_output=True, text=True).stdout


def device():
    """The first high-performance adapter's device, with subgroups and f16 where it has them, and its subgroup feature (empty where none)."""
    a = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    feats = [f for f in ["subgroup"] if f in a.features]
    f16 = [f for f in ["shader-f16"] if f in a.features]
    return a, a.request_device_sync(required_features=feats + f16), feats


def weight_textures(dev, n_in, n_out, qt, copies, rng):
    """`copies` rgba32uint textures holding one random (n_out, n_in) matrix
    of GGUF type code `qt` (3 = Q4_1, 8 = Q8_0) in the split-block layout:
    the quants, then the scales (d = 0.01, m = -0.05)."""
    nb = n_in // 32
    ns = (nb + 3) // 4
    qv = 2 if qt == 8 else 1
    nw = n_out * nb * qv + n_out * ns
    words = rng.integers(0, 2**32, size=(nw, 4), dtype=np.uint32)
    if qt == 8:
        words[: n_out * nb * qv] &= np.uint32(0x3F3F3F3F)
    sc = np.zeros((n_out * ns * 4, 2), np.float16)
    sc[:, 0] = 0.01
    sc[:, 1] = -0.05
    words[n_out * nb * qv:] = sc.view(np.uint32).reshape(-1, 4)
    w = TEXTURE_WIDTH
    rows = -(-nw // w)
    tx = np.zeros((rows * w, 4), np.uint32)
    tx[:nw] = words
    texs = []
    for _ in range(copies):
        tex = dev.create_texture(size=(w, rows, 1), format="rgba32uint",
                                 usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.STORAGE_BINDING | wgpu.TextureUsage.COPY_DST)
        dev.queue.write_texture({"texture": tex}, tx.tobytes(), {"bytes_per_row": w * 16, "rows_per_image": rows}, (w, rows, 1))
        texs.append(tex)
    return texs
