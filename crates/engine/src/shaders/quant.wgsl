// Weight decoding shared by the kernels that read quantized matrices
// (matmul, embed). Prepended to their source by `shaders::Kernel::source`.
// The layouts are the GPU ("padded block") layouts of `format/quant.rs`.

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

// The 32 values of the block starting at word `base`, in order.
var<private> wv: array<f32, 32>;

fn q8(word: u32, k: u32) -> f32 {
    // Byte k of the word as a signed value: shift it to the top, then
    // arithmetic-shift it back down.
    return f32(bitcast<i32>(word << (24u - 8u * k)) >> 24u);
}

fn decode_block(base: u32) {
    switch QTYPE {
        case 0u: {
            for (var i = 0u; i < 32u; i++) { wv[i] = bitcast<f32>(w[base + i]); }
        }
        case 1u: {
            for (var i = 0u; i < 16u; i++) {
                let h = unpack2x16float(w[base + i]);
                wv[2u * i] = h.x;
                wv[2u * i + 1u] = h.y;
            }
        }
        case 8u: {
            let d = unpack2x16float(w[base]).x;
            for (var i = 0u; i < 8u; i++) {
                let word = w[base + 1u + i];
                for (var k = 0u; k < 4u; k++) { wv[4u * i + k] = q8(word, k) * d; }
            }
        }
        default: {
            // Q4_0: value = (q - 8)·d ; Q4_1: value = q·d + m.
            let dm = unpack2x16float(w[base]);
            let d = dm.x;
            var m = dm.y;
            if (QTYPE == QT_Q4_0) { m = -8.0 * d; }
            for (var i = 0u; i < 4u; i++) {
                let word = w[base + 1u + i];
                for (var k = 0u; k < 4u; k++) {
                    let b = (word >> (8u * k)) & 0xffu;
                    wv[4u * i + k] = f32(b & 0xfu) * d + m;
                    wv[4u * i + k + 16u] = f32(b >> 4u) * d + m;
                }
            }
        }
    }
}
