#!/usr/bin/env python3
"""Build the development workload for `tierlm eval` from the data fetched by scripts/fetch-eval-data.

Writes, deterministically for a seed (same bytes on every run):
  OUT/learn.jsonl           workload for tuning the router (learning split)
  OUT/heldout.jsonl         workload for reporting (held-out split)
  OUT/router-profiles.toml  [[router.profiles]] built only from the learning split

Split rule: every source set is de-duplicated, sorted, shuffled with the seed and cut in two
halves, a held-out half and a learning half. heldout.jsonl is sampled from the held-out half
only; learn.jsonl, the profile examples and the few-shot examples come from the learning half
only (examples and few-shot do not reuse learn.jsonl items). Standard library only.
"""
import argparse
import ast
import csv
import glob
import gzip
import html
import json
import os
import random
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# task, class, weight in the mix: routine 5 x 8 = 40 of 50, complex 2 x 5 = 10 of 50 (80/20 by
# request count; entity extraction is one fifth of the routine share)
TASKS = [
    ("sms_spam", "routine", 8),
    ("bbc_topic", "routine", 8),
    ("trec_qtype", "routine", 8),
    ("acl_summary", "routine", 8),
    ("entity_extract", "routine", 8),
    ("gsm8k", "complex", 5),
    ("humaneval", "complex", 5),
]

BBC_WORDS = 250        # cap on the BBC title + article text
ACL_WORDS = 350        # cap on the ACL paper text
EXAMPLE_WORDS = 60     # cap on profile examples (whole user text) and few-shot inputs (input part)

SMS_INSTR = "Is the following SMS message spam or ham? Answer with one word: ham or spam."
BBC_INSTR = ("Which topic does this news article belong to: business, entertainment, politics, "
             "sport or tech? Answer with one word.")
TREC_INSTR = ("What type of answer does this question expect: abbreviation, description, entity, "
              "human, location or numeric? Answer with one word.")
ACL_INSTR = "Summarise the {aspect} of this paper in one or two sentences."
GSM_SUFFIX = "\nSolve it step by step and end with the final number."
HE_INSTR = "Complete this Python function."
ENTITY_INSTR = ("Extract the contact details from this message as JSON with the fields name, email, "
                "phone, address and date; use null for a field the message does not give.")
# field -> the PII span types (eval/pii/build_pii.py) whose first value fills it
ENTITY_FIELDS = {"name": ("PERSON",), "email": ("EMAIL",), "phone": ("PHONE",),
                 "address": ("POSTAL_ADDRESS",), "date": ("DATE_TIME", "DATE_OF_BIRTH")}
# the application that extracts contact details sends as this tenant; eval/tierlm-eval.toml
# keeps that tenant's personal data on the premises ([[guard.policies]])
ENTITY_TENANT = "contacts"
ENTITY_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "contact", "strict": True, "schema": {
        "type": "object",
        "properties": {f: {"type": ["string", "null"]} for f in ENTITY_FIELDS},
        "required": list(ENTITY_FIELDS), "additionalProperties": False}},
}

TREC_LABELS = {"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity",
               "HUM": "human", "LOC": "location", "NUM": "numeric"}
BBC_DIRS = {"business": "business", "entertainment": "entertainment", "politics": "politics",
            "sport": "sport", "sports": "sport", "tech": "tech"}
ACL_ASPECTS = ["challenge", "approach", "outcome"]

PROFILE_INSTRUCTIONS = {
    "sms_spam": "Classify the SMS message as ham or spam. Answer with the label only.",
    "bbc_topic": ("Classify the news article by topic: business, entertainment, politics, sport "
                  "or tech. Answer with the label only."),
    "trec_qtype": ("Classify the question by the type of answer it expects: abbreviation, "
                   "description, entity, human, location or numeric. Answer with the label only."),
    "acl_summary": ("Summarise the requested aspect (challenge, approach or outcome) of the paper "
                    "in one or two sentences. Answer with the summary only."),
    "entity_extract": ("Extract the name, e-mail, phone, postal address and date a message gives, "
                       "exactly as written, as JSON; null for each one it does not give."),
}

