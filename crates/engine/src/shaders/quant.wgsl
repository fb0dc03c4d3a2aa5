// Weight decoding shared by the kernels that read quantized matrices
// (matmul, embed). Appended to their source by `shaders::Kernel::source`.
// The layouts are the GPU ("padded block") layouts of `format/quant.rs`.
// Kernels declare `w: array<u32>` (the weights) and, for matmul,
// `x: array<vec4<f32>>` (the activations).
//
// Everything works on vec4s with constant loop bounds, and nothing indexes a
// private array with a runtime value: on CPU Vulkan drivers (lavapipe) such
// arrays turn into per-lane memory traffic, and on GPUs into register spills.

// Which tensor type the weights are in; a GgmlType::gpu_code value.
override QTYPE: u32 = 0u;

const QT_F32: u32 = 0u;
const QT_F16: u32 = 1u;
const QT_Q4_0: u32 = 2u;
const QT_Q4_1: u32 = 3u;
const QT_Q8_0: u32 = 8u;

// u32 words per 32 values.
fn words_per_block() -> u32 {
    switch QTYPE {
        case 0u: { return 32u; }
        case 1u: { return 16u; }
        case 8u: { return 9u; }
        default: { return 5u; }
    }
}

fn nibbles_lo(word: u32) -> vec4<f32> {
    return vec4<f32>(f32(word & 15u), f32((word >> 8u) & 15u), f32((word >> 16u) & 15u), f32((word >> 24u) & 15u));
}

fn nibbles_hi(word: u32) -> vec4<f32> {
    return vec4<f32>(f32((word >> 4u) & 15u), f32((word >> 12u) & 15u), f32((word >> 20u) & 15u), f32(word >> 28u));
}

// The four signed bytes of a word.
fn bytes_i8(word: u32) -> vec4<f32> {
    let v = bitcast<i32>(word);
    return vec4<f32>(f32((v << 24u) >> 24u), f32((v << 16u) >> 24u), f32((v << 8u) >> 24u), f32(v >> 24u));
}

// Values 4i .. 4i+3 of the block starting at word `base` (i < 8).
fn block_vec4(base: u32, i: u32) -> vec4<f32> {
    switch QTYPE {
        case 0u: {
            let o = base + 4u * i;
            return bitcast<vec4<f32>>(vec4<u32>(w[o], w[o + 1u], w[o + 2u], w[o + 3u]));
        }
        case 1u: {
            let o = base + 2u * i;
            return vec4<f32>(unpack2x16float(w[o]), unpack2x16float(w[o + 1u]));
        }
        case 8u: {
            return bytes_i8(w[base + 1u + i]) * unpack2x16float(w[base]).x;
        }
        default: {
            // Q4_0: (q - 8)·d ; Q4_1: q·d + m. Values 0..15 are the low
            // nibbles of the 16 bytes, 16..31 the high nibbles.
            let dm = unpack2x16float(w[base]);
            var m = dm.y;
            if (QTYPE == QT_Q4_0) { m = -8.0 * dm.x; }
            let word = w[base + 1u + (i % 4u)];
            var q = nibbles_lo(word);
            if (i >= 4u) { q = nibbles_hi(word); }
            return q * dm.x + vec4<f32>(m);
        }
    }
}
