#!/usr/bin/env python3
"""Measure the local model as a person-name tagger, the third option issue 5 names
beside a gazetteer and context words: the model lists the names in each sentence under
a JSON schema (constrained decoding, so the answer always parses), and the listed names
that occur in the text are the findings.

Runs against a tierlm gateway (`tierlm serve`) with the OpenAI SDK; the first --n
sentences of eval/data/pii/sentences.jsonl that hold a PERSON span are scored with the
same rule as guard_eval (a gold name is found when a finding covers at least half of
it), and --bg background texts give the false-positive rate (share of whitespace tokens
covered by findings). Prints one JSON object per model.

Usage: eval/pii/llm_tagging.py [--url http://127.0.0.1:8080/v1] [--model smollm2-135m]...
           [--n 200] [--bg 100]
"""
import argparse
import json
import os
import re
import sys
import time

from openai import OpenAI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = {
    "type": "object",
    "properties": {"names": {"type": "array", "items": {"type": "string"}, "maxItems": 8}},
    "required": ["names"],
    "additionalProperties": False,
}
PROMPT = ("List the full names of all people mentioned in the text below. "
          "Answer with JSON: {\"names\": [...]}; an empty list if there are none.\n\nText: ")


def findings(client, model, text):
    """Byte spans of the names the model lists that occur in text."""
    r = client.chat.completions.create(
        model=model, temperature=0, max_tokens=96,
        messages=[{"role": "user", "content": PROMPT + text}],
        response_format={"type": "json_schema",
                         "json_schema": {"name": "names", "schema": SCHEMA, "strict": True}})
    try:
        names = json.loads(r.choices[0].message.content)["names"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return [], 1
    raw = text.encode()
    spans = []
    for name in names:
        name = name.strip()
        if len(name) < 2:
            continue
        for m in re.finditer(re.escape(name.encode()), raw):
            spans.append((m.start(), m.end()))
    return spans, 0


def covered(gold, spans):
    return sum(max(0, min(gold[1], e) - max(gold[0], s)) for s, e in spans) * 2 >= gold[1] - gold[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080/v1")
    ap.add_argument("--model", action="append")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--bg", type=int, default=100)
    args = ap.parse_args()
    client = OpenAI(base_url=args.url, api_key="unused", max_retries=0, timeout=300)
    data = os.path.join(ROOT, "eval", "data", "pii")
    with open(os.path.join(data, "sentences.jsonl")) as f:
        sentences = [json.loads(line) for line in f]
    sentences = [s for s in sentences if any(sp["type"] == "PERSON" for sp in s["spans"])]
    sentences = sentences[:args.n]
    background = []
    bg_path = os.path.join(data, "background.jsonl")
    if args.bg and os.path.exists(bg_path):
        with open(bg_path) as f:
            background = [json.loads(line)["text"] for line in f][:args.bg]
    for model in args.model or ["smollm2-135m"]:
        gold = found = predicted = right = broken = 0
        t0 = time.monotonic()
        for s in sentences:
            spans, bad = findings(client, model, s["text"])
            broken += bad
            people = [(sp["start"], sp["end"]) for sp in s["spans"] if sp["type"] == "PERSON"]
            gold += len(people)
            found += sum(covered(p, spans) for p in people)
            predicted += len(spans)
            right += sum(any(min(p[1], e) > max(p[0], st) for p in people) for st, e in spans)
        per_sentence = (time.monotonic() - t0) / max(1, len(sentences))
        tokens = hit = 0
        for text in background:
            spans, bad = findings(client, model, text)
            broken += bad
            raw = text.encode()
            for m in re.finditer(rb"\S+", raw):
                tokens += 1
                hit += any(min(m.end(), e) > max(m.start(), st) for st, e in spans)
        print(json.dumps({
            "model": model, "sentences": len(sentences), "person_values": gold,
            "recall": round(found / max(1, gold), 4),
            "precision": round(right / max(1, predicted), 4),
            "background_texts": len(background),
            "background_tokens_covered": round(hit / max(1, tokens), 4),
            "seconds_per_sentence": round(per_sentence, 3), "unparsable": broken,
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