WORD = re.compile(r"\S+")


def die(msg):
    print(f"build_workload: error: {msg}", file=sys.stderr)
    sys.exit(1)


def cut_words(text, n):
    """The first n whitespace-separated words of text, keeping the original spacing."""
    m = None
    for i, m in enumerate(WORD.finditer(text)):
        if i == n - 1:
            return text[:m.end()]
    return text


def n_words(text):
    return len(text.split())


def norm_key(text):
    return " ".join(text.lower().split())


# Undo the PTB-style tokenisation of TREC questions and ACL sentences ("What 's it ?").
_DETOK = [
    (re.compile(r"``\s*"), '"'), (re.compile(r"\s*''"), '"'),
    (re.compile(r"`\s*([^`']*?)\s*'"), r"'\1'"),
    (re.compile(r"\s+([.,;:!?%)\]}])"), r"\1"), (re.compile(r"([(\[{])\s+"), r"\1"),
    (re.compile(r"\s+('s|'re|'ve|'ll|'m|'d|n't)\b", re.I), r"\1"),
]


def detok(text):
    for pat, rep in _DETOK:
        text = pat.sub(rep, text)
    return " ".join(text.split())


_CP1252_C1 = {"\x91": "\u2018", "\x92": "\u2019", "\x93": "\u201c", "\x94": "\u201d",
              "\x96": "\u2013", "\x97": "\u2014", "\x85": "\u2026"}


def read_text(path):
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------- loaders
# Each loader returns a list of item dicts in source order:
#   idx (int, stable source index), group (label/aspect for balancing or None),
#   input (the application's input text, without instruction), prefix (text between the
#   instruction and the input), instr (instruction line(s)), content (the user message),
#   expected, reference, plus task-specific keys.

def need(path, how="run scripts/fetch-eval-data first"):
    if not os.path.exists(path):
        die(f"{path} is missing; {how}")
    return path


