#!/usr/bin/env python3
"""Locum against llama.cpp on the same GGUF, the same prompt and the same
machine, in one run: a benchmark program, not a test.

    cargo build --release -p locum-cli
    python3 scripts/bench.py --model .models/SmolLM2-135M-Instruct.Q4_1.gguf \
        --llama-python .venv-bench/bin/python [--browser]

(`cargo xtask bench` sets up `.venv-bench` with llama-cpp-python, pinned
below, and runs this.) It runs `locum bench --json` (Locum on the machine's
Vulkan adapter), then llama.cpp through llama-cpp-python on the CPU with
the same number of threads in a separate process, and with `--browser`
`tests/e2e/bench.mjs` (Locum in headless Chromium) and then
`tests/e2e/bench-wllama.mjs` (wllama, llama.cpp in wasm, on the same GGUF from
the same local server in the same Chromium). It writes one table with
ratios to BENCHMARKS.md, with the machine, adapter, versions and this
command, and a chart of decode tokens/s against context length to
docs/decode-vs-context.svg beside it (`--out` moves both). Rewriting an
existing file, it replaces only its own tables: the measurements written by
hand below them (from "The sections below" or the first "## Added by hand"
section on) are kept as they are.

Natively each number is the median of `--runs` runs (3) of each program,
alternated. Metrics: prefill tokens/s over a 512-token prompt, time to first token,
decode tokens/s after contexts of 0, 512 and 2048 tokens, load time, peak
memory; for Locum also dispatches, submissions and bytes read back per
token, and the decode roofline fraction (weight bytes per token × tokens/s
÷ the adapter's copy bandwidth, measured in the same run).
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

LLAMA_CPP_PYTHON = "0.3.36"
# The text `locum bench` cuts its prompts from (crates/cli/src/bench.rs).
BENCH_TEXT = "The patient is a 54-year-old woman with two days of fever, cough and pleuritic chest pain. "
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def llama_worker(args):
    """Runs inside the llama-cpp-python environment; prints one JSON object."""
    import resource

    import llama_cpp

    assert llama_cpp.__version__ == LLAMA_CPP_PYTHON, llama_cpp.__version__
    if args.no_extra_bufts:
        # llama.cpp's extra weight buffers (AMX, repacking) off: its AMX path
        # dies on a machine whose kernel does not grant AMX state (a VM).
        import llama_cpp.llama_cpp as low_level

        default_params = low_level.llama_model_default_params

        def params():
            p = default_params()
            p.use_extra_bufts = False
            return p

        low_level.llama_model_default_params = params
    deepest = max(args.contexts + [args.prompt])
    t = time.perf_counter()
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=deepest + args.decode + 16, n_batch=512,
                          n_ubatch=512, n_threads=args.threads, n_threads_batch=args.threads,
                          verbose=False)
    load_ms = (time.perf_counter() - t) * 1e3

    def ids_for(n):
        ids = llm.tokenize((BENCH_TEXT * (n // 8 + 2)).encode(), add_bos=True, special=True)
        return ids[:n]

    import numpy as np

    def greedy():
        # The logits after the last evaluated token, argmax: no sampler cost.
        logits = llama_cpp.llama_get_logits(llm._ctx.ctx)
        return int(np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).argmax())

    ids = ids_for(args.prompt)
    llm.eval(ids[:8])  # warm-up
    llm.reset()
    t = time.perf_counter()
    llm.eval(ids)
    prefill_s = time.perf_counter() - t
    greedy()
    ttft_ms = (time.perf_counter() - t) * 1e3
    decode = {}
    for c in args.contexts:
        llm.reset()
        llm.eval(ids_for(max(c, 1)))
        t = time.perf_counter()
        for _ in range(args.decode):
            llm.eval([greedy()])
        decode[str(c)] = args.decode / (time.perf_counter() - t)
    print(json.dumps({
        "version": llama_cpp.__version__,
        "extra_bufts": not args.no_extra_bufts,
        "load_ms": load_ms,
        "prompt_tokens": len(ids),
        "prefill_tokens_per_s": len(ids) / prefill_s,
        "time_to_first_token_ms": ttft_ms,
        "decode": decode,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
    }))


def threads_of(lo):
    """Mesa's CPU driver threads (`LP_NUM_THREADS`) Locum ran with, as
    `locum bench` reports them; None where its adapter is not a CPU one."""
    v = lo.get("CPU_driver_worker_threads")
    return int(v) if isinstance(v, float) else None


def run_locum(args):
    out = subprocess.run([args.locum, "bench", "--model", args.model, "--prompt-tokens", str(args.prompt),
                          "--decode-tokens", str(args.decode), "--contexts",
                          ",".join(map(str, args.contexts)), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_llama(args):
    cmd = [args.llama_python, os.path.abspath(__file__), "--llama-worker", "--model", args.model,
           "--prompt", str(args.prompt), "--decode", str(args.decode), "--threads", str(args.threads),
           "--contexts", ",".join(map(str, args.contexts))]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode < 0:
        # Killed by a signal (its AMX kernels in a VM without AMX state):
        # again with llama.cpp's extra weight buffers off.
        print(f"llama.cpp died (signal {-run.returncode}); again with its extra buffer types "
              "(AMX, repacking) off", file=sys.stderr)
        run = subprocess.run(cmd + ["--no-extra-bufts"], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"llama.cpp failed ({run.returncode}): {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def run_llama_vulkan(args, lo):
    """llama.cpp's Vulkan build (`llama-bench`, scripts/build_llama_vulkan.sh)
    on the same GGUF, every layer on the Vulkan adapter Locum uses: prefill
    of the prompt and decode after each context, once each. Its Vulkan
    backend skips CPU adapters unless they are named, so the first adapter
    is (`GGML_VK_VISIBLE_DEVICES=0`: lavapipe here, the GPU on a machine
    with one). On a CPU adapter it gets the driver threads Locum ran with
    (`LP_NUM_THREADS`), so that both run on the same adapter set up alike."""
    env = dict(os.environ, GGML_VK_VISIBLE_DEVICES=os.environ.get("GGML_VK_VISIBLE_DEVICES", "0"))
    if threads_of(lo):
        env["LP_NUM_THREADS"] = str(threads_of(lo))
    cmd = [args.llama_vulkan, "-m", args.model, "-ngl", "99", "-t", str(args.threads),
           "-p", str(args.prompt), "-n", str(args.decode),
           "-d", ",".join(str(c) for c in args.contexts), "-r", "1", "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    rows = json.loads(out.stdout)
    res = {"prefill": {}, "decode": {}, "build": rows[0].get("build_commit", "?"),
           "device": rows[0].get("gpu_info", "?")}
    for r in rows:
        kind = "prefill" if r["n_prompt"] and not r["n_gen"] else "decode"
        res[kind][str(r["n_depth"])] = r["avg_ts"]
    return res


def vulkan_section(lo, lv, args):
    c0 = str(args.contexts[0])
    lines = [
        "## Natively on the same Vulkan adapter: Locum vs llama.cpp's Vulkan build",
        "",
        f"`llama-bench` (llama.cpp {lv['build']}, the llama.cpp that llama-cpp-python vendors, built "
        f"by `scripts/build_llama_vulkan.sh`) with every layer on {lv['device']}, once each; "
        "Locum's numbers are the medians above."
        + (f" Both with Mesa's `LP_NUM_THREADS` at {threads_of(lo)}, the threads Locum sets."
           if threads_of(lo) else ""),
        "",
        "| metric | Locum | llama.cpp, Vulkan | Locum ÷ llama.cpp, Vulkan |",
        "|---|---|---|---|",
    ]

    def row(name, a, b):
        lines.append(f"| {name} | {a:.2f} | " + (f"{b:.2f} | {a / b:.2f}× |" if b else "— | — |"))

    row(f"prefill tokens/s ({args.prompt}-token prompt, context {c0})", lo["prefill_tokens_per_s"],
        lv["prefill"].get(c0))
    for c in args.contexts:
        row(f"decode tokens/s after {c} tokens of context", lo[f"decode_tokens_per_s_at_context_{c}"],
            lv["decode"].get(str(c)))
    return lines + [""]


def median_run(runs):
    """One run's dict whose every number is the median of the runs' (nested
    dicts likewise); anything else from the first run."""
    first = runs[0]
    out = {}
    for k, v in first.items():
        if isinstance(v, dict):
            out[k] = median_run([r[k] for r in runs])
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            vals = sorted(r[k] for r in runs)
            n = len(vals)
            out[k] = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
        else:
            out[k] = v
    return out


def run_browser():
    out = subprocess.run(["node", os.path.join(ROOT, "tests/e2e/bench.mjs")], check=True,
                         capture_output=True, text=True, cwd=ROOT).stdout
    rows = dict(re.findall(r"^\| (.+?) \| (.+?) \|$", out, re.M))
    return rows


def run_wllama(args):
    """tests/e2e/bench-wllama.mjs --json: wllama in the same Chromium, or None if it failed."""
    if not os.path.exists(os.path.join(ROOT, "tests/e2e/node_modules/@wllama/wllama/package.json")):
        # the pinned version, from tests/e2e/package-lock.json
        if subprocess.run(["npm", "ci", "--prefix", os.path.join(ROOT, "tests/e2e")], cwd=ROOT).returncode != 0:
            print("npm ci in tests/e2e failed: wllama left out", file=sys.stderr)
            return None
    cmd = ["node", os.path.join(ROOT, "tests/e2e/bench-wllama.mjs"), "--json", "--model", args.model,
           "--threads", str(args.threads)]
    if args.wllama_webgpu:
        cmd.append("--webgpu")
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        print(f"bench-wllama.mjs failed (exit {p.returncode}):\n{p.stderr.strip()}", file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def first_number(text):
    """The first number in a cell of bench.mjs's table ("47.52 s" -> 47.52), or None."""
    m = re.search(r"[-+]?\d+(?:\.\d+)?", text or "")
    return float(m.group()) if m else None


