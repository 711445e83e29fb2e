"""Embeddings, checked against an independent numpy implementation of the model."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from helpers import EMBED
from reference_embeddings import embed as reference_embed

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on stage.",
    "How do I reset my password?",
    "The stock market fell sharply on Monday.",
    "Penguins live in the southern hemisphere.",
    "Please send the invoice by Friday.",
    "The weather is lovely today.",
    "She scored the winning goal in the final minute.",
    "Photosynthesis converts light into chemical energy.",
    "My flight was delayed by three hours.",
    "Can you recommend a good Italian restaurant nearby?",
    "The new smartphone has an excellent camera.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "He forgot his umbrella and got soaked in the rain.",
    "The committee approved the budget for next year.",
    "Reading before bed helps me fall asleep.",
    "This function returns the sum of two integers.",
    "Ein kurzer Satz auf Deutsch, um die Tokenisierung zu prüfen.",
    "Emoji and symbols: 🚀 café naïve — 100% ok!",
    "Short.",
]

DIM = 384


@pytest.fixture(scope="module")
def reference():
    return reference_embed(SENTENCES)


def as_matrix(resp, n):
    assert resp.object == "list"
    assert len(resp.data) == n
    assert [d.index for d in resp.data] == list(range(n))
    return np.array([np.asarray(d.embedding, dtype=np.float64) for d in resp.data])


def check_against_reference(got, ref):
    assert got.shape == ref.shape, (got.shape, ref.shape)
    norms = np.linalg.norm(got, axis=1)
    assert np.all(np.abs(norms - 1.0) <= 1e-3), norms
    cos = np.sum(got * ref, axis=1) / norms
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.999, f"cosine {cos[worst]:.5f} for {SENTENCES[worst % len(SENTENCES)]!r}"


def test_embeddings_batch(client, reference):
    # The SDK asks for base64 and decodes it itself when no encoding_format is given.
    resp = client.embeddings.create(model=EMBED, input=SENTENCES)
    assert resp.model == EMBED
    assert resp.usage.prompt_tokens > 0
    got = as_matrix(resp, len(SENTENCES))
    assert got.shape[1] == DIM
    check_against_reference(got, reference)


def test_embeddings_float_format(client, reference):
    resp = client.embeddings.create(model=EMBED, input=SENTENCES, encoding_format="float")
    assert all(isinstance(d.embedding, list) for d in resp.data)
    check_against_reference(as_matrix(resp, len(SENTENCES)), reference)


def test_embeddings_single_string(client, reference):
    resp = client.embeddings.create(model=EMBED, input=SENTENCES[1], encoding_format="float")
    got = as_matrix(resp, 1)
    check_against_reference(got, reference[1:2])


def test_embeddings_base64_equals_float(client):
    as_float = client.embeddings.create(model=EMBED, input=SENTENCES[:3], encoding_format="float")
    as_b64 = client.embeddings.create(model=EMBED, input=SENTENCES[:3], encoding_format="base64")
    for f, b in zip(as_float.data, as_b64.data):
        assert isinstance(b.embedding, str), "explicit base64 should come back as a string"
        decoded = np.frombuffer(base64.b64decode(b.embedding), dtype="<f4")
        assert decoded.shape == (DIM,)
        assert np.allclose(decoded, np.asarray(f.embedding, dtype=np.float32), atol=1e-6)
