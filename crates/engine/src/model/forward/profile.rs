//! Timing the built pass for `locum bench --profile`: each launch alone
//! ([`Model::profile`]) and a decode step's launches inside one pass from
//! GPU timestamps ([`Model::profile_in_pass`]). Measurements, not tests.

use super::*;

impl Model {
    /// One forward pass's launches over `n` tokens, each named by its
    /// kernel and, in the body, its place in a layer (`layer[02] matvec`:
    /// the third launch of every layer), for the profiles.
    fn labelled(&self, n: u32) -> Vec<(String, Dispatch)> {
        let body = self.body_for(n, n == 1);
        let per_layer = (body.len() - 1) / self.cfg.n_layers as usize;
        let head: &[Dispatch] = if n == 1 {
            &self.head_sample
        } else {
            self.head_nll.as_deref().unwrap_or(&[])
        };
        let named = body.iter().enumerate().map(|(i, d)| match i {
            0 => (d.label.to_string(), d.clone()),
            _ => (
                format!("layer[{:02}] {}", (i - 1) % per_layer, d.label),
                d.clone(),
            ),
        });
        named
            .chain(
                head.iter()
                    .map(|d| (format!("head {}", d.label), d.clone())),
            )
            .collect()
    }

    /// Times each launch of one forward pass over `n` tokens on its own
    /// (one submission and a wait per launch), summed by kernel label, in
    /// milliseconds, minus the cost of an empty submission. For the
    /// benchmark's per-kernel table; the KV cache position is left as it was.
    pub async fn profile(&mut self, n: u32, reps: u32) -> Result<Vec<(String, f64)>> {
        self.settle();
        // Its passes write rows of whatever the token buffer holds.
        self.cached.truncate(self.pos as usize);
        let step = self.step_at(n);
        self.gpu
            .queue
            .write_buffer(&self.step, 0, bytemuck::bytes_of(&step));
        if n != 1 {
            self.build_head_nll();
        }
        let all = self.labelled(n);
        let submit = |d: Option<&Dispatch>| {
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            if let Some(d) = d {
                let mut pass = enc.begin_compute_pass(&Default::default());
                d.encode(&mut pass, n);
            }
            self.gpu.queue.submit([enc.finish()]);
        };
        submit(None);
        self.gpu.wait_idle().await?;
        let t = web_time::Instant::now();
        for _ in 0..reps {
            submit(None);
            self.gpu.wait_idle().await?;
        }
        let empty = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let mut out: Vec<(String, f64)> = Vec::new();
        for (name, d) in &all {
            let name = name.clone();
            submit(Some(d));
            self.gpu.wait_idle().await?;
            let t = web_time::Instant::now();
            for _ in 0..reps {
                submit(Some(d));
                self.gpu.wait_idle().await?;
            }
            let ms = (t.elapsed().as_secs_f64() * 1e3 / reps as f64 - empty).max(0.0);
            add_by_label(&mut out, name, ms);
        }
        Ok(out)
    }

    /// Times each launch of a decode step inside one real pass, from the
    /// GPU's timestamps (a compute pass per launch, each writing its start
    /// and end, all in one submission), averaged over `reps` steps after
    /// one unmeasured: what [`Model::profile`]'s launches alone leave out,
    /// the caches as a real step finds them and the gaps between launches.
    /// `None` where the adapter has no timestamp queries (the browser, and
    /// some drivers). It writes the KV row at the current position, which
    /// the next step overwrites, and puts back the token its sampler
    /// replaced, so generation goes on as if it had not run.
    pub async fn profile_in_pass(&mut self, reps: u32) -> Result<Option<PassProfile>> {
        if !self.gpu.timestamps() {
            return Ok(None);
        }
        self.settle();
        self.cached.truncate(self.pos as usize);
        let all = self.labelled(1);
        let k = all.len() as u32;
        let device = &self.gpu.device;
        let queries = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile_in_pass"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * k,
        });
        let bytes = 16 * k as u64;
        let resolved = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile_in_pass"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let read = self.gpu.readback("profile_in_pass", bytes);
        // The token the next step feeds, which each pass's sampler replaces.
        let fed = self.gpu.storage("profile_in_pass_token", 4);
        let ns_per_tick = self.gpu.queue.get_timestamp_period() as f64;
        let step = self.step_at(1);
        let ms = |ticks: u64| ticks as f64 * ns_per_tick / 1e6;
        let mut launches = vec![0.0; k as usize];
        let (mut total, mut gaps) = (0.0, 0.0);
        for rep in 0..=reps {
            self.gpu
                .queue
                .write_buffer(&self.step, 0, bytemuck::bytes_of(&step));
            let mut enc = device.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(&self.tokens, 0, &fed, 0, 4);
            for (i, (_, d)) in all.iter().enumerate() {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &queries,
                        beginning_of_pass_write_index: Some(2 * i as u32),
                        end_of_pass_write_index: Some(2 * i as u32 + 1),
                    }),
                });
                d.encode(&mut pass, 1);
            }
            enc.copy_buffer_to_buffer(&fed, 0, &self.tokens, 0, 4);
            enc.resolve_query_set(&queries, 0..2 * k, &resolved, 0);
            enc.copy_buffer_to_buffer(&resolved, 0, &read, 0, bytes);
            self.gpu.queue.submit([enc.finish()]);
            let got = self.gpu.read(&read, bytes).await?;
            let t: &[u64] = bytemuck::cast_slice(&got);
            if rep == 0 {
                continue;
            }
            for (i, time) in launches.iter_mut().enumerate() {
                *time += ms(t[2 * i + 1].saturating_sub(t[2 * i]));
                if i > 0 {
                    gaps += ms(t[2 * i].saturating_sub(t[2 * i - 1]));
                }
            }
            total += ms(t[2 * k as usize - 1].saturating_sub(t[0]));
        }
        let reps = reps.max(1) as f64;
        let mut kernels = Vec::new();
        for ((name, _), time) in all.into_iter().zip(launches) {
            add_by_label(&mut kernels, name, time / reps);
        }
        Ok(Some(PassProfile {
            total_ms: total / reps,
            gaps_ms: gaps / reps,
            kernels,
        }))
    }
}

/// A decode step's launches timed inside one pass ([`Model::profile_in_pass`]).
#[derive(Clone, Debug)]
pub struct PassProfile {
    /// From the first launch's start to the last one's end, ms.
    pub total_ms: f64,
    /// Between one launch's end and the next one's start, summed, ms.
    pub gaps_ms: f64,
    /// Each launch's time, summed by label as [`Model::profile`]'s, ms.
    pub kernels: Vec<(String, f64)>,
}

/// Adds `ms` to `name`'s row of `out`, or adds the row.
fn add_by_label(out: &mut Vec<(String, f64)>, name: String, ms: f64) {
    match out.iter_mut().find(|(l, _)| *l == name) {
        Some((_, v)) => *v += ms,
        None => out.push((name, ms)),
    }
}
