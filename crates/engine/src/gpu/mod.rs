//! The GPU: adapter and device set-up, the pipeline cache, buffer creation and
//! readback (`choices.rs`: which form of each kernel this adapter runs). Every
//! wgpu call of the engine lives here or in `ops`, because
//! wgpu's API moves between releases.

mod choices;
mod pipelines;

use std::rc::Rc;
use std::sync::{Arc, Mutex};

pub use pipelines::{Pipeline, PipelineCache, PipelineKey};

use crate::format::quant::GgmlType;
use crate::shaders::{Kernel, Variant, WeightStore};
use crate::{Error, Result};

/// What the engine knows about the adapter it runs on.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub driver: String,
    pub device_type: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub shader_f16: bool,
    pub subgroups: bool,
    /// The adapter's smallest subgroup (0 where it did not say).
    #[serde(default)]
    pub subgroup_min_size: u32,
}

/// One binding of a bind group: a buffer from an offset (all of the rest,
/// or `Some(n)` bytes of it), or a texture.
#[derive(Clone, Copy)]
pub enum Bind<'a> {
    Buffer(&'a wgpu::Buffer, u64, Option<u64>),
    Texture(&'a wgpu::TextureView),
}

impl<'a> From<&'a wgpu::Buffer> for Bind<'a> {
    fn from(b: &'a wgpu::Buffer) -> Bind<'a> {
        Bind::Buffer(b, 0, None)
    }
}

/// Texels in a row of a weight texture (rgba32uint, 16 bytes each): 64 KiB
/// rows, as `weights_texture.wgsl` addresses them.
pub const WEIGHT_TEXTURE_WIDTH: u32 = 4096;

/// Bytes of an activation buffer that `matvec.wgsl` reads as a uniform: the
/// 64 KiB every WebGPU adapter allows in one uniform binding.
pub const UNIFORM_VIEW: u64 = 65536;

/// Split-KV attention on CPU adapters (see [`Gpu::attention_splits`]):
/// never. On lavapipe 8 splits decoded 0.72× as fast at context 1024 (1.57
/// against 2.17 tokens/s): two cores are already kept busy by one
/// workgroup per head, and the split adds launches and re-reads q.
const CPU_SPLITS: u32 = 1;
const CPU_SPLIT_FROM: u32 = u32::MAX;

/// Decode on CPU adapters switches to row attention (see
/// [`Gpu::row_attention_from`]) from this many cached positions on.
const CPU_ROWS_FROM: u32 = 128;

/// Decode with lane attention reading the KV mirror (see
/// [`Gpu::kv_mirror`]) stays in one launch a layer (`MERGE = 1`) up to this
/// many cached positions, not [`CPU_ROWS_FROM`]: from the mirror a
/// position costs less, and the merge's launch more than the third
/// workgroup's wait it saves (lavapipe, `LOCUM_ATTENTION_SPLIT_FROM=128|100000
/// locum bench --contexts 256,512,1024,1536,2048`, alternated pairs: one
/// launch ahead at 256 and 1,024 in 3 of 3, at 512 in 2 of 3, at 1,536 in
/// 3 of 3, at 2,048 in 3 of 6).
const CPU_MIRROR_SPLIT_FROM: u32 = 2048;

/// Workgroups per KV head of lane attention on CPU adapters (see
/// [`Gpu::lane_attention`]).
const CPU_LANE_SPLITS: u32 = 2;

/// A device and queue with the pipeline cache. Cheap to clone.
#[derive(Clone)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
    pub limits: wgpu::Limits,
    /// Whether the device has the subgroup feature enabled.
    subgroups: bool,
    /// `Gpu::with_int8_dot`'s choice, over the adapter's.
    int8_over: Option<bool>,
    /// `Gpu::with_int8_q8_0`'s choice, over the adapter's.
    int8_q8_0_over: Option<bool>,
    /// `Gpu::without_x_subgroup`: subgroup-shared x off.
    x_subgroup_off: bool,
    /// `Gpu::with_decode_ahead`'s choice, over the adapter's.
    decode_ahead_over: Option<bool>,
    /// `Gpu::with_tile_q8`'s choice, over the adapter's.
    tile_q8_over: Option<bool>,
    tile_rows12_over: Option<bool>,
    /// Whether the adapter reads `rgba32uint` storage textures
    /// (`Gpu::weight_storage_textures` asks it).
    storage_read: bool,
    /// Whether the adapter reads and writes `rg32uint` storage textures
    /// (`Gpu::kv_mirror` asks it).
    mirror_formats: bool,
    /// `Gpu::with_kv_mirror`'s choice, over the adapter's.
    kv_mirror_over: Option<bool>,
    /// `Gpu::with_ffn_fused`'s choice, over the adapter's.
    ffn_fused_over: Option<bool>,
    layer_tail_over: Option<bool>,
    meet_tries: Option<u32>,
    /// Whether the device has `shader-f16` enabled.
    f16: bool,
    /// Whether the device has timestamp queries enabled (natively only).
    timestamps: bool,
    /// `Gpu::with_kv_f16`'s choice, over the default.
    kv_f16_over: Option<bool>,
    pipelines: Rc<PipelineCache>,
    /// The first error the device reported outside any error scope (a
    /// validation error: work the GPU refused and skipped), which the next
    /// readback returns instead of whatever the buffer held.
    refused: Arc<Mutex<Option<String>>>,
}

