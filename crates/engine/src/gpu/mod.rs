//! The GPU: adapter and device set-up, the pipeline cache, buffer creation and
//! readback. Every wgpu call of the engine lives here or in `ops`, because
//! wgpu's API moves between releases.

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

    /// Whether the GPU can time launches (`Model::profile_in_pass`).
    pub fn timestamps(&self) -> bool {
        self.timestamps
    }

    /// Whether matrices go into textures rather than storage buffers
    /// (`weights_texture.wgsl`): on CPU adapters, natively and in the
    /// browser, where both lavapipe and SwiftShader fetch a texel for less
    /// than they load four storage words lane by lane (a Q4_1 decode product
    /// measured twice as fast from a texture on each). `LOCUM_WEIGHT_TEXTURES=0|1`
    /// overrides it: natively when the program runs, in the browser when the
    /// wasm is built (to measure one against the other).
    pub fn weight_textures(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let over = std::env::var("LOCUM_WEIGHT_TEXTURES")
            .ok()
            .map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let over = option_env!("LOCUM_WEIGHT_TEXTURES").map(|v| v == "1");
        over.unwrap_or_else(|| self.cpu_adapter())
    }

    /// Whether weight textures are read as read-only storage textures
    /// (`weights_storage.wgsl`) rather than sampled ones: on lavapipe,
    /// where an image load is compiled inline and a sampled fetch is a call
    /// of about 150 instructions (its decode products 12–34% faster in the
    /// lab), and not on SwiftShader (slower there) or in the browser; only
    /// where the adapter reads `rgba32uint` storage textures.
    /// `LOCUM_WEIGHT_STORAGE=0|1` overrides the choice natively.
    pub fn weight_storage_textures(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let over = std::env::var("LOCUM_WEIGHT_STORAGE").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let over = Some(false);
        let wanted =
            over.unwrap_or_else(|| self.summary.device_type == "Cpu" && !self.swiftshader());
        wanted && self.storage_read
    }

    /// Whether decode's lane attention reads the KV cache from a mirror in
    /// read-only storage textures (`attention_kv_mirror.wgsl`), which the
    /// decode Q|K|V product writes with each new row and a copy fills after
    /// every prefill: on lavapipe, where an image load is a gather compiled
    /// inline and a storage-buffer load is a loop over the lanes with a
    /// bounds check each (lab, one launch of SmolLM2's lane attention at
    /// 512 positions 0.173 → 0.14 ms, at 2,048 0.41 → 0.30), with an f16
    /// cache (four values to an `rg32uint` texel), where the adapter reads
    /// and writes `rg32uint` storage textures. Not on SwiftShader, which has
    /// no f16 and reads storage textures slower. `LOCUM_KV_MIRROR=0|1`
    /// overrides the choice natively.
    pub fn kv_mirror(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let env = std::env::var("LOCUM_KV_MIRROR").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let env = Some(false);
        let wanted = self
            .kv_mirror_over
            .or(env)
            .unwrap_or_else(|| self.summary.device_type == "Cpu" && !self.swiftshader());
        wanted && self.mirror_formats && self.kv_f16() && self.lane_attention().is_some()
    }

    /// This device with the KV mirror on or off (where it can be on at
    /// all), whatever the adapter or `LOCUM_KV_MIRROR` says: for tests that
    /// hold one to the other.
    pub fn with_kv_mirror(mut self, on: bool) -> Gpu {
        self.kv_mirror_over = Some(on);
        self
    }

    /// Whether the adapter runs WGSL on the CPU: the fallback adapter
    /// (device type Cpu: lavapipe natively, SwiftShader in Chromium), or
    /// one that names itself SwiftShader (its Vulkan driver natively, which
    /// says it is a CPU too).
    /// How many decode steps' time one batch of up to eight tokens takes
    /// ([`Model::verify`](crate::model::Model::verify)), for deciding when drafted tokens are worth
    /// checking. CPU adapters: 2.1 (lavapipe, SmolLM2: a batch of two to
    /// eight 46–54 ms against 22–25 ms a decode step; BENCHMARKS.md,
    /// "twenty-first session"). GPUs: 1.25, not measured (a step reads every
    /// weight once whatever the batch, so a few more tokens cost little).
    pub fn verify_cost(&self) -> f32 {
        match self.cpu_adapter() {
            true => 2.1,
            false => 1.25,
        }
    }

    fn cpu_adapter(&self) -> bool {
        self.summary.device_type == "Cpu" || self.swiftshader()
    }

    /// Whether the adapter is SwiftShader (Chromium's WebGPU without a GPU):
    /// natively, by its name; in the browser, any CPU (fallback) adapter.
    /// There wgpu names the adapter by `GPUAdapterInfo.description`, which
    /// Chromium leaves empty (its kernel tests see name "", device type
    /// Cpu): by the name alone, the SwiftShader choices never reached the
    /// page.
    fn swiftshader(&self) -> bool {
        let browser_cpu =
            self.summary.backend == "BrowserWebGpu" && self.summary.device_type == "Cpu";
        browser_cpu || self.summary.name.to_lowercase().contains("swiftshader")
    }

    /// Whether the decode kernels share x blocks through subgroup
    /// broadcasts (`x_subgroup.wgsl`), prefill's tile kernel its tokens' x
    /// (`tile_x_subgroup.wgsl`) and row attention its queries and weights
    /// (`attention_share_subgroup.wgsl`): where the device has subgroups of
    /// at least 8 lanes. `LOCUM_X_SUBGROUP=0` turns it off natively.
    pub fn x_subgroup(&self) -> bool {
        if self.x_subgroup_off {
            return false;
        }
        #[cfg(not(target_arch = "wasm32"))]
        if std::env::var("LOCUM_X_SUBGROUP").is_ok_and(|v| v == "0") {
            return false;
        }
        self.subgroups && self.summary.subgroup_min_size >= 8
    }

    /// Whether the decode kernels quantize x to int8 and take the products
    /// with weights of type `ty` in 32-bit integers (`matvec_q8.wgsl`): for
    /// Q4_0 and Q4_1, by default on CPU adapters. On SwiftShader (the
    /// browser without a GPU) it is faster than the f32 kernel (gate|up
    /// 576 → 3,072 1.01 against 1.29 ms, down 1,536 → 576 0.52 against
    /// 0.86); on lavapipe, once its weights were read as storage textures
    /// (12-06, lab, COLD=60), gate|up 0.355 against 0.397 ms, down 0.125
    /// against 0.207, output 0.094 against 0.194, Q|K|V the same, and decode
    /// at context 0 a median 25.6 against 23.8 tokens/s (seven alternated
    /// runs). x is then quantized to 8 bits a block, as llama.cpp's CPU
    /// path does for these types. `LOCUM_INT8=1|0` overrides it (natively
    /// when the program runs, in the browser when the wasm is built;
    /// [`Gpu::with_int8_dot`] over both).
    pub fn x_q8(&self, ty: GgmlType) -> bool {
        let q8_type = match ty {
            GgmlType::Q4_0 | GgmlType::Q4_1 => true,
            GgmlType::Q8_0 => self.int8_q8_0(),
            _ => false,
        };
        q8_type && self.int8_chosen()
    }

    /// Whether, where the decode products are in int8 ([`Gpu::x_q8`]),
    /// Q8_0 matrices are too, through WGSL's `dot4I8Packed`: on SwiftShader,
    /// where SmolLM2's 576 → 49,152 head took 47.9 ms against the f32
    /// kernel's 58.1 (lab, natively); not on lavapipe, where it took 6.31
    /// against 5.39. `LOCUM_INT8_Q8_0=1|0` overrides it (natively when the
    /// program runs, in the browser when the wasm is built;
    /// [`Gpu::with_int8_q8_0`] over both).
    fn int8_q8_0(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let env = std::env::var("LOCUM_INT8_Q8_0").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let env = option_env!("LOCUM_INT8_Q8_0").map(|v| v == "1");
        self.int8_q8_0_over
            .or(env)
            .unwrap_or_else(|| self.swiftshader())
    }

    /// This device with Q8_0's int8 decode products on or off, whatever
    /// the adapter or `LOCUM_INT8_Q8_0` says (they run only where
    /// [`Gpu::x_q8`]'s int8 products do): for tests.
    pub fn with_int8_q8_0(mut self, on: bool) -> Gpu {
        self.int8_q8_0_over = Some(on);
        self
    }

    fn int8_chosen(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let env = std::env::var("LOCUM_INT8").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let env = option_env!("LOCUM_INT8").map(|v| v == "1");
        self.int8_over.or(env).unwrap_or_else(|| self.cpu_adapter())
    }

    /// Whether decode submits each step before reading the token of the one
    /// before back (`Model::decode_ahead`), so that the GPU is not idle
    /// while the CPU waits for the readback and hands the token on: on
    /// GPUs, and natively on CPU adapters too, where lavapipe's workers now
    /// outnumber the cores ([`CPU_DRIVER_THREADS_PER_CORE`]): with six
    /// threads on two cores it decoded 37.2 against 34.3 tokens/s (medians,
    /// four alternated pairs) at context 0, 33.2 against 31.9 at 512. With
    /// two threads, one a core, it had been slower (26.6–32.0 against
    /// 28.0–33.7 at context 0): the thread recording the next step took a
    /// core from a worker that every launch waited for. Not on SwiftShader
    /// in the page, where it made no difference (7.21 against 7.19 tokens/s).
    /// `LOCUM_DECODE_AHEAD=0|1` overrides it natively, and
    /// [`Gpu::with_decode_ahead`] over both.
    pub fn decode_ahead(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let env = std::env::var("LOCUM_DECODE_AHEAD").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let env = None;
        self.decode_ahead_over
            .or(env)
            .unwrap_or_else(|| cfg!(not(target_arch = "wasm32")) || !self.cpu_adapter())
    }

    /// This device with decode steps submitted ahead or not, whatever the
    /// adapter says: for the test that holds the pipelined decode to the
    /// plain one.
    pub fn with_decode_ahead(mut self, on: bool) -> Gpu {
        self.decode_ahead_over = Some(on);
        self
    }

    /// This device with int8 decode products on or off, whatever the
    /// adapter and `LOCUM_INT8` say: for tests that hold the int8 kernels to
    /// their f32 twins.
    pub fn with_int8_dot(mut self, on: bool) -> Gpu {
        self.int8_over = Some(on);
        self
    }

    /// This device without subgroup-shared x, whatever the adapter has: for
    /// tests that hold those kernels to their twins, where every lane loads
    /// x itself.
    pub fn without_x_subgroup(mut self) -> Gpu {
        self.x_subgroup_off = true;
        self
    }

    /// Whether the KV cache holds f16 rather than f32 (`kv_f16.wgsl`):
    /// wherever the device has `shader-f16`, as llama.cpp's cache is f16 by
    /// default. Half the bytes per cached position to write and to read, so
    /// attention, which reads the whole cache every token, reads half as
    /// much; every sum stays in f32. SwiftShader has no `shader-f16`, so the
    /// f32 cache always runs there. `LOCUM_KV_F16=0|1` overrides it
    /// (natively when the program runs, in the browser when the wasm is
    /// built; 1 only where the device has the feature), and
    /// [`Gpu::with_kv_f16`] over both.
    pub fn kv_f16(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let env = std::env::var("LOCUM_KV_F16").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let env = option_env!("LOCUM_KV_F16").map(|v| v == "1");
        self.f16 && self.kv_f16_over.or(env).unwrap_or(true)
    }

    /// This device with the KV cache in f16 or in f32, whatever
    /// `LOCUM_KV_F16` says (f16 only where the device has `shader-f16`):
    /// for tests that hold the f16 cache to the f32 one.
    pub fn with_kv_f16(mut self, on: bool) -> Gpu {
        self.kv_f16_over = Some(on);
        self
    }

    /// Bytes of one KV-cache element: 2 with [`Gpu::kv_f16`], else 4.
    pub fn kv_bytes(&self) -> u64 {
        match self.kv_f16() {
            true => 2,
            false => 4,
        }
    }

    /// Whether some decode kernels fuse the RMS norm in front of their
    /// product: they share x through subgroups, or quantize it to int8.
    pub fn fuses_norms(&self) -> bool {
        self.x_subgroup() || self.int8_chosen()
    }

    /// Whether the int8 decode products take a group's four blocks in a
    /// loop (`q8_group_loop.wgsl`): on SwiftShader, whose compiler does not
    /// unroll and takes twice as long over them written out (the page's
    /// load). `LOCUM_Q8_GROUP_LOOP=0|1` overrides it natively (A/B runs,
    /// and the kernel tests of the loop on lavapipe).
    pub fn q8_group_loop(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(v) = std::env::var("LOCUM_Q8_GROUP_LOOP") {
            return v == "1";
        }
        self.swiftshader()
    }

    /// Whether lane attention keeps its V pass as the loop in
    /// `attention_lanes.wgsl` rather than written out
    /// (`attention_lanes_v_unrolled.wgsl`): on SwiftShader, whose compiler
    /// took longer over the written-out steps (the page ready about 0.6 s
    /// later) for no faster decode.
    /// `LOCUM_ATTENTION_V_LOOP=0|1` overrides it natively (A/B runs, and the
    /// kernel tests of the loop on lavapipe).
    pub fn attention_v_loop(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(v) = std::env::var("LOCUM_ATTENTION_V_LOOP") {
            return v == "1";
        }
        self.swiftshader()
    }

    /// The source variant of `kernel` for weights kept in `weights`, and
    /// x in int8 ([`Gpu::x_q8`]) or not.
    pub fn variant(&self, kernel: Kernel, weights: WeightStore, x_q8: bool) -> Variant {
        let x_q8 = x_q8 && kernel.reads_x_blocks();
        Variant {
            weights: match kernel.reads_weights() {
                true => weights,
                false => WeightStore::Buffer,
            },
            x_subgroup: self.x_subgroup() && kernel.shares_x(),
            x_q8,
            x_q8_blocks: 0,
            x_q8_bytes: false,
            q8_group_loop: x_q8 && self.q8_group_loop(),
            // `ops::attention` sets it for lane attention.
            attention_v_loop: false,
            // `Gpu::pipeline` sets it, for every kernel that touches the cache.
            kv_f16: false,
            // The ops that take a mirror set it.
            kv_mirror: false,
        }
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

    /// Threads that share one matmul row (the matmul kernel's LANES): 1 on a
    /// CPU adapter, where each invocation is a SIMD lane of one core and
    /// barriers are costly; 16 on a GPU. `LOCUM_MATMUL_LANES` overrides it.
    pub fn matmul_lanes(&self) -> u32 {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(n) = std::env::var("LOCUM_MATMUL_LANES")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
        {
            if n.is_power_of_two() && n <= 64 {
                return n;
            }
        }
        if self.summary.device_type == "Cpu" {
            1
        } else {
            16
        }
    }

    /// Whether the decode kernels give each invocation whole rows
    /// (`matvec.wgsl`): on CPU adapters, where invocations are SIMD lanes of
    /// one core. `LOCUM_ROWS_PER_LANE=0|1` overrides it natively.
    pub fn rows_per_lane(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(v) = std::env::var("LOCUM_ROWS_PER_LANE") {
            return v == "1";
        }
        self.cpu_adapter()
    }

    /// Whether decode runs a layer's feed-forward block in one launch
    /// (`ops::ffn_matvec`), where the model allows: on lavapipe, where a
    /// launch costs 40–80 µs of a 23 ms step (BENCHMARKS.md,
    /// "twenty-third session"). Not on SwiftShader: in the page a launch
    /// costs about 30 µs of a 200 ms step, and the kernel would be one more
    /// pipeline for its load to compile (about a second). Not on GPUs, whose
    /// decode products are not `rows_per_lane`'s. `LOCUM_FFN_FUSED=0|1`
    /// overrides the choice natively.
    pub fn ffn_fused(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let env = std::env::var("LOCUM_FFN_FUSED").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let env = Some(false);
        let wanted = self
            .ffn_fused_over
            .or(env)
            .unwrap_or_else(|| !self.swiftshader());
        wanted && self.rows_per_lane()
    }

    /// How many workgroups, and so partial sums, decode's fused
    /// feed-forward of `n_ff` hidden values takes (`ops::ffn_matvec`), or
    /// `None` where it is not fused ([`Gpu::ffn_fused`]): one a core
    /// (`ops::ffn_slices`). On two cores SmolLM2 decoded at 45.6 tokens/s
    /// with two, 44.4 with four and 40.7 unfused (context 0, means of four
    /// alternated rounds), and with six no faster than unfused
    /// (BENCHMARKS.md, "twenty-third session"): every reader adds every
    /// sum. `LOCUM_FFN_SLICES=K` sets them natively.
    pub fn ffn_slices(&self, n_ff: u32) -> Option<u32> {
        if !self.ffn_fused() {
            return None;
        }
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(k) = std::env::var("LOCUM_FFN_SLICES")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            return Some(k);
        }
        #[cfg(not(target_arch = "wasm32"))]
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        #[cfg(target_arch = "wasm32")]
        let cores = 2;
        crate::ops::ffn_slices(n_ff, cores as u32)
    }

    /// This device with the fused feed-forward on or off (where the
    /// decode kernels are `rows_per_lane`'s), whatever the adapter or
    /// `LOCUM_FFN_FUSED` says: for tests that hold one to the other.
    pub fn with_ffn_fused(mut self, on: bool) -> Gpu {
        self.ffn_fused_over = Some(on);
        self
    }

    /// Whether decode runs the rest of a layer after its Q|K|V product in
    /// one launch of `slices` workgroups (`ops::layer_tail`), where the
    /// model allows: only where asked for (`LOCUM_LAYER_TAIL=1` natively,
    /// [`Gpu::with_layer_tail`]) and the adapter can
    /// ([`Gpu::layer_tail_runs`]). Off by default: on this machine's two
    /// cores it made `locum bench`'s decode 2% faster (8.5% without
    /// pipelined decode) but the clinical answers 0–5% slower, its
    /// workgroups waiting for each other while the host works alongside
    /// (BENCHMARKS.md, "twenty-fourth session").
    pub fn layer_tail(&self, slices: u32) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let env = std::env::var("LOCUM_LAYER_TAIL").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let env = Some(false);
        let wanted = self.layer_tail_over.or(env).unwrap_or(false);
        wanted && self.layer_tail_runs(slices)
    }

    /// Whether the adapter can run [`Gpu::layer_tail`]'s launches of
    /// `slices` workgroups that wait for each other: natively on lavapipe,
    /// with the fused feed-forward ([`Gpu::ffn_fused`]) and lane attention
    /// in one launch ([`Gpu::lane_attention_merged`]), while Mesa's worker
    /// threads (`LP_NUM_THREADS`) are at least the workgroups. A launch there
    /// costs 40–80 µs, a meeting of its workgroups 2–3 µs.
    pub fn layer_tail_runs(&self, slices: u32) -> bool {
        // Mesa reads the variable once; Gpu::new set it unless the user did.
        #[cfg(not(target_arch = "wasm32"))]
        let threads = std::env::var("LP_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        #[cfg(target_arch = "wasm32")]
        let threads = 0;
        !self.swiftshader()
            && self.ffn_fused()
            && self.lane_attention_merged()
            && self.summary.device_type == "Cpu"
            && threads >= slices
    }

    /// This device with decode's layer tails fused or not (where they can
    /// be at all), whatever the adapter or `LOCUM_LAYER_TAIL` says: for
    /// tests that hold one to the other.
    pub fn with_layer_tail(mut self, on: bool) -> Gpu {
        self.layer_tail_over = Some(on);
        self
    }

    /// This device with the layer tails' workgroups waiting `tries` rounds
    /// at a meeting before they give up (`layer_tail.wgsl`'s MEET_TRIES;
    /// 0: at once, every step then failing): for tests of what the model
    /// does when they do not all meet.
    pub fn with_meet_tries(mut self, tries: u32) -> Gpu {
        self.meet_tries = Some(tries);
        self
    }

    /// [`Gpu::with_meet_tries`]'s setting, if any.
    pub fn meet_tries(&self) -> Option<u32> {
        self.meet_tries
    }

    /// On CPU adapters, row attention (`ops::attention_rows`: scores,
    /// softmax and values as three launches) for prefill, and for decode from
    /// the returned number of cached positions on; `None` elsewhere.
    /// `LOCUM_ROW_ATTENTION=0` turns it off natively and
    /// `LOCUM_ATTENTION_SPLIT_FROM` moves decode's threshold, to measure.
    pub fn row_attention_from(&self) -> Option<u32> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            if std::env::var("LOCUM_ROW_ATTENTION").is_ok_and(|v| v == "0") {
                return None;
            }
            if let Some(from) = std::env::var("LOCUM_ATTENTION_SPLIT_FROM")
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
            {
                return self.rows_per_lane().then_some(from);
            }
        }
        self.rows_per_lane().then_some(CPU_ROWS_FROM)
    }

    /// From how many cached positions decode's lane attention takes its
    /// split form (lanes, then a merge launch) rather than one launch:
    /// [`Gpu::row_attention_from`]'s threshold, or where lane attention
    /// reads the KV mirror a later one. `LOCUM_ATTENTION_SPLIT_FROM`
    /// overrides both natively.
    pub fn lane_split_from(&self, mirror: bool) -> Option<u32> {
        #[cfg(not(target_arch = "wasm32"))]
        if std::env::var("LOCUM_ATTENTION_SPLIT_FROM").is_ok() {
            return self.row_attention_from();
        }
        match mirror {
            true => self.row_attention_from().map(|_| CPU_MIRROR_SPLIT_FROM),
            false => self.row_attention_from(),
        }
    }

    /// On CPU adapters, lane attention for decode (`ops::attention_lanes`:
    /// one cached position to a SIMD lane, then a merge), with this many
    /// workgroups per KV head; `None` elsewhere, and for shapes it does not
    /// take the forward pass keeps row attention. `LOCUM_LANE_ATTENTION=0`
    /// turns it off natively and `LOCUM_LANE_SPLITS=N` sets the splits, to
    /// measure.
    pub fn lane_attention(&self) -> Option<u32> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            if std::env::var("LOCUM_LANE_ATTENTION").is_ok_and(|v| v == "0") {
                return None;
            }
            if let Some(n) = std::env::var("LOCUM_LANE_SPLITS")
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
            {
                return self.rows_per_lane().then_some(n.clamp(1, 64));
            }
        }
        self.rows_per_lane().then_some(CPU_LANE_SPLITS)
    }

    /// Whether lane attention (see [`Gpu::lane_attention`]) also runs decode
    /// below the long-context threshold, in one launch whose workgroup (one
    /// a KV head) merges its lanes' parts itself
    /// (`ops::attention_lanes_merged`). Before, lavapipe ran the one-pass
    /// kernel there (its launch cost less than lanes and merge: 3.4 against
    /// 5.1 ms a token at context 32) and SwiftShader the two launches (the
    /// one-pass kernel's barriers cost it 44.5 ms a token at context 56).
    /// In one launch, lavapipe's 30 layers' attention took 4.3–8.5 → 0.7–3.9
    /// ms a token at position ~40 and decode at context 0 went 19.1–20.7 →
    /// 26.2–27.6 tokens/s (three alternated pairs); native SwiftShader 5.87–
    /// 5.91 tokens/s either way, 30 launches fewer. Not on SwiftShader,
    /// where it decoded no faster and its pipeline took longest of the
    /// attention kernels to compile (563 ms of a 5.1 s native load; the
    /// lanes and merge pipelines 96 and 8 ms): there the split form runs
    /// from the first position ([`Gpu::lane_attention_split_short`]).
    /// `LOCUM_LANE_MERGED=0|1` overrides it natively (0 on lavapipe: the
    /// one-pass kernel runs there instead).
    pub fn lane_attention_merged(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(v) = std::env::var("LOCUM_LANE_MERGED") {
            return v == "1" && self.lane_attention().is_some();
        }
        self.lane_attention().is_some() && !self.swiftshader()
    }

    /// Whether decode below the long-context threshold takes lane
    /// attention's split form (lanes, then a merge launch: the long
    /// contexts' dispatches) where the one-launch form is off
    /// ([`Gpu::lane_attention_merged`]), rather than the one-pass kernel:
    /// on SwiftShader, whose one-pass kernel's barriers cost it 44.5 ms a
    /// token at context 56, and whose page then compiles no pipeline for
    /// short contexts alone.
    pub fn lane_attention_split_short(&self) -> bool {
        self.lane_attention().is_some() && self.swiftshader()
    }

    /// Whether prefill's products with weights of type `ty` take x in int8
    /// and their products in 32-bit integers (`ops::matmul_tile_q8`): for
    /// Q4_0, Q4_1 and Q4_K on CPU adapters, where the f32 tile's unpacking and
    /// multiply-adds cost most (lab, one 8-token group: lavapipe gate/up
    /// 576 → 3,072 0.563 → 0.362 ms, down 0.341 → 0.209; SwiftShader gate/up
    /// 4.85 → 2.62, down 3.24 → 1.67). `LOCUM_TILE_Q8=0|1` overrides it
    /// (natively when the program runs, in the browser when the wasm is
    /// built), and [`Gpu::with_tile_q8`] over both.
    pub fn tile_q8(&self, ty: GgmlType) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let env = std::env::var("LOCUM_TILE_Q8").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let env = option_env!("LOCUM_TILE_Q8").map(|v| v == "1");
        let chosen = self
            .tile_q8_over
            .or(env)
            .unwrap_or_else(|| self.rows_per_lane());
        chosen && ty.nibble_quants()
    }

    /// Whether prefill's norms before the Q|K|V and gate|up products are
    /// taken as x is quantized for the int8 tile (`ops::matmul_batch_x8_normed`)
    /// rather than in a launch of their own: 60 launches fewer for a
    /// 64-token batch of SmolLM2, and no f32 row written to be read straight
    /// back. lavapipe, 512-token prompt, seven alternated runs each: prefill
    /// median 131.8 → 146.2 tokens/s (best 142.9 → 164.3). On by default;
    /// `LOCUM_PREFILL_NORM_FUSED=0` turns it off natively, for A/B runs.
    pub fn fused_prefill_norm(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if std::env::var("LOCUM_PREFILL_NORM_FUSED").is_ok_and(|v| v == "0") {
            return false;
        }
        true
    }

    /// Whether prefill's int8 tile may take 12 rows a lane where a
    /// product's rows fill workgroups of 96 and not of 128
    /// (`ops::tile_q8_rows`). Not on SwiftShader: there the second tile
    /// pipeline (and the rope tile's, [`Gpu::fused_prefill_rope`]) cost the
    /// page's load 2.5–3 s of compiling (native SwiftShader, `locum bench`
    /// load 5.5–5.8 → 8.1–8.7 s) for no prefill gained (64 tokens: 32.1 /
    /// 33.8 against 31.9 / 34.1 tokens/s). Off by default since the weights
    /// went into tiles of 128 rows (`format::quant`, "Tiles"), which a
    /// 96-row workgroup straddles: on lavapipe, six alternated pairs of
    /// `locum bench --prompt-tokens 512` (LOCUM_TILE_ROWS12=0 against 1),
    /// prefill 164–216 tokens/s (median 187) against 159–190 (184.5), and
    /// the load, two pipelines fewer, 849–1,128 ms (median 918) against
    /// 967–1,382 (1,078). `LOCUM_TILE_ROWS12=0|1` overrides it natively,
    /// [`Gpu::with_tile_rows12`] over both.
    pub fn tile_rows12(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let env = std::env::var("LOCUM_TILE_ROWS12").ok().map(|v| v == "1");
        #[cfg(target_arch = "wasm32")]
        let env: Option<bool> = None;
        self.tile_rows12_over.or(env).unwrap_or(false)
    }

    /// This device with the int8 tile's 12-row form allowed or not, for
    /// tests that run it on every adapter.
    pub fn with_tile_rows12(mut self, on: bool) -> Gpu {
        self.tile_rows12_over = Some(on);
        self
    }

    /// Whether prefill's fused Q|K|V product on the int8 tile rotates its
    /// rows and writes the caches in its stores (`ops::matmul_tile_q8_rope`)
    /// rather than leaving that to a `rope_split` launch: lavapipe, 64-token
    /// batch, the 30 layers' product and split 73.6 / 59.6 / 75.5 ms → 52.6
    /// / 58.0 / 57.5 in three alternated profiles (`locum bench --profile`).
    /// On by default; `LOCUM_PREFILL_ROPE_FUSED=0` turns it off natively,
    /// for A/B runs.
    pub fn fused_prefill_rope(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if std::env::var("LOCUM_PREFILL_ROPE_FUSED").is_ok_and(|v| v == "0") {
            return false;
        }
        // Not on SwiftShader: its pipeline's compile (see `tile_rows12`).
        !self.swiftshader()
    }

    /// This device with prefill's int8 tile on or off, whatever the adapter
    /// and `LOCUM_TILE_Q8` say: for tests that hold it to the f32 tile.
    pub fn with_tile_q8(mut self, on: bool) -> Gpu {
        self.tile_q8_over = Some(on);
        self
    }

    /// Whether prefill's tile products on CPU adapters read each 8-token
    /// group's x as a uniform (`matmul_tile_group.wgsl`, one launch per
    /// group) where it fits, rather than from storage in one launch.
    /// `LOCUM_TILE_GROUPS=0` turns it off natively, to measure the two.
    pub fn tile_groups(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(v) = std::env::var("LOCUM_TILE_GROUPS") {
            return v != "0";
        }
        true
    }

    /// Split-KV attention for decode: how many workgroups share each head's
    /// positions, and from how many cached positions on (splits ≤ 1: never).
    /// A GPU has far more cores than a model has heads, so it splits; a
    /// CPU adapter runs a workgroup per core thread and does not.
    /// `LOCUM_ATTENTION_SPLITS=N` and `LOCUM_ATTENTION_SPLIT_FROM=P`
    /// override it natively.
    pub fn attention_splits(&self) -> (u32, u32) {
        let (splits, from) = match self.rows_per_lane() {
            true => (CPU_SPLITS, CPU_SPLIT_FROM),
            false => (32, 256),
        };
        #[cfg(not(target_arch = "wasm32"))]
        let (splits, from) = {
            let var = |n: &str| std::env::var(n).ok().and_then(|v| v.parse::<u32>().ok());
            (
                var("LOCUM_ATTENTION_SPLITS").unwrap_or(splits),
                var("LOCUM_ATTENTION_SPLIT_FROM").unwrap_or(from),
            )
        };
        (splits.min(256), from)
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