def browser_section(br, wl):
    """The BENCHMARKS.md lines for the browser: bench.mjs's rows `br` (a dict) and
    bench-wllama.mjs's report `wl` (a dict, or None when it was not run or failed)."""
    lines = [
        "## In the browser: Locum on WebGPU vs wllama (llama.cpp in wasm) in headless Chromium",
        "",
        "`node tests/e2e/bench.mjs` (the page's own timings; SwiftShader where there is no GPU):",
        "",
        "| metric | value |",
        "|---|---|",
    ] + [f"| {k} | {v} |" for k, v in br.items() if k != "metric"] + [""]
    if not wl:
        return lines + ["wllama (`node tests/e2e/bench-wllama.mjs`) did not run or failed in this run.", ""]

    def pick(run, name):
        return next((p for p in run["prompts"] if p["name"] == name), None)

    def where(run):
        if run["backend"] == "WebGPU":
            return f"wllama, WebGPU ({run['gpu_layers_offloaded']} layers)"
        unused = " (WebGPU asked for, not used)" if run.get("webgpu_unused") else ""
        return f"wllama, CPU, {run['threads']} thread{'s' if run['threads'] != 1 else ''}{unused}"

    def fmt(v):
        return "—" if v is None else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")

    def ratio(a, b, higher_better=True):
        if not a or not b:
            return "—"
        return f"{(a / b if higher_better else b / a):.2f}×"

    runs = wl["runs"]
    key = {k.split(" (")[0]: k for k in br}
    lo_load = first_number(br.get(key.get("page open to model ready", ""), ""))
    lo_prefill = first_number(br.get("prefill tokens/s", ""))
    lo_ttft = first_number(br.get("time to first token", ""))
    lo_decode = first_number(br.get(key.get("decode tokens/s", ""), ""))
    lines += [
        f"`node tests/e2e/bench-wllama.mjs`: @wllama/wllama {wl['wllama_version']} (npm; llama.cpp {wl['libllama']}), "
        f"the same GGUF (`{os.path.basename(wl['model'])}`) fetched from the same local server into the same "
        f"Chromium {wl['browser']}, greedy, the same prompt text; prefill and decode from llama.cpp's own timings "
        "of each request, the time to first token on the page's clock. Ratios are Locum ÷ wllama, higher is "
        "better for Locum.",
        "",
        "| metric | Locum | " + " | ".join(where(r) for r in runs) + " | "
        + " | ".join(f"Locum ÷ {where(r)}" for r in runs) + " |",
        "|---|---|" + "---|" * (2 * len(runs)),
    ]

    def row(name, lo, vals, higher_better):
        lines.append(f"| {name} | {fmt(lo)} | " + " | ".join(fmt(v) for v in vals) + " | "
                     + " | ".join(ratio(lo, v, higher_better) for v in vals) + " |")

    short = [pick(r, "short") for r in runs]
    row("load: page open to model ready (s)", lo_load, [r["page_open_to_ready_ms"] / 1e3 for r in runs], False)
    lines.append("| load, wllama: GGUF fetched from 127.0.0.1 + model init (s) | — | "
                 + " | ".join(f"{r['fetch_ms'] / 1e3:.2f} + {r['init_ms'] / 1e3:.2f}" for r in runs) + " |" + " — |" * len(runs))
    lines.append(f"| prompt tokens | {br.get('prompt tokens', '—')} | " + " | ".join(str(p["prompt_tokens"]) for p in short)
                 + " |" + " — |" * len(runs))
    row("prefill tokens/s", lo_prefill, [p["prefill_tokens_per_s"] for p in short], True)
    row("time to first token (s)", lo_ttft, [p["time_to_first_token_ms"] / 1e3 for p in short], False)
    row(f"decode tokens/s ({short[0]['decode_tokens']} tokens)", lo_decode,
        [p["decode_tokens_per_s"] for p in short], True)
    long = [pick(r, "long") for r in runs]
    if all(long):
        # Locum's long prompt (bench.mjs's "long prompt: ..." rows), where it ran.
        lo_long = {k.split(": ", 1)[1].split(" (")[0]: first_number(v)
                   for k, v in br.items() if k.startswith("long prompt: ")}
        n = "/".join(sorted({str(p["prompt_tokens"]) for p in long}
                            | ({str(int(lo_long["tokens"]))} if lo_long.get("tokens") else set())))
        only = "" if lo_long else " (wllama only)"
        row(f"prefill tokens/s, {n}-token prompt{only}", lo_long.get("prefill tokens/s"),
            [p["prefill_tokens_per_s"] for p in long], True)
        row(f"time to first token, {n}-token prompt (s)", lo_long.get("time to first token"),
            [p["time_to_first_token_ms"] / 1e3 for p in long], False)
        row(f"decode tokens/s after the {n}-token prompt", lo_long.get("decode tokens/s"),
            [p["decode_tokens_per_s"] for p in long], True)
    lines += [
        "",
        "wllama's threads: " + "; ".join(
            f"{where(r)}: {r['threads']} ({'multi-thread' if r['multithread'] else 'single thread'}, "
            f"cross-origin isolated: {'yes' if r['cross_origin_isolated'] else 'no'})" for r in runs) + ".",
        "",
    ]
    return lines


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(open("/proc/meminfo").readline().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} × {cpu}{mem}, {platform.system()} {platform.release()}"


