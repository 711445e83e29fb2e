#!/usr/bin/env python3
"""How many of the background's "false positives" are real people: a labelled sample.

The background texts (BBC news, ACL abstracts, SMS) are assumed PII-free, so every
detection in them counts as a false positive. Many are the names of real people in the
news ("Tony Blair"), correct as detections. This script samples detection occurrences
from `guard_eval --json` output (the k-th occurrence of a text is in the sample when
sha256 of "k text" falls in the first 1/RATE of the range: a stable sample, so that a
detector change only adds or removes the occurrences it changes), labels each from
`background_labels.json` (hand-made: "person" for a person's name, real or fictional,
"other" for anything else), and estimates the share of background tokens covered by
detections that are not people.

    target/release/examples/guard_eval --sentences eval/data/pii/sentences.jsonl \
        --background eval/data/pii/background.jsonl [--strict] --json --top 100000 \
        --reps 1 > /tmp/bg.json
    eval/pii/background_sample.py /tmp/bg.json

A sampled text without a label is printed and the exit status is 1: label it and rerun.
"""

import json
import math
import pathlib
import hashlib
import sys

RATE = 20  # one occurrence in 20


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    report = json.loads(pathlib.Path(sys.argv[1]).read_text())
    bg = report["background"]
    labels = json.loads((pathlib.Path(__file__).parent / "background_labels.json").read_text())
    occurrences = [d["text"] for d in bg["top_detections"] for _ in range(d["count"])]
    if len(occurrences) != bg["detections"]:
        print("run guard_eval with --top 100000 so that every detection is listed", file=sys.stderr)
        return 2
    seen: dict[str, int] = {}
    sample = []
    for text in occurrences:
        k = seen[text] = seen.get(text, 0) + 1
        digest = hashlib.sha256(f"{k} {text}".encode()).digest()
        if int.from_bytes(digest[:8], "big") % RATE == 0:
            sample.append(text)
    unlabelled = sorted({t for t in sample if t not in labels})
    if unlabelled:
        print("no label for:", *unlabelled, sep="\n  ")
        return 1
    other = [t for t in sample if labels[t] == "other"]
    tokens = sum(len(t.split()) for t in sample)
    other_tokens = sum(len(t.split()) for t in other)
    share = bg["fp_token_share"]
    p = len(other) / len(sample)
    half = 1.96 * math.sqrt(p * (1 - p) / len(sample))
    print(f"background tokens covered by any detection: {share:.2%}")
    print(f"sampled detections that are not a person: {len(other)}/{len(sample)} "
          f"({p:.0%}, 95% interval {max(p - half, 0):.0%}-{min(p + half, 1):.0%})")
    print(f"estimated tokens covered by non-person detections: {share * other_tokens / tokens:.2%}"
          f" of the background (by the sample's token weights {other_tokens}/{tokens})")
    print("not a person:", ", ".join(sorted(set(other))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
