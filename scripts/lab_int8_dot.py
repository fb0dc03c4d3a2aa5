"""A measurement for the speed issue, not a test: is an int8 dot product
(WGSL's `dot4I8Packed`) cheaper than dequantizing to f32 on a CPU adapter?

Two decode products of the same random Q4 quants (576 -> 3,072, two rows a
lane, the nibbles read from an rgba32uint texture as the engine does on CPU
adapters): one unpacks each nibble to f32 and multiplies it by x in f32 (the
engine's way), the other multiplies the nibbles by x quantized to int8 with
`dot4I8Packed`, four products an instruction (llama.cpp's way, with Q8
activations). Both are checked against numpy: the f32 one to 1e-3, the int8
one exactly. Scales are left out: they cost the same in both. The f32 side is
the engine's x-from-a-uniform kernel without block scales, not its subgroup
kernel: scripts/lab_decode_kernels.py times the engine's real kernels.

    python3 -m venv .venv-lab && .venv-lab/bin/pip install wgpu numpy
    .venv-lab/bin/python scripts/lab_int8_dot.py
    # SwiftShader, through the Vulkan driver Debian's Chromium ships:
    VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json .venv-lab/bin/python scripts/lab_int8_dot.py

Measured 2026-12-04 (2-core AMD EPYC, wgpu 0.32 for Python, three runs each): lavapipe
0.42-0.46 ms in f32 against 0.25-0.33 ms in int8; SwiftShader 2.88-4.02 ms against 1.43-1.73 ms.
"""
import time

import numpy as np
import wgpu

N_IN, N_OUT, WIDTH, REPS = 576, 3072, 4096, 20
NB = N_IN // 32

COMMON = f"""
@group(0) @binding(0) var w: texture_2d<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
fn wv(i: u32) -> vec4<u32> {{ return textureLoad(w, vec2<u32>(i & {WIDTH - 1}u, i >> 12u), 0); }}
const NB: u32 = {NB}u;
"""

F32 = COMMON + """
@group(0) @binding(1) var<uniform> x: array<vec4<f32>, 4096>;
fn lo(w: u32) -> vec4<f32> { return vec4<f32>(vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(15u)); }
fn hi(w: u32) -> vec4<f32> { return vec4<f32>(vec4<u32>(w >> 4u, w >> 12u, w >> 20u, w >> 28u) & vec4<u32>(15u)); }
fn block(q: vec4<u32>, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    let s = lo(q.x) * (*xv)[0] + lo(q.y) * (*xv)[1] + lo(q.z) * (*xv)[2] + lo(q.w) * (*xv)[3]
          + hi(q.x) * (*xv)[4] + hi(q.y) * (*xv)[5] + hi(q.z) * (*xv)[6] + hi(q.w) * (*xv)[7];
    return s.x + s.y + s.z + s.w;
}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x * 2u;
    var acc = vec2<f32>(0.0);
    for (var b = 0u; b < NB; b++) {
        var xv: array<vec4<f32>, 8>;
        for (var i = 0u; i < 8u; i++) { xv[i] = x[b * 8u + i]; }
        acc += vec2<f32>(block(wv(r * NB + b), &xv), block(wv((r + 1u) * NB + b), &xv));
    }
    y[r] = acc.x;
    y[r + 1u] = acc.y;
}
"""

INT8 = COMMON + """
@group(0) @binding(1) var<uniform> x: array<vec4<u32>, 4096>;   // x as int8, 16 a vec4
fn block(q: vec4<u32>, x0: vec4<u32>, x1: vec4<u32>) -> i32 {
    let m = 0x0F0F0F0Fu;
    return dot4I8Packed(q.x & m, x0.x) + dot4I8Packed(q.y & m, x0.y)
         + dot4I8Packed(q.z & m, x0.z) + dot4I8Packed(q.w & m, x0.w)
         + dot4I8Packed((q.x >> 4u) & m, x1.x) + dot4I8Packed((q.y >> 4u) & m, x1.y)
         + dot4I8Packed((q.z >> 4u) & m, x1.z) + dot4I8Packed((q.w >> 4u) & m, x1.w);
}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x * 2u;
    var acc = vec2<i32>(0);
    for (var b = 0u; b < NB; b++) {
        let x0 = x[b * 2u];
        let x1 = x[b * 2u + 1u];
        acc += vec2<i32>(block(wv(r * NB + b), x0, x1), block(wv((r + 1u) * NB + b), x0, x1));
    }
    y[r] = f32(acc.x);
    y[r + 1u] = f32(acc.y);
}
"""


