//! What this adapter runs: each choice between a kernel's forms (weights
//! from buffers or textures, x shared by subgroups or quantized to int8, the
//! KV cache in f16 and its texture mirror, the fused feed-forward, which
//! attention where, prefill's tiles, decode submitted ahead), made once per
//! device from what the adapter is and has, each with the measurement that
//! decided it in its doc comment, and the `LOCUM_*` variables and `with_*`
//! switches that override it for tests and benchmarks.

use super::*;

impl Gpu {
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
}
