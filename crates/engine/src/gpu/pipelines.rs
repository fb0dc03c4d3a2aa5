//! Compute pipelines compiled once and cached by key (kernel, entry point,
//! override constants), as web-rwkv's `checkout_pipeline` does.

use std::cell::RefCell;
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

#[derive(Default)]
pub struct PipelineCache {
    modules: RefCell<HashMap<(Kernel, Variant), Rc<wgpu::ShaderModule>>>,
    pipelines: RefCell<HashMap<PipelineKey, Rc<wgpu::ComputePipeline>>>,
}

impl PipelineCache {
    pub fn get(&self, device: &wgpu::Device, key: &PipelineKey) -> Rc<wgpu::ComputePipeline> {
        if let Some(p) = self.pipelines.borrow().get(key) {
            return p.clone();
        }
        let module = self
            .modules
            .borrow_mut()
            .entry((key.kernel, key.variant))
            .or_insert_with(|| {
                Rc::new(device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(key.kernel.entry_point()),
                    source: wgpu::ShaderSource::Wgsl(key.kernel.source(key.variant).into()),
                }))
            })
            .clone();
        let constants: Vec<(&str, f64)> =
            key.constants.iter().map(|&(n, v)| (n, v as f64)).collect();
        let pipeline = Rc::new(
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(key.kernel.entry_point()),
                layout: None,
                module: &module,
                entry_point: Some(key.kernel.entry_point()),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: true,
                },
                cache: None,
            }),
        );
        self.pipelines
            .borrow_mut()
            .insert(key.clone(), pipeline.clone());
        pipeline
    }
}
