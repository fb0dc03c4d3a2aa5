#!/usr/bin/env python3
"""Reference numbers from llama.cpp (PyPI llama-cpp-python, pinned below) for a GGUF:
token ids of a text (special tokens parsed, BOS per the GGUF) and the
perplexity of a text evaluated in one context, every token but the first
scored given all before it (the same definition `locum perplexity` uses).

    python3 -m venv .venv-ref && .venv-ref/bin/pip install llama-cpp-python==0.3.36
    .venv-ref/bin/python scripts/llama_reference.py MODEL.gguf TOKENIZE.txt PPL.txt > OUT.json
"""
import json
import math
import sys

import llama_cpp
import numpy as np

PINNED = "0.3.36"


def main():
    model, tok_file, ppl_file = sys.argv[1:4]
    assert llama_cpp.__version__ == PINNED, f"llama-cpp-python {llama_cpp.__version__}, expected {PINNED}"
    tok_text = open(tok_file, encoding="utf-8").read()
    ppl_text = open(ppl_file, encoding="utf-8").read()
    vocab_only = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
    add_bos = vocab_only._model.add_bos_token() if hasattr(vocab_only._model, "add_bos_token") else None
    ids = vocab_only.tokenize(tok_text.encode("utf-8"), add_bos=True, special=True)
    ppl_ids = vocab_only.tokenize(ppl_text.encode("utf-8"), add_bos=True, special=True)
    del vocab_only

    n = len(ppl_ids)
    llm = llama_cpp.Llama(model_path=model, n_ctx=n + 8, n_batch=512, n_ubatch=512, logits_all=True,
                          n_threads=2, verbose=False)
    llm.eval(ppl_ids)
    scores = np.array(llm.scores[:n], dtype=np.float64)
    nll = []
    for t in range(n - 1):
        row = scores[t]
        m = row.max()
        lse = m + math.log(np.exp(row - m).sum())
        nll.append(lse - row[ppl_ids[t + 1]])
    ppl = math.exp(sum(nll) / len(nll))
    json.dump({
        "llama_cpp_python": llama_cpp.__version__,
        "add_bos": add_bos,
        "tokenize_ids": ids,
        "perplexity": ppl,
        "perplexity_tokens": len(nll),
    }, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