def load_sms(raw):
    items = []
    with open(need(os.path.join(raw, "sms_spam", "sms-spam.csv")), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    for row in rows[1:]:
        idx, spam, text = row
        # a few rows of this CSV swallowed hundreds of following lines (broken quoting): drop them
        if "\n" in text or "\t" in text:
            continue
        text = html.unescape("".join(_CP1252_C1.get(c, c) for c in text)).strip()
        text = " ".join(text.split())
        if not text:
            continue
        label = {"0": "ham", "1": "spam"}[spam]
        items.append(dict(idx=int(idx), group=label, instr=SMS_INSTR, prefix="SMS: ", input=text,
                          expected=label, reference=label))
    return items


def load_bbc(raw):
    base = need(os.path.join(raw, "bbcnews"))
    items = []
    paths = sorted(glob.glob(os.path.join(base, "*", "*.txt")))
    for i, path in enumerate(paths):
        d = os.path.basename(os.path.dirname(path))
        if d not in BBC_DIRS:
            die(f"unexpected BBC topic directory {d!r}")
        label = BBC_DIRS[d]
        lines = [ln.strip() for ln in read_text(path).strip().split("\n")]
        title, body = lines[0], [ln for ln in lines[1:] if ln]
        text = cut_words(title + "\n\n" + "\n\n".join(body), BBC_WORDS)
        items.append(dict(idx=i, group=label, instr=BBC_INSTR, prefix="", input=text,
                          expected=label, reference=label))
    return items


def load_trec(raw):
    path = need(os.path.join(raw, "trec", "question_labels.txt"))
    seen = set()
    lines = []
    for ln in read_text(path).split("\n"):
        ln = ln.strip()
        if ln and ln not in seen:
            seen.add(ln)
            lines.append(ln)
    items = []
    for i, ln in enumerate(sorted(lines)):
        tag, q = ln.split(" ", 1)
        label = TREC_LABELS[tag.split(":", 1)[0]]
        text = detok(q)
        items.append(dict(idx=i, group=label, instr=TREC_INSTR, prefix="Question: ", input=text,
                          expected=label, reference=label))
    return items


def acl_paper_text(doc):
    """Title, abstract and conclusion (the sections that state challenge, approach and
    outcome), detokenised; the caller caps the result at ACL_WORDS words."""
    parts = [detok(doc["title"])]
    for sec, head in (("abstract", "Abstract"), ("conclusion", "Conclusion")):
        sents = doc["sentences"].get(sec) or []
        if sents:
            parts.append(f"{head}: " + detok(" ".join(sents)))
    return "\n\n".join(parts)


def acl_teacher_sentence(doc, aspect):
    """What the mock teacher answers for a paper-aspect: the first sentence the annotators
    highlighted for it (abstract, introduction, conclusion in order), a different human's
    answer than the abstractive reference. Falls back to the heuristic highlights, then to
    the abstract's first sentence (4 of 750 paper-aspects have no highlight)."""
    for key in ("highlights", "heuristic_highlights"):
        marks = doc.get(key, {}).get(aspect) or {}
        if isinstance(marks, str):
            marks = ast.literal_eval(marks)
        for sec in ("abstract", "introduction", "conclusion"):
            for sent, flag in zip(doc["sentences"].get(sec) or [], marks.get(sec) or []):
                if flag:
                    return detok(sent)
    return detok((doc["sentences"].get("abstract") or [doc["title"]])[0])


def load_acl(raw, seed):
    docs = []
    for split in ("train", "val", "test"):
        with open(need(os.path.join(raw, "aclsum", f"{split}.jsonl")), encoding="utf-8") as f:
            docs += [json.loads(ln) for ln in f if ln.strip()]
    docs.sort(key=lambda d: d["id"])
    rng = random.Random(f"{seed}/acl_summary/aspect")
    items = []
    for i, doc in enumerate(docs):
        aspect = rng.choice(ACL_ASPECTS)  # one aspect per paper: papers, not summaries, are split
        summary = " ".join(doc["summary"][aspect].split())
        items.append(dict(idx=i, group=aspect, instr=ACL_INSTR.format(aspect=aspect), prefix="",
                          input=cut_words(acl_paper_text(doc), ACL_WORDS), expected=summary,
                          reference=acl_teacher_sentence(doc, aspect), paper=doc["id"]))
    return items


def load_entities(pii):
    """Contact-detail extraction from the labelled PII sentences: every sentence that gives a
    name, e-mail, phone or postal address; the target is the JSON of the first value of each
    field (null when absent), which is also the teacher's answer (extraction has one right
    answer, which a frontier model nearly always gives)."""
    items = []
    with open(need(pii, "run eval/pii/build_pii.py first"), encoding="utf-8") as f:
        for i, ln in enumerate(f):
            d = json.loads(ln)
            fields = {}
            for field, kinds in ENTITY_FIELDS.items():
                spans = sorted((s for s in d["spans"] if s["type"] in kinds),
                               key=lambda s: s["start"])
                fields[field] = " ".join(spans[0]["value"].split()) if spans else None
            if not any(fields[k] for k in ("name", "email", "phone", "address")):
                continue
            target = json.dumps(fields, ensure_ascii=False)
            items.append(dict(idx=i, group=None, instr=ENTITY_INSTR, prefix="Message: ",
                              input=d["text"], expected=target, reference=target,
                              response_format=ENTITY_SCHEMA, tenant=ENTITY_TENANT))
    return items


def load_gsm8k(raw):
    items = []
    with open(need(os.path.join(raw, "gsm8k", "test.jsonl")), encoding="utf-8") as f:
        for i, ln in enumerate(f):
            d = json.loads(ln)
            solution, _, final = d["answer"].rpartition("####")
            number = final.strip().replace(",", "")
            if not re.fullmatch(r"-?\d+(\.\d+)?", number):
                die(f"gsm8k line {i + 1}: cannot read final answer {final!r}")
            # drop the dataset's calculator annotations "<<16-3-4=9>>": a model does not write them
            reference = re.sub(r"<<[^>]*>>", "", solution).rstrip() + f"\n#### {number}"
            q = d["question"].strip()
            items.append(dict(idx=i, group=None, instr=None, prefix="", input=q,
                              content=q + GSM_SUFFIX, expected=number, reference=reference))
    return items


def load_humaneval(raw):
    items = []
    with gzip.open(need(os.path.join(raw, "humaneval", "HumanEval.jsonl.gz")), "rt", encoding="utf-8") as f:
        for ln in f:
            d = json.loads(ln)
            idx = int(d["task_id"].split("/")[1])
            prompt = d["prompt"]
            items.append(dict(idx=idx, group=None, instr=HE_INSTR, prefix="```python\n",
                              input=prompt, content=f"{HE_INSTR}\n\n```python\n{prompt}```",
                              expected=None,
                              reference=f"```python\n{prompt}{d['canonical_solution']}```",
                              code={"prompt": prompt, "test": d["test"],
                                    "entry_point": d["entry_point"]}))
    items.sort(key=lambda it: it["idx"])
    return items


# ---------------------------------------------------------------- building

def finish(task, items):
    """Add the user message, drop duplicates (exact user text, normalised input, or a shared
    first-EXAMPLE_WORDS-words prefix) and items whose duplicates disagree on the answer."""
    for it in items:
        if "content" not in it:
            it["content"] = f"{it['instr']}\n\n{it['prefix']}{it['input']}"
        it["task"] = task
    groups = {}
    for it in items:
        keys = {norm_key(it["input"]), "prefix:" + norm_key(cut_words(it["input"], EXAMPLE_WORDS)),
                "content:" + it["content"]}
        it["_keys"] = keys
        for k in keys:
            groups.setdefault(k, []).append(it)
    out, dropped = [], 0
    for it in items:
        clash = [o for k in it["_keys"] for o in groups[k] if o is not it]
        if any(o["expected"] != it["expected"] for o in clash):
            dropped += 1          # ambiguous: same text, different answers
        elif any(o["idx"] < it["idx"] for o in clash):
            dropped += 1          # keep only the first copy in source order
        else:
            out.append(it)
    for it in out:
        del it["_keys"]
    return out, dropped


def quota(total, tasks):
    """Split total over tasks by weight with largest-remainder rounding (ties: task order)."""
    wsum = sum(w for _, _, w in tasks)
    exact = [total * w / wsum for _, _, w in tasks]
    counts = [int(x) for x in exact]
    order = sorted(range(len(tasks)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return {t[0]: c for t, c in zip(tasks, counts)}


def round_robin(pool, groups, n):
    """Take n items from pool (in its order), cycling over groups so each appears in turn."""
    if not groups:
        return pool[:n]
    queues = {g: [it for it in pool if it["group"] == g] for g in groups}
    picked = []
    while len(picked) < n and any(queues.values()):
        for g in groups:
            if queues[g] and len(picked) < n:
                picked.append(queues[g].pop(0))
    return picked


def workload_line(it, cls, metric, labels, max_tokens):
    line = {"id": f"{it['task']}-{it['idx']:04d}", "task": it["task"], "class": cls,
            "messages": [{"role": "user", "content": it["content"]}], "metric": metric}
    if labels:
        line["labels"] = labels
    line["expected"] = it["expected"]
    line["reference"] = it["reference"]
    line["max_tokens"] = max_tokens
    if "code" in it:
        line["code"] = it["code"]
    if "response_format" in it:
        line["response_format"] = it["response_format"]
    if "tenant" in it:
        line["tenant"] = it["tenant"]
    return line


def toml_str(s):
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04X}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Run scripts/fetch-eval-data first. See eval/README.md.")
    ap.add_argument("--raw", default=os.path.join(ROOT, "eval", "data", "raw"),
                    help="fetched data (default: eval/data/raw)")
    ap.add_argument("--out", default=os.path.join(ROOT, "eval", "data"),
                    help="output directory (default: eval/data)")
    ap.add_argument("--seed", type=int, default=2026, help="split and sampling seed (default: 2026)")
    ap.add_argument("--pii", default=os.path.join(ROOT, "eval", "data", "pii", "sentences.jsonl"),
                    help="labelled PII sentences (default: eval/data/pii/sentences.jsonl, from "
                         "eval/pii/build_pii.py)")
    ap.add_argument("--heldout", type=int, default=500, help="held-out workload size (default: 500)")
    ap.add_argument("--learn", type=int, default=500, help="learning workload size (default: 500)")
    ap.add_argument("--exemplars", type=int, default=8,
                    help="router examples per profile (default: 8)")
    ap.add_argument("--few-shot", type=int, default=4,
                    help="few-shot examples per routine profile; label tasks get at least one per "
                         "label (default: 4)")
    a = ap.parse_args()
    for name in ("heldout", "learn", "exemplars", "few_shot"):
        if getattr(a, name) < 0:
            die(f"--{name.replace('_', '-')} must be >= 0")

    loaders = {
        "sms_spam": lambda: load_sms(a.raw),
        "bbc_topic": lambda: load_bbc(a.raw),
        "trec_qtype": lambda: load_trec(a.raw),
        "acl_summary": lambda: load_acl(a.raw, a.seed),
        "entity_extract": lambda: load_entities(a.pii),
        "gsm8k": lambda: load_gsm8k(a.raw),
        "humaneval": lambda: load_humaneval(a.raw),
    }
    hq, lq = quota(a.heldout, TASKS), quota(a.learn, TASKS)
    heldout, learn, profiles = [], [], []
    print(f"{'task':<12} {'class':<8} {'source':>6} {'dups':>5} {'held-out':>8} {'learn':>6}"
          f"  labels (held-out)", file=sys.stderr)
    for task, cls, _ in TASKS:
        items, dropped = finish(task, loaders[task]())
        items.sort(key=lambda it: it["idx"])
        random.Random(f"{a.seed}/{task}/split").shuffle(items)
        half = len(items) // 2
        held_part, learn_part = items[:half], items[half:]
        if hq[task] > len(held_part) or lq[task] > len(learn_part):
            die(f"{task}: asked for {hq[task]} held-out / {lq[task]} learn items but each half "
                f"has only {len(held_part)} / {len(learn_part)}")
        held_items, learn_items = held_part[:hq[task]], learn_part[:lq[task]]
        rest = learn_part[lq[task]:]

        if task in ("sms_spam", "bbc_topic", "trec_qtype"):
            metric, max_tokens = "label", 8
            labels = sorted({it["group"] for it in items})
        elif task == "acl_summary":
            metric, max_tokens, labels = "rouge_l", 160, None
        elif task == "entity_extract":
            metric, max_tokens, labels = "field_f1", 128, None
        elif task == "gsm8k":
            metric, max_tokens, labels = "number", 256, None
        else:
            metric, max_tokens, labels = "pass_at_1", 256, None
        heldout += [workload_line(it, cls, metric, labels, max_tokens) for it in held_items]
        learn += [workload_line(it, cls, metric, labels, max_tokens) for it in learn_items]

        groups = labels or (ACL_ASPECTS if task == "acl_summary" else None)
        examples = round_robin(rest, groups, a.exemplars)
        if len(examples) < a.exemplars:
            die(f"{task}: only {len(examples)} learning items left for {a.exemplars} examples")
        prof = {"name": task, "class": cls,
                "examples": [cut_words(it["content"], EXAMPLE_WORDS) for it in examples]}
        if cls == "routine":
            used = {id(it) for it in examples}
            spare = [it for it in rest if id(it) not in used]
            # short inputs first (stable in shuffled order), so few-shot prompts stay cheap
            short = [it for it in spare if n_words(it["input"]) <= EXAMPLE_WORDS]
            spare = short + [it for it in spare if n_words(it["input"]) > EXAMPLE_WORDS]
            if labels:
                shots = round_robin(spare, labels, max(a.few_shot, len(labels)))
            else:
                shots = spare[:min(a.few_shot, 1)]
            prof["labels"] = labels
            prof["instructions"] = PROFILE_INSTRUCTIONS[task]
            prof["few_shot"] = [
                {"input": f"{it['instr']}\n\n{it['prefix']}{cut_words(it['input'], EXAMPLE_WORDS)}",
                 "output": it["reference"]} for it in shots]
            prof["min_confidence"] = 0.5
            prof["max_tokens"] = max_tokens
        profiles.append(prof)

        dist = {}
        for it in held_items:
            if it["group"] is not None:
                dist[it["group"]] = dist.get(it["group"], 0) + 1
        dist_s = " ".join(f"{k}={v}" for k, v in sorted(dist.items()))
        print(f"{task:<12} {cls:<8} {len(items):>6} {dropped:>5} {len(held_items):>8} "
              f"{len(learn_items):>6}  {dist_s}", file=sys.stderr)

    # interleave the tasks, as mixed traffic would arrive
    random.Random(f"{a.seed}/order/heldout").shuffle(heldout)
    random.Random(f"{a.seed}/order/learn").shuffle(learn)

    texts = [ln["messages"][-1]["content"] for ln in heldout + learn]
    if len(set(texts)) != len(texts):
        die("internal error: duplicate user texts in the workload")

    os.makedirs(a.out, exist_ok=True)

    def write(name, text):
        path = os.path.join(a.out, name)
        with open(path + ".tmp", "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        return path

    def jsonl(lines):
        return "".join(json.dumps(ln, ensure_ascii=False) + "\n" for ln in lines)

    toml = [f"# Generated by eval/build_workload.py --seed {a.seed} from the learning split. "
            "Do not edit by hand.",
            f"# (--exemplars {a.exemplars} --few-shot {a.few_shot}; "
            "workload: learn.jsonl, heldout.jsonl)"]
    for p in profiles:
        toml += ["", "[[router.profiles]]", f"name = {toml_str(p['name'])}",
                 f"class = {toml_str(p['class'])}", "examples = ["]
        toml += [f"  {toml_str(e)}," for e in p["examples"]]
        toml.append("]")
        if p["class"] == "routine":
            if p["labels"]:
                toml.append("labels = [" + ", ".join(toml_str(x) for x in p["labels"]) + "]")
            toml.append(f"instructions = {toml_str(p['instructions'])}")
            toml.append("few_shot = [")
            toml += [f"  {{ input = {toml_str(s['input'])}, output = {toml_str(s['output'])} }},"
                     for s in p["few_shot"]]
            toml.append("]")
            toml.append(f"min_confidence = {p['min_confidence']}")
            toml.append(f"max_tokens = {p['max_tokens']}")

    paths = [write("learn.jsonl", jsonl(learn)), write("heldout.jsonl", jsonl(heldout)),
             write("router-profiles.toml", "\n".join(toml) + "\n")]
    for path in paths:
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path):,} bytes)", file=sys.stderr)
    med = {}
    for ln in heldout:
        med.setdefault(ln["task"], []).append(n_words(ln["messages"][-1]["content"]))
    print("median words per user message (held-out): " +
          ", ".join(f"{t}={statistics.median(med[t]):g}" for t, _, _ in TASKS if t in med),
          file=sys.stderr)


if __name__ == "__main__":
    main()
