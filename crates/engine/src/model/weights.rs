//! Moving a model's tensors from a GGUF file onto the GPU, repacked into the
//! layout the kernels read (`format::quant`).

use crate::format::gguf::{Gguf, TensorInfo};
use crate::format::quant::repack_for_gpu;
use crate::gpu::Gpu;
use crate::ops::Weight;
use crate::{Error, Result};

/// A GGUF file held in memory: its parsed header and its bytes.
pub struct GgufModel<'a> {
    pub gguf: Gguf,
    pub bytes: &'a [u8],
}

impl<'a> GgufModel<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Ok(GgufModel {
            gguf: Gguf::parse(bytes)?,
            bytes,
        })
    }

    pub fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.gguf
            .tensor(name)
            .ok_or_else(|| Error::MissingTensor(name.to_string()))
    }

    /// The tensor's bytes as stored in the file.
    pub fn raw(&self, name: &str) -> Result<(&TensorInfo, &'a [u8])> {
        let info = self.info(name)?;
        Ok((info, &self.bytes[self.gguf.tensor_range(info)]))
    }

    /// Uploads a matrix (`ne[0]` = n_in, rows = n_out) in the GPU layout.
    pub fn weight(&self, gpu: &Gpu, name: &str) -> Result<Weight> {
        let (info, raw) = self.raw(name)?;
        let words = repack_for_gpu(info.ty, raw).ok_or_else(|| Error::UnsupportedType {
            tensor: name.into(),
            ty: info.ty.name(),
        })?;
        let bytes: &[u8] = bytemuck::cast_slice(&words);
        let limit = gpu.limits.max_storage_buffer_binding_size;
        if bytes.len() as u64 > limit {
            return Err(Error::TooLarge {
                tensor: name.into(),
                bytes: bytes.len() as u64,
                limit,
            });
        }
        Ok(Weight {
            buffer: gpu.storage_init(name, bytes),
            ty: info.ty,
            n_in: info.shape[0] as u32,
            n_out: info.n_rows() as u32,
        })
    }

    /// Uploads a vector (a norm's weights) as f32.
    pub fn vector(&self, gpu: &Gpu, name: &str) -> Result<wgpu::Buffer> {
        let (info, raw) = self.raw(name)?;
        let values = crate::format::quant::dequantize(info.ty, raw).ok_or_else(|| {
            Error::UnsupportedType {
                tensor: name.into(),
                ty: info.ty.name(),
            }
        })?;
        Ok(gpu.storage_init(name, bytemuck::cast_slice(&values)))
    }

    /// Whether every tensor is of a type the kernels read; names the first that is not.
    pub fn check_types(&self) -> Result<()> {
        for t in &self.gguf.tensors {
            if !t.ty.gpu_supported() {
                return Err(Error::UnsupportedType {
                    tensor: t.name.clone(),
                    ty: t.ty.name(),
                });
            }
        }
        Ok(())
    }
}