/// Worker threads a core that Locum asks Mesa's CPU drivers (lavapipe,
/// llvmpipe) for, through `LP_NUM_THREADS`, which they read when the
/// first Vulkan instance is made and otherwise set to one a core.
/// Why: a launch ends when its last workgroup does, so a worker that the
/// system takes off its core for a moment (the thread recording the next
/// step, a neighbour) holds up every launch it is in; with more threads the
/// others take its share. Measured on lavapipe, two cores, alternated runs
/// of `locum bench` (medians): two threads against four, five pairs at a
/// 200-token prompt, prefill 178 → 233 tokens/s, decode 32.3 → 32.5 at
/// context 0 (the runs 26.1–33.6 → 32.5–33.7) and 28.3 → 30.1 at 512;
/// four threads with plain decode against six with decode submitted ahead
/// ([`Gpu::decode_ahead`]), four pairs at 512, prefill 221.7 → 227.0,
/// decode 34.3 → 37.2, 31.9 → 33.2 and 25.5 → 25.7 at contexts 0, 512
/// and 2,048, six ahead in every column of every pair; eight threads were
/// no better than six. llama.cpp, whose threads wait for each other
/// spinning, decodes at 26–28 tokens/s with four threads on these two
/// cores against 91–93 with two, so the benchmark runs it with two.
pub const CPU_DRIVER_THREADS_PER_CORE: usize = 3;

/// Mesa's own cap on `LP_NUM_THREADS` (`LP_MAX_THREADS`).
pub const CPU_DRIVER_THREADS_MAX: usize = 32;

/// The `LP_NUM_THREADS` to set on a machine of `cores` cores where it is
/// now `set`: `None` where the user set it (theirs wins), else
/// [`CPU_DRIVER_THREADS_PER_CORE`] a core up to Mesa's cap.
pub fn cpu_driver_threads(set: Option<&std::ffi::OsStr>, cores: usize) -> Option<usize> {
    match set {
        Some(_) => None,
        None => Some((cores * CPU_DRIVER_THREADS_PER_CORE).clamp(1, CPU_DRIVER_THREADS_MAX)),
    }
}

/// Sets `LP_NUM_THREADS` ([`cpu_driver_threads`]) once, before the
/// process's first Vulkan instance: [`Gpu::new`] calls it first, and
/// every instance this crate makes comes from there. Other drivers never
/// read the variable.
#[cfg(not(target_arch = "wasm32"))]
fn ask_cpu_driver_threads() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let set = std::env::var_os("LP_NUM_THREADS");
        if let Some(n) = cpu_driver_threads(set.as_deref(), cores) {
            std::env::set_var("LP_NUM_THREADS", n.to_string());
        }
    });
}