def main():
    adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    dev = adapter.request_device_sync()
    print(adapter.info["device"])
    rng = np.random.default_rng(0)
    quants = rng.integers(0, 2**32, size=(N_OUT * NB, 4), dtype=np.uint32)
    rows = -(-quants.shape[0] // WIDTH)
    texels = np.zeros((rows * WIDTH, 4), np.uint32)
    texels[: quants.shape[0]] = quants
    tex = dev.create_texture(size=(WIDTH, rows, 1), format="rgba32uint",
                             usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST)
    dev.queue.write_texture({"texture": tex}, texels.tobytes(),
                            {"bytes_per_row": WIDTH * 16, "rows_per_image": rows}, (WIDTH, rows, 1))
    x = rng.standard_normal(N_IN).astype(np.float32)
    xq = np.clip(np.round(x / (np.abs(x).max() / 127)), -127, 127).astype(np.int8)

    def uniform(words):
        data = np.zeros(4096 * 4, np.uint32)
        data[: words.size] = words
        return dev.create_buffer_with_data(data=data.tobytes(), usage=wgpu.BufferUsage.UNIFORM)

    y = dev.create_buffer(size=N_OUT * 4, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC)

    def run(src, xbuf):
        module = dev.create_shader_module(code=src)
        pipe = dev.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"})
        group = dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=[
            {"binding": 0, "resource": tex.create_view()},
            {"binding": 1, "resource": {"buffer": xbuf}},
            {"binding": 2, "resource": {"buffer": y}},
        ])

        def submit(n):
            enc = dev.create_command_encoder()
            cp = enc.begin_compute_pass()
            cp.set_pipeline(pipe)
            cp.set_bind_group(0, group)
            for _ in range(n):
                cp.dispatch_workgroups(N_OUT // 128)
            cp.end()
            dev.queue.submit([enc.finish()])
            dev.queue.read_buffer(y, size=4)

        submit(2)
        best = float("inf")
        for _ in range(10):
            t = time.perf_counter()
            submit(REPS)
            best = min(best, (time.perf_counter() - t) / REPS)
        return best * 1e3, np.frombuffer(dev.queue.read_buffer(y), np.float32).copy()

    # The nibbles as a matrix: word k of a block holds values 4k..4k+3 in its
    # low nibbles and 16+4k.. in its high ones.
    q = quants.reshape(N_OUT, NB, 4)
    nib = np.zeros((N_OUT, N_IN), np.int64)
    for k in range(4):
        for byte in range(4):
            v = (q[:, :, k] >> np.uint32(8 * byte)) & np.uint32(0xFF)
            nib[:, np.arange(NB) * 32 + 4 * k + byte] = v & 15
            nib[:, np.arange(NB) * 32 + 16 + 4 * k + byte] = v >> 4
    t_f32, y_f32 = run(F32, uniform(x.view(np.uint32)))
    t_int8, y_int8 = run(INT8, uniform(xq.view(np.uint32)))
    f32_ok = np.abs(y_f32 - nib @ x.astype(np.float64)).max() < 1e-3
    int8_ok = np.array_equal(y_int8.astype(np.int64), nib @ xq.astype(np.int64))
    print(f"f32 dequantization: {t_f32:.3f} ms a product (matches numpy: {f32_ok})")
    print(f"int8 dot4I8Packed:  {t_int8:.3f} ms a product (matches numpy exactly: {int8_ok})")
    if not (f32_ok and int8_ok):
        raise SystemExit("a kernel disagrees with numpy")


if __name__ == "__main__":
    main()
