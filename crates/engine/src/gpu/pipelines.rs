//! Compute pipelines compiled once and cached by key (kernel, entry point,
//! override constants), as web-rwkv's `checkout_pipeline` does.
//!
//! While a model is built ([`PipelineCache::together`]) a pipeline asked
//! for is not compiled at once: the kernels' constructors get a
//! [`Pipeline`] still to be compiled, and their bind groups wait for it
//! ([`PipelineCache::then`]). When the model is built, every pipeline it
//! asked for is compiled, natively on a thread a core, and the bind groups
//! are made.
//! Why: on a CPU adapter compiling the pipelines is most of a model's load
//! (lavapipe, SmolLM2: about 850 of 1,130 ms, one pipeline after another),
//! and a driver compiles two pipelines on two threads in about half the
//! time (eight of the decode products, 0.90–0.94 s on one thread against
//! 0.49–0.52 on two).

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::shaders::{Kernel, Variant};

/// What makes a pipeline distinct: the kernel (one WGSL file), how its
/// source is put together (its [`Variant`]) and the values of its `override`
/// constants, e.g. `[("QTYPE", 3)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    pub kernel: Kernel,
    pub variant: Variant,
    pub constants: Vec<(&'static str, u32)>,
}

impl PipelineKey {
    pub fn new(kernel: Kernel) -> Self {
        Self {
            kernel,
            variant: Variant::default(),
            constants: Vec::new(),
        }
    }
    pub fn variant(mut self, variant: Variant) -> Self {
        self.variant = variant;
        self
    }
    pub fn with(mut self, name: &'static str, value: u32) -> Self {
        self.constants.push((name, value));
        self
    }
}

/// A compute pipeline, compiled when it was asked for or, while a model is
/// built, once the model is ([`PipelineCache::together`]).
#[derive(Debug)]
pub struct Pipeline {
    key: PipelineKey,
    compiled: OnceCell<wgpu::ComputePipeline>,
}

impl Pipeline {
    /// The compiled pipeline.
    ///
    /// # Panics
    /// While it waits to be compiled: only bind groups deferred with
    /// [`PipelineCache::then`] may look at it before then.
    pub fn get(&self) -> &wgpu::ComputePipeline {
        self.compiled
            .get()
            .unwrap_or_else(|| panic!("pipeline {:?} used before it was compiled", self.key.kernel))
    }

    /// What it is.
    pub fn key(&self) -> &PipelineKey {
        &self.key
    }

    /// Whether it is compiled yet.
    pub fn ready(&self) -> bool {
        self.compiled.get().is_some()
    }
}

/// While a model is built: the pipelines asked for and not compiled, and
/// the work that waits for them (a bind group needs its pipeline's layout),
/// each with its pipeline's key. After a build, the same for the pipelines
/// it left for later ([`PipelineCache::together_later`]).
#[derive(Default)]
struct Deferred {
    pipelines: Vec<Rc<Pipeline>>,
    then: Vec<(PipelineKey, Box<dyn FnOnce()>)>,
}

#[derive(Default)]
pub struct PipelineCache {
    modules: RefCell<HashMap<(Kernel, Variant), wgpu::ShaderModule>>,
    pipelines: RefCell<HashMap<PipelineKey, Rc<Pipeline>>>,
    /// `Some` while a model is built.
    deferred: RefCell<Option<Deferred>>,
    /// What builds left to compile later, until [`PipelineCache::compile_late`].
    late: RefCell<Deferred>,
}

impl PipelineCache {
    /// The pipeline for `key`: compiled now, or while a model is built
    /// once it is.
    pub fn get(&self, device: &wgpu::Device, key: &PipelineKey) -> Rc<Pipeline> {
        if let Some(p) = self.pipelines.borrow().get(key) {
            return p.clone();
        }
        let pipeline = Rc::new(Pipeline {
            key: key.clone(),
            compiled: OnceCell::new(),
        });
        self.pipelines
            .borrow_mut()
            .insert(key.clone(), pipeline.clone());
        if let Some(deferred) = self.deferred.borrow_mut().as_mut() {
            deferred.pipelines.push(pipeline.clone());
            return pipeline;
        }
        let work = self.work(std::slice::from_ref(&pipeline));
        self.finish(std::slice::from_ref(&pipeline), work.run(device, 1));
        pipeline
    }

