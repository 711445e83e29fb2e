#!/usr/bin/env python3
"""Background detections that still need a label, with where they were found.

The background texts (BBC news, ACL abstracts, SMS) are not free of identifiers: the
news names real people. `background_labels.json` labels every text the detectors find
there, as used where it was found: "person" (a person's name, real or fictional),
"identifier" (another real-looking identifier, such as a phone number in an SMS) or
"other" (everything else: companies, places, works, terms, words). `guard_eval
--labels` counts only the tokens under "other" (and unlabelled) detections as false
positives, and reports the rest as the identifiers the background holds.

After a detector change, new texts may be detected. This script lists those the labels
lack, each with up to two contexts (the text marked as [[...]]), one JSON object per
line, to label by hand and add to `background_labels.json`:

    target/release/examples/guard_eval --sentences eval/data/pii/sentences.jsonl \\
        --background eval/data/pii/background.jsonl [--strict] --json --top 100000 \\
        --reps 1 > /tmp/bg.json
    eval/pii/label_background.py /tmp/bg.json [more reports ...] > /tmp/to_label.jsonl

Exit status 1 when something is unlabelled.
"""

import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).parent
BACKGROUND = HERE.parent / "data" / "pii" / "background.jsonl"
CONTEXT_BEFORE, CONTEXT_AFTER, CONTEXTS = 90, 60, 2


def contexts(text: str, lines: list[dict]) -> list[str]:
    """Up to CONTEXTS places where `text` occurs as a whole word."""
    pattern = re.compile(r"(?<!\w)" + re.escape(text) + r"(?!\w)")
    out = []
    for line in lines:
        for m in pattern.finditer(line["text"]):
            body = line["text"]
            before = body[max(0, m.start() - CONTEXT_BEFORE) : m.start()]
            after = body[m.end() : m.end() + CONTEXT_AFTER]
            snippet = f"{before}[[{text}]]{after}".replace("\n", " ")
            out.append(f"[{line.get('source', '-')}] ...{snippet}...")
            if len(out) >= CONTEXTS:
                return out
    return out


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    labels = json.loads((HERE / "background_labels.json").read_text())
    counts: dict[str, int] = {}
    for path in sys.argv[1:]:
        bg = json.loads(pathlib.Path(path).read_text())["background"]
        if len(bg["top_detections"]) < len({(d["type"], d["text"]) for d in bg["top_detections"]}):
            print(f"{path}: run guard_eval with --top 100000", file=sys.stderr)
            return 2
        for d in bg["top_detections"]:
            if d["text"] not in labels:
                counts[d["text"]] = max(counts.get(d["text"], 0), d["count"])
    if not counts:
        print(f"every detection is labelled ({len(labels)} labels)", file=sys.stderr)
        return 0
    lines = [json.loads(l) for l in BACKGROUND.read_text().splitlines() if l.strip()]
    for text, count in sorted(counts.items()):
        print(json.dumps({"text": text, "count": count, "contexts": contexts(text, lines)},
                         ensure_ascii=False))
    print(f"{len(counts)} detected texts lack a label", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
