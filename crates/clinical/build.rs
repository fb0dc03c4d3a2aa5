//! Embeds the ICD-10-CM index (`src/icd10.rs`) when `cargo xtask setup` has
//! generated it, and an empty one otherwise, so the crate always builds.
//!
//! The index is read from `icd10/icd10cm-2026.tsv`, or from the file named
//! by `LOCUM_ICD10_INDEX`, and copied to `$OUT_DIR/icd10cm.tsv`.

use std::path::PathBuf;

/// The first line of every version 1 index starts with this.
const HEADER: &str = "#locum-icd10cm 1\t";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=LOCUM_ICD10_INDEX");
    let path = match std::env::var_os("LOCUM_ICD10_INDEX") {
        Some(p) => {
            let path = PathBuf::from(p);
            println!("cargo::rerun-if-changed={}", path.display());
            path
        }
        None => {
            // Watch the folder, which is always there (its README is
            // committed): watching a missing file would rerun this script,
            // and rebuild the crate, on every build.
            let dir = manifest.join("icd10");
            println!("cargo::rerun-if-changed={}", dir.display());
            dir.join("icd10cm-2026.tsv")
        }
    };

    let text = match std::fs::read_to_string(&path) {
        Ok(t) if t.starts_with(HEADER) => t,
        Ok(_) => {
            println!(
                "cargo::warning={} is not a Locum ICD-10-CM index (version 1): diagnoses will be shown as uncoded. Run `cargo xtask setup` to regenerate it.",
                path.display()
            );
            String::new()
        }
        Err(_) => {
            println!(
                "cargo::warning=No ICD-10-CM index at {}: diagnoses will be shown as uncoded. Run `cargo xtask setup` to generate it.",
                path.display()
            );
            String::new()
        }
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("icd10cm.tsv");
    if let Err(e) = std::fs::write(&out, text) {
        panic!("cannot write {}: {e}", out.display());
    }
}
