"""Model listing."""

from __future__ import annotations

import openai
import pytest

from helpers import EMBED, GEMMA, SMOL


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    for name in (SMOL, GEMMA, EMBED):
        assert name in ids, ids


def test_models_retrieve(client):
    m = client.models.retrieve(SMOL)
    assert m.id == SMOL
    assert m.object == "model"


def test_models_retrieve_unknown(client):
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
