"""Independent numpy reference for sentence-transformers/all-MiniLM-L6-v2.

Used by the end-to-end tests to check tierlm's /v1/embeddings numerically. It shares no code
with the server: weights come straight from model.safetensors, tokenization from the
`tokenizers` package, and the BERT forward pass is written out here in float64.

    embed(sentences) -> np.ndarray of shape (len(sentences), 384), rows L2-normalised

Matches sentence-transformers: max_seq_length 256 (from sentence_bert_config.json; note that
tokenizer.json itself carries truncation 128 and fixed padding 128, both overridden here),
mean pooling over the attention mask, then L2 normalisation.

Run `python reference_embeddings.py` for a sanity check.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MODEL_DIR = os.path.join(REPO_ROOT, "models", "all-MiniLM-L6-v2")
MAX_SEQ_LEN = 256


def _erf(x: np.ndarray) -> np.ndarray:
    """erf for float64 arrays (numpy has none). W. J. Cody's rational approximations,
    as used by many libms: relative error < 1e-15 over the real line."""
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    out = np.empty_like(ax)

    # |x| <= 0.5
    a = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
         3.20937758913846947e03, 1.85777706184603153e-1)
    b = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
         2.84423683343917062e03)
    m = ax <= 0.5
    if m.any():
        y = ax[m]
        z = y * y
        xnum = a[4] * z
        xden = z
        for i in range(3):
            xnum = (xnum + a[i]) * z
            xden = (xden + b[i]) * z
        out[m] = y * (xnum + a[3]) / (xden + b[3])

    # 0.5 < |x| <= 4: erfc via rational function
    c = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
         2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
         2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
    d = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
         1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
         3.43936767414372164e03, 1.23033935480374942e03)
    m = (ax > 0.5) & (ax <= 4.0)
    if m.any():
        y = ax[m]
        xnum = c[8] * y
        xden = y
        for i in range(7):
            xnum = (xnum + c[i]) * y
            xden = (xden + d[i]) * y
        erfc = (xnum + c[7]) / (xden + d[7]) * np.exp(-y * y)
        out[m] = 1.0 - erfc

    # |x| > 4: erfc via asymptotic rational function
    p = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
         1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
    q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
         6.05183413124413191e-2, 2.33520497626869185e-3)
    m = ax > 4.0
    if m.any():
        y = ax[m]
        z = 1.0 / (y * y)
        xnum = p[5] * z
        xden = z
        for i in range(4):
            xnum = (xnum + p[i]) * z
            xden = (xden + q[i]) * z
        r = z * (xnum + p[4]) / (xden + q[4])
        r = (1.0 / np.sqrt(np.pi) - r) / y
        out[m] = 1.0 - r * np.exp(-y * y)

    return np.sign(x) * out


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    # PyTorch layout: weight is (out_features, in_features).
    return x @ w.T + b


class MiniLM:
    def __init__(self, model_dir: str = DEFAULT_MODEL_DIR):
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        assert cfg.get("hidden_act", "gelu") == "gelu"

        raw = load_file(os.path.join(model_dir, "model.safetensors"))
        # Some exports prefix every tensor with "bert."; accept both.
        self.w = {
            (k[len("bert."):] if k.startswith("bert.") else k): v.astype(np.float64)
            for k, v in raw.items()
        }

        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=MAX_SEQ_LEN)

    def _encode_one(self, ids: list[int], type_ids: list[int]) -> np.ndarray:
        """Forward pass for one unpadded sequence; returns the mean-pooled vector."""
        w = self.w
        n = len(ids)
        ids_a = np.asarray(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids_a]
            + w["embeddings.position_embeddings.weight"][np.arange(n)]
            + w["embeddings.token_type_embeddings.weight"][np.asarray(type_ids)]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        hd = self.hidden // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = _linear(x, w[p + "attention.self.query.weight"], w[p + "attention.self.query.bias"])
            k = _linear(x, w[p + "attention.self.key.weight"], w[p + "attention.self.key.bias"])
            v = _linear(x, w[p + "attention.self.value.weight"], w[p + "attention.self.value.bias"])
            q = q.reshape(n, self.heads, hd).transpose(1, 0, 2)  # (h, n, hd)
            k = k.reshape(n, self.heads, hd).transpose(1, 0, 2)
            v = v.reshape(n, self.heads, hd).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(hd)  # (h, n, n); no padding, so no mask
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, self.hidden)
            attn = _linear(ctx, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"])
            x = _layer_norm(
                attn + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            h = _gelu(_linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]))
            h = _linear(h, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
            x = _layer_norm(h + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x.mean(axis=0)

    def embed(self, sentences: list[str]) -> np.ndarray:
        if isinstance(sentences, str):
            sentences = [sentences]
        out = np.zeros((len(sentences), self.hidden))
        for row, enc in enumerate(self.tok.encode_batch(list(sentences))):
            # Sequences are run one at a time and unpadded, which is exactly what mean
            # pooling over the attention mask of a padded batch computes.
            out[row] = self._encode_one(enc.ids, enc.type_ids)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@lru_cache(maxsize=1)
def _model() -> MiniLM:
    return MiniLM()


def embed(sentences) -> np.ndarray:
    """Embed a list of sentences (or one string) -> (n, 384) float64, unit-norm rows."""
    return _model().embed(sentences)


if __name__ == "__main__":
    import math

    assert abs(_erf(np.array([1.0]))[0] - math.erf(1.0)) < 1e-15
    xs = np.linspace(-6, 6, 2001)
    assert np.max(np.abs(_erf(xs) - np.array([math.erf(v) for v in xs]))) < 1e-14

    pairs = [
        ("A man is playing a guitar.", "Someone is playing an acoustic guitar.", "paraphrase"),
        ("How do I reset my password?", "What are the steps to change my password?", "paraphrase"),
        ("The new movie is awesome", "The new movie is so great", "paraphrase"),
        ("A man is playing a guitar.", "The stock market fell sharply today.", "unrelated"),
        ("How do I reset my password?", "Penguins live in the southern hemisphere.", "unrelated"),
        ("The cat sits on the mat.", "Quarterly revenue grew by twelve percent.", "unrelated"),
    ]
    ok = True
    for a, b, kind in pairs:
        ea, eb = embed([a, b])
        cos = float(ea @ eb)
        good = cos > 0.8 if kind == "paraphrase" else cos < 0.3
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {kind:10s} cos={cos:.4f}  {a!r} vs {b!r}")
    # The similarity matrix published in the sentence-transformers quickstart for this model.
    docs = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    published = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    sim = embed(docs) @ embed(docs).T
    good = bool(np.max(np.abs(sim - published)) < 1e-3)
    ok &= good
    print(f"{'ok  ' if good else 'FAIL'} sentence-transformers quickstart matrix: "
          f"{np.round(sim, 4).tolist()} (published {published.tolist()})")
    e = embed(["hello world"])
    print(f"shape={e.shape} norm={np.linalg.norm(e[0]):.6f} first5={np.round(e[0][:5], 6).tolist()}")
    raise SystemExit(0 if ok else 1)