    /// Runs `then` once `pipeline` is compiled: now if it is, else when the
    /// model being built is.
    pub fn then(&self, pipeline: &Pipeline, then: impl FnOnce() + 'static) {
        if !pipeline.ready() {
            let key = pipeline.key.clone();
            if let Some(deferred) = self.deferred.borrow_mut().as_mut() {
                deferred.then.push((key, Box::new(then)));
                return;
            }
            if self.is_late(&key) {
                self.late.borrow_mut().then.push((key, Box::new(then)));
                return;
            }
        }
        then()
    }

    /// Whether the pipeline of `key` waits in [`PipelineCache::compile_late`].
    fn is_late(&self, key: &PipelineKey) -> bool {
        self.late.borrow().pipelines.iter().any(|p| p.key == *key)
    }

    /// Whether some pipelines wait for [`PipelineCache::compile_late`].
    pub fn has_late(&self) -> bool {
        !self.late.borrow().pipelines.is_empty()
    }

    /// Compiles the pipelines that builds left for later and makes what
    /// waited for them (bind groups); false where there were none.
    pub fn compile_late(&self, device: &wgpu::Device, threads: usize) -> bool {
        let Deferred { pipelines, then } = std::mem::take(&mut *self.late.borrow_mut());
        if pipelines.is_empty() {
            return false;
        }
        let work = self.work(&pipelines);
        self.finish(&pipelines, work.run(device, threads));
        for (_, t) in then {
            t();
        }
        true
    }

    /// Runs `build` (a model's constructor) with the pipelines it asks for
    /// compiled together after it, natively on up to `threads` threads
    /// while this thread runs `meanwhile` on what `build` made (uploading
    /// the weights), in the browser before it; then what waited for the
    /// pipelines.
    pub fn together<T>(
        &self,
        device: &wgpu::Device,
        threads: usize,
        build: impl FnOnce() -> T,
        meanwhile: impl FnOnce(&T),
    ) -> T {
        self.together_later(device, threads, build, meanwhile, |_| Vec::new())
    }

    /// [`PipelineCache::together`], leaving the pipelines whose keys
    /// `later` gives (of what `build` made) uncompiled, with the bind
    /// groups that wait for them, until [`PipelineCache::compile_late`]:
    /// the page's prefill kernels, so that the model is ready before the
    /// browser has compiled them (a clinician types a case meanwhile).
    pub fn together_later<T>(
        &self,
        device: &wgpu::Device,
        threads: usize,
        build: impl FnOnce() -> T,
        meanwhile: impl FnOnce(&T),
        later: impl FnOnce(&T) -> Vec<PipelineKey>,
    ) -> T {
        let outer = self.deferred.borrow().is_some();
        if outer {
            let built = build();
            meanwhile(&built);
            return built;
        }
        // What an earlier build left is compiled first: this build may ask
        // for one of those pipelines and not leave it for later.
        self.compile_late(device, threads);
        *self.deferred.borrow_mut() = Some(Deferred::default());
        // Should `build` panic (and the panic be caught), the pipelines
        // asked for afterwards are compiled at once again.
        let reset = Reset(self);
        let built = build();
        std::mem::forget(reset);
        let Deferred {
            pipelines: waiting,
            then,
        } = self.deferred.borrow_mut().take().unwrap_or_default();
        let later = later(&built);
        let (left, waiting): (Vec<_>, Vec<_>) =
            waiting.into_iter().partition(|p| later.contains(&p.key));
        let work = self.work(&waiting);
        #[cfg(not(target_arch = "wasm32"))]
        let done = std::thread::scope(|s| {
            let compiling = s.spawn(|| work.run(device, threads));
            meanwhile(&built);
            compiling
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        });
        #[cfg(target_arch = "wasm32")]
        let done = {
            let done = work.run(device, threads);
            meanwhile(&built);
            done
        };
        self.finish(&waiting, done);
        self.late.borrow_mut().pipelines.extend(left);
        for (key, t) in then {
            if self.is_late(&key) {
                self.late.borrow_mut().then.push((key, t));
            } else {
                t();
            }
        }
        built
    }

    /// What compiling `pipelines` takes: their shader modules (those made
    /// already, and those still to make) and their keys.
    fn work(&self, pipelines: &[Rc<Pipeline>]) -> Work {
        let mut work = Work::default();
        for p in pipelines {
            let k = (p.key.kernel, p.key.variant);
            let at = match work.modules.iter().position(|(m, _, _)| *m == k) {
                Some(at) => at,
                None => {
                    let made = self.modules.borrow().get(&k).cloned();
                    work.modules
                        .push((k, made, p.key.kernel.source(p.key.variant)));
                    work.modules.len() - 1
                }
            };
            work.pipelines.push((at, p.key.clone()));
        }
        work
    }

