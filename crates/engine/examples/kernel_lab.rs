//! A scratch bench for trying WGSL kernel variants on this machine's adapter
//! (a developer tool, not part of the engine):
//!
//! `LAB_U0=1,0,0,0 LAB_U1=576,1536,1,0 cargo run --release --example kernel_lab --
//! FILE.wgsl ENTRY GX GY GZ u:16 u:16 s:BYTES ...`
//!
//! binds one buffer per `u:BYTES` (uniform, filled from `LAB_U<i>` as u32s)
//! or `s:BYTES` (storage, pseudo-random words) in order, dispatches ENTRY on
//! a GX×GY×GZ grid `LAB_REPS` times (default 50) and prints the time per
//! dispatch (and GB/s of `LAB_WBYTES` weight bytes).
use std::time::Instant;
use wgpu::util::DeviceExt;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let src = std::fs::read_to_string(&args[1]).unwrap();
    let entry = &args[2];
    let g: Vec<u32> = args[3..6].iter().map(|s| s.parse().unwrap()).collect();
    // buffers: "u:BYTES" uniform, "s:BYTES" storage; uniform 0 filled from LAB_U0 (comma u32s)
    let specs = &args[6..];
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap();
    println!(
        "{:?} features {:?}",
        adapter.get_info().name,
        adapter.features()
    );
    let lim = adapter.limits();
    println!(
        "max_uniform_buffer_binding_size {}",
        lim.max_uniform_buffer_binding_size
    );
    let feats = adapter.features() & (wgpu::Features::SUBGROUP);
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: feats,
        required_limits: lim,
        ..Default::default()
    }))
    .unwrap();
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(src.into()),
    });
    let pipe = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    });
    let mut seed = 12345u64;
    let mut bufs = vec![];
    for (i, s) in specs.iter().enumerate() {
        let (kind, n) = s.split_once(':').unwrap();
        let n: usize = n.parse().unwrap();
        let mut data = vec![0u32; n / 4];
        let ui: Vec<u32> = std::env::var(format!("LAB_U{i}"))
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        if kind == "u" {
            data[..ui.len()].copy_from_slice(&ui);
        } else {
            for d in data.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *d = (seed as u32) & 0x3bff3bff;
            }
        }
        let usage = if kind == "u" {
            wgpu::BufferUsages::UNIFORM
        } else {
            wgpu::BufferUsages::STORAGE
        };
        bufs.push(
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(&data),
                usage: usage | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            }),
        );
    }
    let entries: Vec<_> = bufs
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipe.get_bind_group_layout(0),
        entries: &entries,
    });
    let run = |reps: u32| {
        let mut enc = device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipe);
            pass.set_bind_group(0, &bg, &[]);
            for _ in 0..reps {
                pass.dispatch_workgroups(g[0], g[1], g[2]);
            }
        }
        queue.submit([enc.finish()]);
        device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .unwrap();
    };
    run(2);
    let reps = std::env::var("LAB_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let t = Instant::now();
    run(reps);
    let ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
    let wbytes: usize = std::env::var("LAB_WBYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    println!(
        "{entry}: {ms:.3} ms per dispatch, {:.2} GB/s of {wbytes} weight bytes",
        wbytes as f64 / ms / 1e6
    );
}