def mesa_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "mesa-vulkan-drivers"],
                             capture_output=True, text=True).stdout
        return f"Mesa {out}" if out else "Mesa (version unknown)"
    except OSError:
        return "Mesa (version unknown)"


def chart(path, contexts, series):
    """A small SVG line chart: decode tokens/s against context length."""
    w, h, left, bottom, top, right = 520, 300, 60, 40, 30, 140
    top_v = max(v for _, vals, _ in series for v in vals) * 1.15
    xs = {c: left + i * (w - left - right) / max(1, len(contexts) - 1) for i, c in enumerate(contexts)}

    def y(v):
        return h - bottom - v / top_v * (h - bottom - top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<text x="{left}" y="18" font-size="14">Decode tokens/s against context length</text>',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#333"/>']
    for c, x in xs.items():
        parts.append(f'<text x="{x:.0f}" y="{h - bottom + 16}" text-anchor="middle">{c}</text>')
    parts.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 6}" text-anchor="middle">context (tokens)</text>')
    for i in range(5):
        v = top_v * i / 4
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.0f}" text-anchor="end">{v:.0f}</text>')
    for k, (name, vals, color) in enumerate(series):
        pts = " ".join(f"{xs[c]:.0f},{y(v):.0f}" for c, v in zip(contexts, vals))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        for c, v in zip(contexts, vals):
            parts.append(f'<circle cx="{xs[c]:.0f}" cy="{y(v):.0f}" r="3" fill="{color}"/>')
        parts.append(f'<text x="{w - right + 10}" y="{top + 20 + 18 * k}" fill="{color}">{name}</text>')
    parts.append("</svg>")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