    /// Keeps the modules and pipelines `work` made for `pipelines`.
    fn finish(&self, pipelines: &[Rc<Pipeline>], (modules, compiled): Done) {
        self.modules.borrow_mut().extend(modules);
        for (p, c) in pipelines.iter().zip(compiled) {
            let _ = p.compiled.set(c);
        }
    }
}

/// Ends a model's build when dropped (only on a panic out of it), and
/// forgets the pipelines it left uncompiled.
struct Reset<'a>(&'a PipelineCache);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        if let Some(d) = self.0.deferred.borrow_mut().take() {
            let mut pipelines = self.0.pipelines.borrow_mut();
            for p in d.pipelines {
                pipelines.remove(&p.key);
            }
        }
    }
}

/// Pipelines to compile, with nothing of the cache's (its `RefCell`s stay on
/// their thread): each distinct (kernel, variant) with its module if it is
/// made already and its WGSL (whose length is roughly what compiling it
/// costs), and each pipeline's key with its module's index.
#[derive(Default)]
struct Work {
    modules: Vec<((Kernel, Variant), Option<wgpu::ShaderModule>, String)>,
    pipelines: Vec<(usize, PipelineKey)>,
}

/// The modules made and the pipelines compiled, in the order asked.
type Done = (
    Vec<((Kernel, Variant), wgpu::ShaderModule)>,
    Vec<wgpu::ComputePipeline>,
);

impl Work {
    /// Makes the modules (naga's parse, validation and translation), then
    /// compiles the pipelines, each natively on up to `threads` threads.
    fn run(&self, device: &wgpu::Device, threads: usize) -> Done {
        let modules = in_parallel(&self.modules, threads, |((kernel, _), made, wgsl)| {
            made.clone().unwrap_or_else(|| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.entry_point()),
                    source: wgpu::ShaderSource::Wgsl(wgsl.as_str().into()),
                })
            })
        });
        // The largest shaders first, so that no long compile is left to one
        // thread at the end (lavapipe: the products 100–165 ms each, most
        // others under 20).
        let mut order: Vec<usize> = (0..self.pipelines.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.modules[self.pipelines[i].0].2.len()));
        let made = in_parallel(&order, threads, |&i| {
            let (at, key) = &self.pipelines[i];
            compile(device, &modules[*at], key)
        });
        let mut compiled: Vec<Option<wgpu::ComputePipeline>> =
            self.pipelines.iter().map(|_| None).collect();
        for (i, c) in order.into_iter().zip(made) {
            compiled[i] = Some(c);
        }
        let compiled = compiled
            .into_iter()
            .map(|c| c.expect("every pipeline compiled"))
            .collect();
        let modules = self
            .modules
            .iter()
            .map(|(k, _, _)| *k)
            .zip(modules)
            .collect();
        (modules, compiled)
    }
}

fn compile(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    key: &PipelineKey,
) -> wgpu::ComputePipeline {
    let constants: Vec<(&str, f64)> = key.constants.iter().map(|&(n, v)| (n, v as f64)).collect();
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(key.kernel.entry_point()),
        layout: None,
        module,
        entry_point: Some(key.kernel.entry_point()),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &constants,
            zero_initialize_workgroup_memory: true,
        },
        cache: None,
    })
}

/// `f` of each job, in order: natively on up to `threads` scoped threads
/// taking the jobs in turn, in the browser (no threads) one after another.
#[cfg(not(target_arch = "wasm32"))]
fn in_parallel<J: Sync, R: Send>(jobs: &[J], threads: usize, f: impl Fn(&J) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let threads = threads.clamp(1, jobs.len().max(1));
    if threads == 1 {
        return jobs.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<R>>> = Mutex::new(jobs.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let r = f(job);
                done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    done.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

#[cfg(target_arch = "wasm32")]
fn in_parallel<J, R>(jobs: &[J], _threads: usize, f: impl Fn(&J) -> R) -> Vec<R> {
    jobs.iter().map(f).collect()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::in_parallel;

    #[test]
    fn in_parallel_keeps_the_order_and_runs_every_job() {
        let jobs: Vec<u64> = (0..37).collect();
        for threads in [1, 2, 5, 64] {
            let out = in_parallel(&jobs, threads, |&j| j * j + 1);
            assert_eq!(
                out,
                jobs.iter().map(|j| j * j + 1).collect::<Vec<_>>(),
                "{threads} threads"
            );
        }
        assert!(in_parallel(&[] as &[u8], 4, |&b| b).is_empty());
    }
}