impl Gpu {
    /// Finds an adapter (a hardware GPU first, any adapter after) and opens a
    /// device with the adapter's own limits, so large models get the largest
    /// storage bindings the hardware offers. Natively it first asks Mesa's
    /// CPU drivers for three worker threads a core ([`cpu_driver_threads`]).
    pub async fn new() -> Result<Gpu> {
        #[cfg(not(target_arch = "wasm32"))]
        ask_cpu_driver_threads();
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| Error::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let features = adapter.features();
        let weights_format = adapter.get_texture_format_features(wgpu::TextureFormat::Rgba32Uint);
        let storage_read = weights_format
            .allowed_usages
            .contains(wgpu::TextureUsages::STORAGE_BINDING)
            && weights_format
                .flags
                .contains(wgpu::TextureFormatFeatureFlags::STORAGE_READ_ONLY);
        let mirror_format = adapter.get_texture_format_features(wgpu::TextureFormat::Rg32Uint);
        let mirror_formats = mirror_format
            .allowed_usages
            .contains(wgpu::TextureUsages::STORAGE_BINDING)
            && mirror_format.flags.contains(
                wgpu::TextureFormatFeatureFlags::STORAGE_READ_ONLY
                    | wgpu::TextureFormatFeatureFlags::STORAGE_WRITE_ONLY,
            );
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            device_type: format!("{:?}", info.device_type),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size as u64,
            max_buffer_size: limits.max_buffer_size,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            subgroup_min_size: info.subgroup_min_size,
        };
        // Subgroups natively only: in the browser WGSL needs `enable
        // subgroups;`, which naga does not parse yet.
        let subgroups = cfg!(not(target_arch = "wasm32")) && summary.subgroups;
        let mut required_features = match subgroups {
            true => wgpu::Features::SUBGROUP,
            false => wgpu::Features::empty(),
        };
        // Timestamps for the benchmark's profile of a pass
        // (`Model::profile_in_pass`), natively where the adapter has them.
        let timestamps =
            cfg!(not(target_arch = "wasm32")) && features.contains(wgpu::Features::TIMESTAMP_QUERY);
        if timestamps {
            required_features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        // f16 for the KV cache (`Gpu::kv_f16`) wherever the adapter has it.
        let f16 = summary.shader_f16;
        if f16 {
            required_features |= wgpu::Features::SHADER_F16;
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("locum"),
                required_features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::NoDevice(e.to_string()))?;
        // Without a handler wgpu panics natively and, in the browser, the
        // error vanished: the page's prefill was skipped and its first
        // token read back as 0 (end of text), with nothing said.
        let refused = Arc::new(Mutex::new(None::<String>));
        let first = refused.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("the GPU refused work: {e}");
            let what = match &e {
                wgpu::Error::OutOfMemory { .. } => format!("it ran out of memory: {e}"),
                _ => e.to_string(),
            };
            if let Ok(mut f) = first.lock() {
                f.get_or_insert(what);
            }
        }));
        Ok(Gpu {
            device,
            queue,
            summary,
            limits,
            subgroups,
            int8_over: None,
            int8_q8_0_over: None,
            x_subgroup_off: false,
            decode_ahead_over: None,
            tile_q8_over: None,
            tile_rows12_over: None,
            storage_read,
            mirror_formats,
            kv_mirror_over: None,
            ffn_fused_over: None,
            layer_tail_over: None,
            meet_tries: None,
            f16,
            timestamps,
            kv_f16_over: None,
            pipelines: Rc::new(PipelineCache::default()),
            refused,
        })
    }

    /// A weight texture able to hold `bytes` bytes (rows of
    /// [`WEIGHT_TEXTURE_WIDTH`] texels), or `None` where it would be taller
    /// than the adapter allows; `storage`: to be read as a read-only
    /// storage texture rather than sampled.
    pub fn weight_texture(&self, label: &str, bytes: u64, storage: bool) -> Option<wgpu::Texture> {
        let row = WEIGHT_TEXTURE_WIDTH as u64 * 16;
        let height = bytes.div_ceil(row).max(1);
        if height > self.limits.max_texture_dimension_2d as u64 {
            return None;
        }
        Some(self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width: WEIGHT_TEXTURE_WIDTH,
                height: height as u32,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Uint,
            usage: match storage {
                true => wgpu::TextureUsages::STORAGE_BINDING,
                false => wgpu::TextureUsages::TEXTURE_BINDING,
            } | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        }))
    }

    /// Writes `data` into a weight texture from its first texel on, in
    /// texel order (the buffer layout cut into rows); a partial last texel
    /// is padded with zeros.
    pub fn write_weight_texture(&self, texture: &wgpu::Texture, data: &[u8]) {
        let row = WEIGHT_TEXTURE_WIDTH as usize * 16;
        let full = data.len() / row;
        let write = |y: u32, width: u32, bytes: &[u8]| {
            let rows = (bytes.len() / (width as usize * 16)) as u32;
            self.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d { x: 0, y, z: 0 },
                    aspect: wgpu::TextureAspect::All,
                },
                bytes,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(width * 16),
                    rows_per_image: Some(rows),
                },
                wgpu::Extent3d {
                    width,
                    height: rows,
                    depth_or_array_layers: 1,
                },
            );
        };
        if full > 0 {
            write(0, WEIGHT_TEXTURE_WIDTH, &data[..full * row]);
        }
        let rest = &data[full * row..];
        if !rest.is_empty() {
            let mut tail = rest.to_vec();
            tail.resize(rest.len().next_multiple_of(16), 0);
            write(full as u32, (tail.len() / 16) as u32, &tail);
        }
    }

    /// The compute pipeline for a kernel, compiled once and cached by key.
    /// A kernel that touches the KV cache is compiled for this device's
    /// cache type ([`Gpu::kv_f16`]).
    /// Inside [`Gpu::pipelines_together`] it is compiled at the end.
    pub fn pipeline(&self, key: &PipelineKey) -> Rc<Pipeline> {
        let kv_f16 = key.kernel.touches_kv() && self.kv_f16();
        if key.variant.kv_f16 == kv_f16 {
            return self.pipelines.get(&self.device, key);
        }
        let mut key = key.clone();
        key.variant.kv_f16 = kv_f16;
        self.pipelines.get(&self.device, &key)
    }

    /// Runs `build` (a model's constructor) with the pipelines it asks for
    /// compiled together at its end, natively a thread a core, and then the
    /// bind groups that waited for them (see `pipelines.rs`).
    pub fn pipelines_together<T>(&self, build: impl FnOnce() -> T) -> T {
        self.pipelines_together_while(build, |_| {})
    }

    /// [`Gpu::pipelines_together`], natively running `meanwhile` on what
    /// `build` made while the pipelines compile (the weights' upload).
    pub fn pipelines_together_while<T>(
        &self,
        build: impl FnOnce() -> T,
        meanwhile: impl FnOnce(&T),
    ) -> T {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.pipelines
            .together(&self.device, threads, build, meanwhile)
    }

    /// [`Gpu::pipelines_together`], leaving the pipelines whose keys `later`
    /// gives (of what `build` made) to [`Gpu::compile_late`].
    /// Natively running `meanwhile` on what `build` made while the
    /// pipelines compile, as [`Gpu::pipelines_together_while`].
    pub fn pipelines_together_later<T>(
        &self,
        build: impl FnOnce() -> T,
        meanwhile: impl FnOnce(&T),
        later: impl FnOnce(&T) -> Vec<PipelineKey>,
    ) -> T {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.pipelines
            .together_later(&self.device, threads, build, meanwhile, later)
    }

    /// Compiles what [`Gpu::pipelines_together_later`] left (a no-op when
    /// nothing is left); true where something was. In the browser this
    /// only hands the work to the browser's GPU process, which compiles it
    /// (before it runs anything submitted after) while this thread goes on.
    pub fn compile_late(&self) -> bool {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let compiled = self.pipelines.compile_late(&self.device, threads);
        // Chromium's GPU process makes pipelines when it next hears from
        // this one (a submit, a map): an empty submission sends them now,
        // so that it compiles them while the user types, not when the first
        // prompt is submitted. Measured: in a lab page a pipeline created
        // and left 5 s took its whole compile at the next wait, 1 ms with
        // an empty submission after it; in the page a question asked 8 s
        // after Ready read at 20.4 tokens/s with it, 17.6 without
        // (BENCHMARKS.md, "nineteenth session").
        if compiled {
            self.queue.submit(std::iter::empty());
        }
        compiled
    }

    /// Whether some pipelines wait for [`Gpu::compile_late`].
    pub fn has_late_pipelines(&self) -> bool {
        self.pipelines.has_late()
    }

    /// Whether a model leaves its prefill-only pipelines (the tiles, row
    /// attention, x's quantization) to [`Gpu::compile_late`]: in the
    /// browser, whose GPU process compiles pipelines one after another
    /// before anything submitted after them (SwiftShader: 2–3 s of the
    /// page's load for those), and where the first prompt comes after the
    /// user types it. Natively they compile beside the upload;
    /// `LOCUM_LATE_PIPELINES=1` leaves them there too (tests).
    pub fn prefill_pipelines_late(&self) -> bool {
        #[cfg(target_arch = "wasm32")]
        return true;
        #[cfg(not(target_arch = "wasm32"))]
        return std::env::var("LOCUM_LATE_PIPELINES").is_ok_and(|v| v == "1");
    }

    /// Runs `then` once `pipeline` is compiled (see [`Gpu::pipelines_together`]).
    pub fn when_compiled(&self, pipeline: &Pipeline, then: impl FnOnce() + 'static) {
        self.pipelines.then(pipeline, then)
    }

    /// A storage buffer holding `data` (a weight or an input).
    pub fn storage_init(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        self.buffer_init(
            label,
            data,
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        )
    }

    /// A zeroed storage buffer of `bytes` bytes (activations, KV cache).
    pub fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// An activation buffer: storage that kernels may also read as a
    /// uniform, a [`UNIFORM_VIEW`] from any offset into its first `bytes`
    /// (decode's `matvec.wgsl` from 0, prefill's `matmul_tile_group.wgsl`
    /// from each 8-token group), so it is that much larger.
    pub fn activation(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (bytes + UNIFORM_VIEW).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// A uniform buffer holding `data`, writable later with `queue.write_buffer`.
    pub fn uniform_init(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        self.buffer_init(
            label,
            data,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        )
    }

    /// A buffer the CPU maps to read results back.
    pub fn readback(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn buffer_init(&self, label: &str, data: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        let size = (data.len() as u64).max(4).next_multiple_of(4);
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: usage | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        // write_buffer needs a multiple of 4 bytes: pad the tail.
        let whole = data.len() / 4 * 4;
        self.queue.write_buffer(&buf, 0, &data[..whole]);
        if whole < data.len() || data.is_empty() {
            let mut tail = [0u8; 4];
            tail[..data.len() - whole].copy_from_slice(&data[whole..]);
            self.queue.write_buffer(&buf, whole as u64, &tail);
        }
        buf
    }

    /// The adapter's memory bandwidth as a buffer copy sees it: bytes read
    /// plus bytes written per second, copying `bytes` bytes (best of
    /// `reps`). The ceiling a bandwidth-bound kernel is measured against.
    pub async fn copy_bandwidth(&self, bytes: u64, reps: u32) -> Result<f64> {
        let bytes = bytes.min(self.limits.max_buffer_size) / 4 * 4;
        let a = self.storage("copy a", bytes);
        let b = self.storage("copy b", bytes);
        let best = self
            .best_time(reps, || {
                let mut enc = self.device.create_command_encoder(&Default::default());
                enc.copy_buffer_to_buffer(&a, 0, &b, 0, bytes);
                self.queue.submit([enc.finish()]);
            })
            .await?;
        Ok(2.0 * bytes as f64 / best)
    }

    /// The shortest of `reps` runs of `submit` (which submits work), each
    /// timed from its call to the device being idle, after one run that
    /// is not timed: the benchmark probes' timing.
    async fn best_time(&self, reps: u32, submit: impl Fn()) -> Result<f64> {
        submit();
        self.wait_idle().await?;
        let mut best = f64::MAX;
        for _ in 0..reps.max(1) {
            let t = web_time::Instant::now();
            submit();
            self.wait_idle().await?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    }

    /// What one launch costs the adapter beyond its work, in seconds: a
    /// pass of `launches` launches of `workgroups` 8-lane workgroups that
    /// each store a word (`launch_probe.wgsl`), timed from submit to done
    /// and divided by `launches` (best of `reps`). Times a decode step's
    /// launches per token, it is the part of the step no kernel can speed
    /// up (`locum bench` prints both).
    pub async fn launch_cost(&self, launches: u32, workgroups: u32, reps: u32) -> Result<f64> {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("launch probe"),
                source: wgpu::ShaderSource::Wgsl(
                    include_str!("../shaders/launch_probe.wgsl").into(),
                ),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("launch probe"),
                layout: None,
                module: &module,
                entry_point: Some("launch_probe"),
                compilation_options: Default::default(),
                cache: None,
            });
        let out = self.storage("launch probe", u64::from(workgroups.max(1)) * 8 * 4);
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("launch probe"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: out.as_entire_binding(),
            }],
        });
        let best = self
            .best_time(reps, || {
                let mut enc = self.device.create_command_encoder(&Default::default());
                {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    pass.set_pipeline(&pipeline);
                    pass.set_bind_group(0, &group, &[]);
                    for _ in 0..launches.max(1) {
                        pass.dispatch_workgroups(workgroups.max(1), 1, 1);
                    }
                }
                self.queue.submit([enc.finish()]);
            })
            .await?;
        // Launches that did not run would time nothing: every lane of every
        // workgroup stored its index.
        let bytes = out.size();
        let rb = self.readback("launch probe readback", bytes);
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&out, 0, &rb, 0, bytes);
        self.queue.submit([enc.finish()]);
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&self.read(&rb, bytes).await?);
        if let Some(i) = (0..words.len()).find(|&i| words[i] != i as u32) {
            return Err(Error::GpuRefused(format!(
                "the launch probe's lane {i} stored {} where its launches store {i}",
                words[i]
            )));
        }
        Ok(best / f64::from(launches.max(1)))
    }

    /// Natively, blocks until the device has finished its submitted work and
    /// run the callbacks waiting on it. In the browser the event loop does
    /// this, so it is a no-op there.
    fn drive(&self) -> Result<()> {
        self.drive_until(None)
    }

    /// [`Gpu::drive`] up to one submission (`None`: all of them), leaving
    /// later ones running.
    fn drive_until(&self, submission: Option<wgpu::SubmissionIndex>) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: submission,
                timeout: None,
            })
            .map_err(|e| Error::DeviceLost(e.to_string()))?;
        #[cfg(target_arch = "wasm32")]
        let _ = submission;
        Ok(())
    }

    /// Waits until the GPU has finished everything submitted so far. In the
    /// browser this yields to the event loop meanwhile.
    pub async fn wait_idle(&self) -> Result<()> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        self.drive()?;
        rx.await
            .map_err(|_| Error::DeviceLost("the GPU stopped answering".into()))
    }

    /// Maps `buf` (a MAP_READ buffer whose copy has been submitted) and returns
    /// its first `bytes` bytes. Natively this blocks on the device; in the
    /// browser it yields to the event loop until the GPU is done.
    pub async fn read(&self, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        self.read_after(buf, bytes, None).await
    }

    /// [`Gpu::read`] of a copy made by submission `copied` (`None`: any):
    /// natively it blocks only until that submission is done, not on work
    /// submitted after it.
    pub async fn read_after(
        &self,
        buf: &wgpu::Buffer,
        bytes: u64,
        copied: Option<wgpu::SubmissionIndex>,
    ) -> Result<Vec<u8>> {
        let slice = buf.slice(..bytes);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.drive_until(copied)?;
        rx.await
            .map_err(|_| Error::DeviceLost("the readback was dropped".into()))?
            .map_err(|e| Error::DeviceLost(e.to_string()))?;
        let out = slice
            .get_mapped_range()
            .map_err(|e| Error::DeviceLost(e.to_string()))?
            .to_vec();
        buf.unmap();
        if let Some(e) = self.refused.lock().ok().and_then(|f| f.clone()) {
            return Err(Error::GpuRefused(e));
        }
        Ok(out)
    }
}

/// A bind group for `pipeline` of `bindings` in order (0, 1, …).
pub(crate) fn bind_group(
    device: &wgpu::Device,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    bindings: &[Bind<'_>],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = bindings
        .iter()
        .enumerate()
        .map(|(i, &bind)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: match bind {
                Bind::Buffer(buffer, offset, size) => {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset,
                        size: size.and_then(wgpu::BufferSize::new),
                    })
                }
                Bind::Texture(view) => wgpu::BindingResource::TextureView(view),
            },
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_cpu_driver_gets_three_threads_a_core_unless_the_user_set_them() {
        assert_eq!(cpu_driver_threads(None, 2), Some(6));
        assert_eq!(cpu_driver_threads(None, 1), Some(3));
        assert_eq!(cpu_driver_threads(None, 0), Some(1));
        // Mesa's cap.
        assert_eq!(cpu_driver_threads(None, 64), Some(CPU_DRIVER_THREADS_MAX));
        // The user's own choice stands, even one Mesa would not take.
        assert_eq!(cpu_driver_threads(Some(OsStr::new("3")), 2), None);
        assert_eq!(cpu_driver_threads(Some(OsStr::new("")), 2), None);
    }
}
