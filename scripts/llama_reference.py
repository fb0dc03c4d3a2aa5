#!/usr/bin/env python3
"""Reference numbers from llama.cpp (PyPI llama-cpp-python, pinned below) for a GGUF:
token ids of a text (special tokens parsed, BOS per the GGUF) and the
perplexity of a text evaluated in one context, every token but the first
scored given all before it (the same definition `locum perplexity` uses).

    python3 -m venv .venv-ref && .venv-ref/bin/pip install llama-cpp-python==0.3.36
    .venv-ref/bin/python scripts/llama_reference.py MODEL.gguf TOKENIZE.txt PPL.txt > OUT.json

Options add keys to the output (without them it is what it always was):

    --perplexity-ids      "perplexity_ids": the ids of PPL.txt that were scored
    --tokenize-spm FILE   "tokenize_spm_ids": the ids of a second text, tokenized
                          as TOKENIZE.txt is (cases a SentencePiece vocabulary
                          finds hard: runs of spaces, tabs, byte fallback)
    --greedy PROMPT.txt   "greedy_prompt_ids" and "greedy_ids": the prompt's ids
                          and up to 32 tokens chosen greedily after it (the
                          argmax of the logits, i.e. temperature 0 / top-k 1),
                          stopping early after an end-of-generation token;
                          "greedy_text" is those tokens as llama.cpp decodes them

The Gemma 3 reference was made with

    .venv-ref/bin/python scripts/llama_reference.py .models/gemma-3-270m-q4_k_m.gguf \\
        crates/engine/tests/data/tokenize.txt crates/engine/tests/data/english.txt --perplexity-ids \\
        --tokenize-spm crates/engine/tests/data/tokenize-spm.txt \\
        --greedy crates/engine/tests/data/gemma3-prompt.txt \\
        > crates/engine/tests/data/llamacpp-gemma3-270m-q4_k_m.json
"""
import argparse
import json
import math
import sys

import llama_cpp
import numpy as np

PINNED = "0.3.36"
GREEDY_TOKENS = 32
THREADS = 2


def read(path):
    return open(path, encoding="utf-8").read()


def greedy(model, prompt_ids):
    """Up to GREEDY_TOKENS argmax tokens after `prompt_ids`, the last one an
    end-of-generation token if the model ended its turn."""
    llm = llama_cpp.Llama(model_path=model, n_ctx=len(prompt_ids) + GREEDY_TOKENS + 8, n_batch=512,
                          n_ubatch=512, logits_all=True, n_threads=THREADS, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    llm.eval(prompt_ids)
    out = []
    while len(out) < GREEDY_TOKENS:
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
        if llama_cpp.llama_vocab_is_eog(vocab, tok):
            break
        llm.eval([tok])
    text = llm.detokenize(out, special=True).decode("utf-8", errors="replace")
    return out, text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("tokenize_file")
    ap.add_argument("ppl_file")
    ap.add_argument("--perplexity-ids", action="store_true")
    ap.add_argument("--tokenize-spm", metavar="FILE")
    ap.add_argument("--greedy", metavar="PROMPT")
    args = ap.parse_args()
    model = args.model
    assert llama_cpp.__version__ == PINNED, f"llama-cpp-python {llama_cpp.__version__}, expected {PINNED}"
    tok_text = read(args.tokenize_file)
    ppl_text = read(args.ppl_file)
    vocab_only = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
    add_bos = vocab_only._model.add_bos_token() if hasattr(vocab_only._model, "add_bos_token") else None

    def tokenize(text):
        return vocab_only.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    ids = tokenize(tok_text)
    ppl_ids = tokenize(ppl_text)
    spm_ids = tokenize(read(args.tokenize_spm)) if args.tokenize_spm else None
    prompt_ids = tokenize(read(args.greedy)) if args.greedy else None
    del vocab_only

    n = len(ppl_ids)
    llm = llama_cpp.Llama(model_path=model, n_ctx=n + 8, n_batch=512, n_ubatch=512, logits_all=True,
                          n_threads=THREADS, verbose=False)
    llm.eval(ppl_ids)
    scores = np.array(llm.scores[:n], dtype=np.float64)
    del llm
    nll = []
    for t in range(n - 1):
        row = scores[t]
        m = row.max()
        lse = m + math.log(np.exp(row - m).sum())
        nll.append(lse - row[ppl_ids[t + 1]])
    ppl = math.exp(sum(nll) / len(nll))
    out = {
        "llama_cpp_python": llama_cpp.__version__,
        "add_bos": add_bos,
        "tokenize_ids": ids,
        "perplexity": ppl,
        "perplexity_tokens": len(nll),
    }
    if args.perplexity_ids:
        out["perplexity_ids"] = ppl_ids
    if spm_ids is not None:
        out["tokenize_spm_ids"] = spm_ids
    if prompt_ids is not None:
        greedy_ids, text = greedy(model, prompt_ids)
        out["greedy_prompt_ids"] = prompt_ids
        out["greedy_ids"] = greedy_ids
        out["greedy_text"] = text
        print(f"greedy text: {text!r}", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
