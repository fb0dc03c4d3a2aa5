//! The f16 KV cache's mirror in storage textures (`Gpu::kv_mirror`): what
//! decode's lane attention reads on lavapipe, where an image load is a
//! gather compiled inline and a storage-buffer load a loop over the lanes
//! (`attention_kv_mirror.wgsl`). The buffers stay the cache every other
//! kernel reads and writes; the mirror gets each decode step's row from the
//! decode Q|K|V product (`kv_mirror_write.wgsl`) and a prefill's rows from
//! copies after it ([`KvMirror::copy_rows`]).

use crate::gpu::Gpu;

/// Bytes of one texel (`rg32uint`: four f16 values).
const TEXEL_BYTES: u64 = 8;

/// One layer's K and V mirrors: `rg32uint` textures holding
/// [`KvMirror::positions`] cached positions to a row, each position's
/// `n_kv · head_dim` f16 values in the buffer's order.
pub struct KvMirror {
    k: wgpu::Texture,
    v: wgpu::Texture,
    k_read: wgpu::TextureView,
    v_read: wgpu::TextureView,
    /// Bytes of one position's row in the buffer (n_kv · head_dim f16).
    row_bytes: u64,
    positions: u32,
}

impl KvMirror {
    /// Whether a model of this shape can take the mirror (on a device
    /// where [`Gpu::kv_mirror`] holds, so with an f16 cache): the rotation
    /// over the whole head, and heads a multiple of 16 wide (a decode lane's
    /// eight rotation pairs then cover whole texels, as
    /// `kv_mirror_write.wgsl` writes them).
    pub fn fits(head_dim: u32, rope_dim: u32) -> bool {
        rope_dim == head_dim && head_dim.is_multiple_of(16)
    }

    /// The mirror of a `ctx`-position cache of `n_kv` heads of `head_dim`,
    /// or `None` where its textures would be wider or taller than the
    /// adapter allows.
    pub fn new(gpu: &Gpu, label: &str, ctx: u32, n_kv: u32, head_dim: u32) -> Option<KvMirror> {
        let row_bytes = (n_kv * head_dim) as u64 * 2;
        if !row_bytes.is_multiple_of(TEXEL_BYTES) {
            return None;
        }
        // Positions to a texture row: the fewest whose bytes are a multiple
        // of 256 (a power of two), as buffer-to-texture copies need.
        let positions = (256 / gcd(row_bytes, 256)) as u32;
        let width = positions as u64 * row_bytes / TEXEL_BYTES;
        let height = ctx.div_ceil(positions).max(1);
        let max = gpu.limits.max_texture_dimension_2d;
        if width > max as u64 || height > max {
            return None;
        }
        let texture = |name: &str| {
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some(&format!("{label} {name}")),
                size: wgpu::Extent3d {
                    width: width as u32,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rg32Uint,
                usage: wgpu::TextureUsages::STORAGE_BINDING
                    | wgpu::TextureUsages::COPY_DST
                    | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            })
        };
        let k = texture("k mirror");
        let v = texture("v mirror");
        let view = |t: &wgpu::Texture| t.create_view(&Default::default());
        Some(KvMirror {
            k_read: view(&k),
            v_read: view(&v),
            k,
            v,
            row_bytes,
            positions,
        })
    }

    /// Positions to a texture row (the kernels' `MIRROR_POSITIONS`).
    pub fn positions(&self) -> u32 {
        self.positions
    }

    /// The K and V textures' views, for binding.
    pub fn views(&self) -> [&wgpu::TextureView; 2] {
        [&self.k_read, &self.v_read]
    }

    /// Records copies of the cache rows of positions `from..to` from the
    /// buffers `k_cache` and `v_cache` into the mirror: a partial texture
    /// row at each end (one copy each) and the whole rows between (one).
    pub fn copy_rows(
        &self,
        enc: &mut wgpu::CommandEncoder,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        from: u32,
        to: u32,
    ) {
        let p = self.positions;
        let texels = |positions: u32| positions as u64 * self.row_bytes / TEXEL_BYTES;
        // A partial row up to the first row boundary, the whole rows, the
        // rest of the last row.
        let head_end = from.div_ceil(p).saturating_mul(p).min(to);
        let rows_end = (to / p * p).max(head_end);
        let segments = [(from, head_end), (head_end, rows_end), (rows_end, to)];
        for (a, b) in segments.into_iter().filter(|(a, b)| a < b) {
            let (width, height) = match a.is_multiple_of(p) && (b - a).is_multiple_of(p) {
                true => (texels(p), (b - a) / p),
                false => (texels(b - a), 1),
            };
            let x = texels(a % p);
            for (buffer, texture) in [(k_cache, &self.k), (v_cache, &self.v)] {
                enc.copy_buffer_to_texture(
                    wgpu::TexelCopyBufferInfo {
                        buffer,
                        layout: wgpu::TexelCopyBufferLayout {
                            offset: a as u64 * self.row_bytes,
                            bytes_per_row: Some((p as u64 * self.row_bytes) as u32),
                            rows_per_image: None,
                        },
                    },
                    wgpu::TexelCopyTextureInfo {
                        texture,
                        mip_level: 0,
                        origin: wgpu::Origin3d {
                            x: x as u32,
                            y: a / p,
                            z: 0,
                        },
                        aspect: wgpu::TextureAspect::All,
                    },
                    wgpu::Extent3d {
                        width: width as u32,
                        height,
                        depth_or_array_layers: 1,
                    },
                );
            }
        }
    }

    /// Bytes of a buffer that [`KvMirror::copy_back`] fills: the whole
    /// textures, in the caches' layout (whole texture rows, so up to
    /// `positions - 1` positions past the context).
    pub fn bytes(&self) -> u64 {
        self.k.height() as u64 * self.positions as u64 * self.row_bytes
    }

    /// Records copies of the whole mirror into `k` and `v` (each
    /// [`KvMirror::bytes`] long) in the caches' layout: for tests, which
    /// hold it to the buffers it mirrors.
    pub fn copy_back(&self, enc: &mut wgpu::CommandEncoder, k: &wgpu::Buffer, v: &wgpu::Buffer) {
        for (texture, buffer) in [(&self.k, k), (&self.v, v)] {
            enc.copy_texture_to_buffer(
                texture.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some((self.positions as u64 * self.row_bytes) as u32),
                        rows_per_image: None,
                    },
                },
                texture.size(),
            );
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    match b {
        0 => a,
        _ => gcd(b, a % b),
    }
}
