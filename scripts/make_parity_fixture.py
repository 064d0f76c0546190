#!/usr/bin/env python3
"""Reference embeddings for the encoder parity test, from an independent implementation.

A plain numpy forward pass of BERT (float64), written from the architecture, not from candle:
embeddings + six post-LayerNorm transformer layers with exact-erf GELU, then mask-weighted mean
pooling and L2 normalisation, as all-MiniLM-L6-v2's sentence-transformers config prescribes.
Tokenization uses the Hugging Face `tokenizers` package on the model's own tokenizer.json with
its fixed 128 padding/truncation switched off; texts over the budget keep the head and the tail
of the token sequence, like the Rust encoder's default.

Usage (needs: pip install numpy tokenizers safetensors):
    python3 scripts/make_parity_fixture.py [--model-dir .switchyard/encoder/all-MiniLM-L6-v2]
Writes classifier/tests/fixtures/parity.json.
"""
import argparse
import json
import math
import pathlib

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MAX_TOKENS = 256

TEXTS = [
    ("empty", ""),
    ("whitespace", "   \n\t  "),
    ("one_word", "hello"),
    ("question", "What is the capital of France?"),
    ("math", "If a train travels 60 miles in 1.5 hours, what is its average speed in miles per hour?"),
    ("instruction", "Summarise the following paragraph in two sentences, keeping every number exact."),
    ("casual", "hey can u help me w/ my resume?? need it by tmrw lol"),
    ("python", "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"),
    ("rust", "fn main() {\n    let v: Vec<u32> = (1..=10).filter(|x| x % 2 == 0).collect();\n    println!(\"{v:?}\");\n}"),
    ("sql", "SELECT customer_id, SUM(amount) FROM orders WHERE created_at > NOW() - INTERVAL '30 days' GROUP BY 1 ORDER BY 2 DESC LIMIT 10;"),
    ("json", '{"model": "auto", "messages": [{"role": "user", "content": "Say hi"}], "stream": true}'),
    ("chinese", "请用三句话解释量子计算的基本原理。"),
    ("chinese_mixed", "这个 Rust 函数为什么会 panic？thread 'main' panicked at 'index out of bounds'"),
    ("japanese", "東京で一番おいしいラーメン屋はどこですか？"),
    ("arabic", "ما هي عاصمة المملكة العربية السعودية؟"),
    ("russian", "Напишите короткое стихотворение о зимнем лесе."),
    ("emoji", "🚀🔥 ship it!!! 🎉🎉"),
    ("emoji_only", "😀😃😄😁😆"),
    ("accents", "Crème brûlée, jalapeño, naïve café, Ångström"),
    ("legal", "The party of the first part shall indemnify and hold harmless the party of the second part against all claims arising hereunder."),
    ("medical", "What are the common side effects of metformin in patients with type 2 diabetes?"),
    ("translation", "Translate to German: The weather is lovely today, let's go for a walk."),
    ("multiple_choice", "Which gas do plants absorb? A) Oxygen B) Carbon dioxide C) Nitrogen D) Helium. Answer:"),
    ("creative", "Write a haiku about a lighthouse keeper who has never seen the sea."),
    ("reasoning", "Alice is older than Bob. Bob is older than Carol. Is Carol older than Alice? Explain step by step."),
    ("urls", "Compare https://example.com/a?b=c&d=e with http://localhost:8080/v1/chat/completions"),
    ("numbers", "3.14159 2.71828 1.41421 1.61803 6.02214076e23 -273.15"),
    ("punctuation", "!!! ??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((( )))"),
    ("repeated_word", "routing " * 60),
    ("long_paragraph", " ".join(
        f"Sentence number {i} describes a different aspect of distributed systems, such as consensus, replication, partitioning and failure detection."
        for i in range(40))),
    ("long_code", "\n".join(f"    let value_{i} = compute_{i % 7}(input[{i}], &config)?;" for i in range(120))),
    ("long_chinese", "路由器根据提示的内容选择最合适的模型，以降低成本并保持质量。" * 30),
]

# Built by rule on both sides instead of stored: 200,000 characters.
HUGE_UNIT = "The quick brown fox jumps over the lazy dog while the router decides. "
HUGE_CHARS = 200_000


def huge_text():
    reps = HUGE_CHARS // len(HUGE_UNIT) + 1
    return (HUGE_UNIT * reps)[:HUGE_CHARS]


def erf(x):
    # Vectorised float64 erf via the Numerical Recipes erfc Chebyshev fit (|error| < 1.2e-7),
    # far below what the parity tolerance can see; numpy itself has no erf.
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    r = t * np.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277)))))))))
    return np.where(x >= 0, 1.0 - r, r - 1.0)


def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def linear(x, w, b):
    return x @ w.T + b


def forward(W, ids):
    n = len(ids)
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:n] \
        + W["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])
    heads, dh = 12, 32
    for layer in range(6):
        p = f"encoder.layer.{layer}."
        q = linear(x, W[p + "attention.self.query.weight"], W[p + "attention.self.query.bias"])
        k = linear(x, W[p + "attention.self.key.weight"], W[p + "attention.self.key.bias"])
        v = linear(x, W[p + "attention.self.value.weight"], W[p + "attention.self.value.bias"])
        q, k, v = (t.reshape(n, heads, dh).transpose(1, 0, 2) for t in (q, k, v))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
        scores -= scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(1, 0, 2).reshape(n, heads * dh)
        attn = linear(ctx, W[p + "attention.output.dense.weight"], W[p + "attention.output.dense.bias"])
        x = layer_norm(attn + x, W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"])
        h = linear(x, W[p + "intermediate.dense.weight"], W[p + "intermediate.dense.bias"])
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
        out = linear(h, W[p + "output.dense.weight"], W[p + "output.dense.bias"])
        x = layer_norm(out + x, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"])
    pooled = x.mean(0)  # a single unpadded text: every token counts
    return pooled / max(np.linalg.norm(pooled), 1e-12)


def token_ids(tok, text):
    content = tok.encode(text, add_special_tokens=False).ids
    budget = MAX_TOKENS - 2
    if len(content) > budget:
        head = (budget + 1) // 2
        content = content[:head] + content[len(content) - (budget - head):]
    return [tok.token_to_id("[CLS]")] + content + [tok.token_to_id("[SEP]")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=".switchyard/encoder/all-MiniLM-L6-v2")
    ap.add_argument("--out", default="classifier/tests/fixtures/parity.json")
    args = ap.parse_args()
    d = pathlib.Path(args.model_dir)
    W = {k: v.astype(np.float64) for k, v in load_file(str(d / "model.safetensors")).items()}
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    cases = [{"id": i, "text": t} for i, t in TEXTS]
    cases.append({"id": "huge_200k", "repeat": {"unit": HUGE_UNIT, "chars": HUGE_CHARS}})
    for case in cases:
        text = case["text"] if "text" in case else huge_text()
        ids = token_ids(tok, text)
        case["tokens"] = len(ids)
        case["embedding"] = [round(float(v), 7) for v in forward(W, np.array(ids))]
    out = {
        "source": "scripts/make_parity_fixture.py: numpy float64 BERT forward pass, head+tail truncation",
        "max_tokens": MAX_TOKENS,
        "model_sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "cases": cases,
    }
    pathlib.Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
