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
`tests/e2e/bench.mjs` (Locum in headless Chromium). It writes one table with
ratios to BENCHMARKS.md, with the machine, adapter, versions and this
command, and a chart of decode tokens/s against context length to
docs/decode-vs-context.svg.

Metrics: prefill tokens/s over a 512-token prompt, time to first token,
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
# The text `locum bench` cuts its prompts from (crates/cli/src/main.rs).
BENCH_TEXT = "The patient is a 54-year-old woman with two days of fever, cough and pleuritic chest pain. "
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def llama_worker(args):
    """Runs inside the llama-cpp-python environment; prints one JSON object."""
    import resource

    import llama_cpp

    assert llama_cpp.__version__ == LLAMA_CPP_PYTHON, llama_cpp.__version__
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
        "load_ms": load_ms,
        "prompt_tokens": len(ids),
        "prefill_tokens_per_s": len(ids) / prefill_s,
        "time_to_first_token_ms": ttft_ms,
        "decode": decode,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
    }))


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
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_browser():
    out = subprocess.run(["node", os.path.join(ROOT, "tests/e2e/bench.mjs")], check=True,
                         capture_output=True, text=True, cwd=ROOT).stdout
    rows = dict(re.findall(r"^\| (.+?) \| (.+?) \|$", out, re.M))
    return rows


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--locum", default=os.path.join(ROOT, "target/release/locum"))
    ap.add_argument("--llama-python", default=os.path.join(ROOT, ".venv-bench/bin/python"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--contexts", default="0,512,2048")
    ap.add_argument("--browser", action="store_true", help="also run tests/e2e/bench.mjs (needs `cargo xtask dist`)")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--llama-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.contexts = [int(c) for c in args.contexts.split(",")]
    if args.llama_worker:
        return llama_worker(args)

    # The command as run, with no path of this machine in it.
    def shown(a):
        if os.path.isabs(a):
            rel = os.path.relpath(a, ROOT)
            return rel if not rel.startswith("..") else "<venv with llama-cpp-python>/bin/python"
        return a if " " not in a else repr(a)

    command = "python3 scripts/bench.py " + " ".join(shown(a) for a in sys.argv[1:])
    print("Locum (native) ...", file=sys.stderr)
    lo = run_locum(args)
    print("llama.cpp (llama-cpp-python, CPU) ...", file=sys.stderr)
    ll = run_llama(args)
    br = None
    if args.browser:
        print("Locum in headless Chromium ...", file=sys.stderr)
        br = run_browser()

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
        "Written by `scripts/bench.py` (a program, not a test); every number below comes from the run",
        "described here. Re-run it to replace this file.",
        "",
        f"- date: {today}; Locum at commit {git}",
        f"- machine: {machine()}",
        f"- Locum's adapter: {lo['adapter']} ({mesa_version()})",
        f"- llama.cpp: llama-cpp-python {ll['version']} (PyPI), CPU, {args.threads} threads",
        f"- model: `{os.path.basename(args.model)}` ({lo['model']}), the same GGUF for both",
        f"- command: `{command}`",
        "",
        "## Native: Locum on the Vulkan adapter vs llama.cpp on the CPU",
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
        f"| weight bytes read | {lo['weight_bytes_per_token']:.0f} |",
        f"| weight bandwidth achieved (GB/s) | {lo['weight_GB_per_s_achieved']:.2f} |",
        f"| adapter copy bandwidth, read + write (GB/s, same run) | {lo['copy_GB_per_s_read_write']:.2f} |",
        f"| decode roofline fraction (achieved ÷ copy bandwidth) | {lo['roofline_fraction']:.3f} |",
        "",
        "![decode tokens/s against context length](docs/decode-vs-context.svg)",
        "",
    ]
    if br:
        lines += [
            "## In the browser: Locum on WebGPU in headless Chromium",
            "",
            "`node tests/e2e/bench.mjs` (the page's own timings; SwiftShader where there is no GPU):",
            "",
            "| metric | value |",
            "|---|---|",
        ] + [f"| {k} | {v} |" for k, v in br.items() if k != "metric"] + [
            "",
            "wllama (llama.cpp in wasm) on the same page server is not in this run yet.",
            "",
        ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    chart(os.path.join(ROOT, "docs/decode-vs-context.svg"), args.contexts,
          [("Locum", [lo[f"decode_tokens_per_s_at_context_{c}"] for c in args.contexts], "#1f6feb"),
           ("llama.cpp", [ll["decode"][str(c)] for c in args.contexts], "#d1242f")])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
