//! Fuzzes the GGUF reader with arbitrary bytes: it must return a parsed file
//! or a named error, never panic, hang or allocate without bound; and what it
//! accepts must be self-consistent (every tensor's bytes inside the file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use locum_engine::format::gguf::Gguf;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Gguf::parse(data) {
        for t in &g.tensors {
            let r = g.tensor_range(t);
            assert!(r.end <= data.len(), "tensor {} ends at {} past {}", t.name, r.end, data.len());
            assert!(t.shape[0] % t.ty.block_len() as u64 == 0);
        }
        // Typed getters must not panic on whatever the metadata holds.
        for key in g.metadata.keys() {
            let _ = g.get_u64(key);
            let _ = g.get_f64(key);
            let _ = g.get_str(key);
            let _ = g.get_str_array(key);
        }
    }
});
