//! A model's weight buffers: allocated from its tensor list before any byte
//! arrives, then filled tensor by tensor, in whatever order the bytes come
//! (a GGUF in memory, shard files, or shards streaming from the network).
//!
//! Splitting allocation from upload is what lets the browser write each
//! shard into GPU memory as soon as it is verified and then drop it: the
//! model never has to be whole in wasm memory.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use crate::format::gguf::{Gguf, TensorInfo};
use crate::format::manifest::TensorEntry;
use crate::gpu::{Gpu, UNIFORM_VIEW};
use crate::ops::{Weight, WeightData};
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
}

/// The weight buffers of one model, and which still wait for their bytes.
pub struct WeightStore {
    gpu: Gpu,
    /// Every tensor the model has, by name (parts in order).
    entries: HashMap<String, Vec<TensorEntry>>,
    /// Buffers (and textures) the forward pass asked for, by (name, part index).
    buffers: HashMap<(String, u32), WeightData>,
    /// Buffers not yet written.
    pending: RefCell<BTreeSet<(String, u32)>>,
}

impl WeightStore {
    pub fn new(gpu: &Gpu, entries: &[TensorEntry]) -> WeightStore {
        let mut by_name: HashMap<String, Vec<TensorEntry>> = HashMap::new();
        for e in entries {
            by_name.entry(e.name.clone()).or_default().push(e.clone());
        }
        WeightStore {
            gpu: gpu.clone(),
            entries: by_name,
            buffers: HashMap::new(),
            pending: RefCell::new(BTreeSet::new()),
        }
    }

    /// Whether the model has a tensor called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    fn parts(&self, name: &str) -> Result<&[TensorEntry]> {
        self.entries
            .get(name)
            .map(|p| p.as_slice())
            .ok_or_else(|| Error::MissingTensor(name.to_string()))
    }

    /// The buffer of part `index` of `name`, its bytes to come.
    fn allocate_part(&mut self, name: &str, index: usize) -> Result<(TensorEntry, wgpu::Buffer)> {
        let (e, data) = self.allocate_part_in(name, index, false)?;
        match data {
            WeightData::Buffer(b) => Ok((e, b)),
            WeightData::Texture { .. } => unreachable!("a texture was not asked for"),
        }
    }

    /// Part `index` of matrix `name`, its bytes to come: in a texture where
    /// the adapter keeps weights there ([`WeightData::allocate`]).
    fn allocate_matrix_part(
        &mut self,
        name: &str,
        index: usize,
    ) -> Result<(TensorEntry, WeightData)> {
        self.allocate_part_in(name, index, true)
    }

    fn allocate_part_in(
        &mut self,
        name: &str,
        index: usize,
        matrix: bool,
    ) -> Result<(TensorEntry, WeightData)> {
        let e = self.parts(name)?[index].clone();
        let limit = self.gpu.limits.max_storage_buffer_binding_size;
        if e.bytes > limit {
            return Err(Error::TooLarge {
                tensor: name.into(),
                bytes: e.bytes,
                limit,
            });
        }
        let key = (name.to_string(), e.part.map_or(0, |p| p.index));
        let data = match matrix {
            true => WeightData::allocate(&self.gpu, name, e.bytes),
            // Norm weights are read as uniforms too where decode fuses
            // the norms into its products.
            false if self.gpu.fuses_norms() && e.bytes <= UNIFORM_VIEW => {
                WeightData::Buffer(self.gpu.activation(name, e.bytes))
            }
            false => WeightData::Buffer(self.gpu.storage(name, e.bytes)),
        };
        self.buffers.insert(key.clone(), data.clone());
        self.pending.borrow_mut().insert(key);
        Ok((e, data))
    }

    /// The whole tensor `name` in one buffer: it must not be split.
    fn allocate(&mut self, name: &str) -> Result<(TensorEntry, wgpu::Buffer)> {
        self.check_whole(name)?;
        self.allocate_part(name, 0)
    }

    fn check_whole(&self, name: &str) -> Result<()> {
        let parts = self.parts(name)?;
        if parts.len() != 1 {
            return Err(Error::TooLarge {
                tensor: name.into(),
                bytes: parts.iter().map(|p| p.bytes).sum(),
                limit: self.gpu.limits.max_storage_buffer_binding_size,
            });
        }
        Ok(())
    }

    /// A matrix split by rows (or whole: one part), each part with the
    /// index of its first row. The embedding table of a large vocabulary is
    /// larger than one binding may be; its parts are looked up and
    /// multiplied one launch each.
    pub fn matrix_parts(&mut self, name: &str) -> Result<Vec<(Weight, u32)>> {
        let n = self.parts(name)?.len();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let (e, data) = self.allocate_matrix_part(name, i)?;
            let ty = e.ggml_type()?;
            out.push((
                Weight {
                    data,
                    ty,
                    n_in: e.shape[0] as u32,
                    n_out: e.rows() as u32,
                },
                e.part.map_or(0, |p| p.first_row as u32),
            ));
        }
        Ok(out)
    }

    /// A matrix (`shape[0]` = n_in, rows = n_out), its bytes to come.
    pub fn matrix(&mut self, name: &str) -> Result<Weight> {
        self.check_whole(name)?;
        let (e, data) = self.allocate_matrix_part(name, 0)?;
        let ty = e.ggml_type()?;
        Ok(Weight {
            data,
            ty,
            n_in: e.shape[0] as u32,
            n_out: e.rows() as u32,
        })
    }

    /// A vector of f32 (a norm's weights), its bytes to come.
    pub fn vector(&mut self, name: &str) -> Result<wgpu::Buffer> {
        let (e, buffer) = self.allocate(name)?;
        if e.ty != "F32" || e.shape.len() != 1 {
            return Err(Error::BadManifest(format!(
                "{name} should be an F32 vector, not {} {:?}",
                e.ty, e.shape
            )));
        }
        Ok(buffer)
    }

    /// Writes one tensor's bytes (GPU layout) into its buffer. Tensors the
    /// forward pass does not use are accepted and ignored.
    pub fn upload(&self, entry: &TensorEntry, bytes: &[u8]) -> Result<()> {
        let key = (entry.name.clone(), entry.part.map_or(0, |p| p.index));
        let Some(data) = self.buffers.get(&key) else {
            return Ok(());
        };
        if bytes.len() as u64 != data.bytes().min(entry.bytes) || !bytes.len().is_multiple_of(4) {
            return Err(Error::BadManifest(format!(
                "tensor {} arrived with {} bytes, its buffer holds {}",
                entry.name,
                bytes.len(),
                data.bytes()
            )));
        }
        data.write(&self.gpu, bytes);
        self.pending.borrow_mut().remove(&key);
        Ok(())
    }

    /// Succeeds once every buffer the forward pass uses has been written.
    pub fn check_complete(&self) -> Result<()> {
        match self.pending.borrow().iter().next() {
            Some((name, _)) => Err(Error::MissingTensor(name.clone())),
            None => Ok(()),
        }
    }
}