# Where the measurements written by hand begin in a BENCHMARKS.md: this
# line, or failing it the first of their sections.
RECORDS_START = "The sections below, newest first, hold every measurement"
RECORDS_SECTION = "## Added by hand:"


def kept_records(path):
    """What follows this program's tables in the file at `path` (the
    sessions' measurements written by hand, which a run must not erase),
    or "" where the file or those records are not there."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return ""
    for marker in (RECORDS_START, RECORDS_SECTION):
        at = text.find(marker)
        if at >= 0:
            return text[at:]
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--locum", default=os.path.join(ROOT, "target/release/locum"))
    ap.add_argument("--llama-python", default=os.path.join(ROOT, ".venv-bench/bin/python"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--contexts", default="0,512,2048")
    ap.add_argument("--runs", type=int, default=3,
                    help="native runs of each, alternated; every native number is the median")
    ap.add_argument("--browser", action="store_true", help="also run tests/e2e/bench.mjs (needs `cargo xtask dist`)")
    ap.add_argument("--wllama-webgpu", action="store_true",
                    help="with --browser, also measure wllama on Chromium's WebGPU adapter")
    ap.add_argument("--llama-vulkan", help="llama.cpp's Vulkan llama-bench (scripts/build_llama_vulkan.sh): "
                    "also compare on Locum's Vulkan adapter")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--llama-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-extra-bufts", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.contexts = [int(c) for c in args.contexts.split(",")]
    if args.llama_worker:
        return llama_worker(args)

    # The command as run, with no path of this machine in it.
    def shown(a, option):
        if os.path.isabs(a):
            rel = os.path.relpath(a, ROOT)
            if not rel.startswith(".."):
                return rel
            if option == "--llama-python":
                return "<venv with llama-cpp-python>/bin/python"
            return "<a path outside the checkout>"
        return a if " " not in a else repr(a)

    argv = sys.argv[1:]
    command = "python3 scripts/bench.py " + " ".join(
        shown(a, argv[i - 1] if i else "") for i, a in enumerate(argv))
    # Alternated, so that both see the machine's drift; the median of each
    # number, since one run on a shared machine can be a quarter off.
    lo_runs, ll_runs = [], []
    for i in range(args.runs):
        print(f"Locum (native), run {i + 1} of {args.runs} ...", file=sys.stderr)
        lo_runs.append(run_locum(args))
        print(f"llama.cpp (llama-cpp-python, CPU), run {i + 1} of {args.runs} ...", file=sys.stderr)
        ll_runs.append(run_llama(args))
    lo, ll = median_run(lo_runs), median_run(ll_runs)
    lv = None
    if args.llama_vulkan:
        print("llama.cpp's Vulkan build (llama-bench) ...", file=sys.stderr)
        lv = run_llama_vulkan(args, lo)
    br = wl = None
    if args.browser:
        print("Locum in headless Chromium ...", file=sys.stderr)
        br = run_browser()
        print("wllama (llama.cpp in wasm) in headless Chromium ...", file=sys.stderr)
        wl = run_wllama(args)

    def ratio(a, b, higher_better=True):
        if not a or not b:
            return "—"
        return f"{(a / b if higher_better else b / a):.2f}×"

    rows = [("load time (ms)", lo["load_ms"], ll["load_ms"], False),
            (f"prefill tokens/s ({lo['prompt_tokens']:.0f}-token prompt)", lo["prefill_tokens_per_s"],
             ll["prefill_tokens_per_s"], True),
            ("time to first token (ms)", lo["time_to_first_token_ms"], ll["time_to_first_token_ms"], False)]
    for c in args.contexts:
        rows.append((f"decode tokens/s after {c} tokens of context", lo[f"decode_tokens_per_s_at_context_{c}"],
                     ll["decode"][str(c)], True))
    rows.append(("peak memory (MB, process RSS)", lo["peak_memory_MB"], ll["peak_memory_mb"], False))

    def fmt(v):
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"

    first = args.contexts[0]
    prefill_over_decode_lo = lo["prefill_tokens_per_s"] / lo[f"decode_tokens_per_s_at_context_{first}"]
    prefill_over_decode_ll = ll["prefill_tokens_per_s"] / ll["decode"][str(first)]
    today = datetime.date.today().isoformat()
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=ROOT).stdout.strip()
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench.py` (a program, not a test); every number in its tables comes from",
        "the run described here. Re-run it to replace them; the measurements written by hand after",
        "them stay.",
        "",
        f"- date: {today}; Locum at commit {git}",
        f"- machine: {machine()}",
        f"- Locum's adapter: {lo['adapter']} ({mesa_version()}); KV cache in {lo.get('KV_cache', 'f32')}"
        + (f"; weights in {lo['weights_in']}; decode products with {lo['decode_products']}" if 'weights_in' in lo else "")
        + (f"; Mesa's worker threads (`LP_NUM_THREADS`, which Locum sets to three a core) {threads_of(lo)}"
           if threads_of(lo) else ""),
        f"- llama.cpp: llama-cpp-python {ll['version']} (PyPI), CPU, {args.threads} threads"
        + ("" if ll.get("extra_bufts", True) else
           " (its extra weight buffers off, `use_extra_bufts = false`: with them its AMX kernels "
           "died by a signal on this machine)"),
    ] + ([
        f"- wllama: @wllama/wllama {wl['wllama_version']} (npm, pinned in tests/e2e/package.json; "
        f"llama.cpp {wl['libllama']}), in headless Chromium {wl['browser']}",
    ] if wl else []) + [
        f"- model: `{os.path.basename(args.model)}` ({lo['model']}), the same GGUF for {'all three' if wl else 'both'}",
        f"- command: `{command}`",
        "",
        "## Native: Locum on the Vulkan adapter vs llama.cpp on the CPU",
        "",
        f"Each number is the median of {args.runs} runs of each, alternated (prefill tokens/s, run by "
        f"run: Locum {', '.join(fmt(r['prefill_tokens_per_s']) for r in lo_runs)}; llama.cpp "
        f"{', '.join(fmt(r['prefill_tokens_per_s']) for r in ll_runs)}).",
        "",
        "| metric | Locum | llama.cpp | Locum ÷ llama.cpp (higher is better for Locum) |",
        "|---|---|---|---|",
    ]
    for name, a, b, hb in rows:
        lines.append(f"| {name} | {fmt(a)} | {fmt(b)} | {ratio(a, b, hb)} |")
    lines += [
        f"| prefill per token ÷ decode per token | {prefill_over_decode_lo:.1f}× | {prefill_over_decode_ll:.1f}× | — |",
        "",
        "Locum alone, per decoded token:",
        "",
        "| metric | value |",
        "|---|---|",
        f"| GPU dispatches | {lo['dispatches_per_token']:.0f} |",
        f"| command submissions | {lo['submits_per_token']:.0f} |",
        f"| bytes read back | {lo['readback_bytes_per_token']:.0f} |",
        f"| host time to record the step (ms; wall time, the GPU running the step before) | {lo['host_ms_to_record_a_step']:.3f} |",
        f"| weight bytes read | {lo['weight_bytes_per_token']:.0f} |",
        f"| weight bandwidth achieved (GB/s) | {lo['weight_GB_per_s_achieved']:.2f} |",
        f"| adapter copy bandwidth, read + write (GB/s, same run) | {lo['copy_GB_per_s_read_write']:.2f} |",
        f"| decode roofline fraction (achieved ÷ copy bandwidth) | {lo['roofline_fraction']:.3f} |",
        f"| an empty launch, as many as a step's in one pass (µs) | {lo['empty_launch_microseconds']:.1f} |",
        f"| share of a decode step at context {args.contexts[0]} those launches would take at an empty launch's cost (not what removing launches saves: on lavapipe 29 fewer a token left decode as fast, BENCHMARKS.md's twenty-sixth session) | {lo['launch_share_of_a_decode_step']:.3f} |",
        "",
        "![decode tokens/s against context length](docs/decode-vs-context.svg)",
        "",
    ]
    if lv:
        lines += vulkan_section(lo, lv, args)
    if br:
        lines += browser_section(br, wl)
    # --out in a folder of its own (bench-gemma/BENCHMARKS.md) makes it.
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    kept = kept_records(args.out)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
        if kept:
            f.write("\n" + kept)
    # Beside the table it goes with (the table links it by this relative
    # path): a run with --out elsewhere leaves the committed chart alone.
    svg = os.path.join(os.path.dirname(os.path.abspath(args.out)), "docs", "decode-vs-context.svg")
    os.makedirs(os.path.dirname(svg), exist_ok=True)
    chart(svg, args.contexts,
          [("Locum", [lo[f"decode_tokens_per_s_at_context_{c}"] for c in args.contexts], "#1f6feb"),
           ("llama.cpp", [ll["decode"][str(c)] for c in args.contexts], "#d1242f")])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
