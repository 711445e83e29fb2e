#!/usr/bin/env python3
"""Helpers for bench/run: parse tool outputs, assemble results JSON, render Markdown.

Subcommands (all print to stdout):
  llama-bench FILE                     -> {"prefill_tok_s", "decode_tok_s", ...} from `llama-bench -o json`
  batched-bench FILE                   -> {"npl": {"1": {...}, ...}} from `--output-format jsonl`
  tierlm-bench FILE                    -> {"prefill_tok_s", "decode_tok_s"} from `tierlm bench` output
  assemble DIR OUT.json  [key=value]   -> results JSON from the per-step files in DIR
  markdown RESULTS.json...             -> Markdown block (tables, machine, versions, command)
  splice DOC.md BLOCK.md               -> replaces the text between the llama-bench-results markers
  brief FILE.json                      -> one human line about a parsed / loadgen JSON file
"""
from __future__ import annotations

import glob
import json
import os
import re
import sys
from typing import Any

BEGIN = "<!-- BEGIN llama-bench-results -->"
END = "<!-- END llama-bench-results -->"


def _json_objects(text: str) -> list[Any]:
    """Every JSON object in text, in order: top-level objects and the elements of top-level
    arrays, also when several documents are concatenated (a retried step appends its output
    to the same file; later records then override earlier ones) or mixed with log lines."""
    dec = json.JSONDecoder()
    out: list[Any] = []
    i, n = 0, len(text)
    while i < n:
        j = min([k for k in (text.find("{", i), text.find("[", i)) if k >= 0], default=-1)
        if j < 0:
            break
        try:
            v, end = dec.raw_decode(text, j)
        except json.JSONDecodeError:
            i = j + 1
            continue
        if isinstance(v, list):
            out.extend(x for x in v if isinstance(x, dict))
        elif isinstance(v, dict):
            out.append(v)
        i = end
    return out


def parse_llama_bench(path: str) -> dict[str, Any]:
    rows = _json_objects(open(path, encoding="utf-8", errors="replace").read())
    res: dict[str, Any] = {}
    for r in rows:
        if not isinstance(r, dict) or "avg_ts" not in r:
            continue
        if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0:
            res["prefill_tok_s"] = r["avg_ts"]
            res["prefill_stddev"] = r.get("stddev_ts")
            res["n_prompt"] = r["n_prompt"]
        elif r.get("n_gen", 0) > 0 and r.get("n_prompt", 0) == 0:
            res["decode_tok_s"] = r["avg_ts"]
            res["decode_stddev"] = r.get("stddev_ts")
            res["n_gen"] = r["n_gen"]
        for k in ("build_commit", "build_number", "cpu_info", "n_threads", "type_k", "flash_attn",
                  "model_type", "model_size", "n_batch", "n_ubatch"):
            if k in r:
                res.setdefault("info", {})[k] = r[k]
    if "prefill_tok_s" not in res or "decode_tok_s" not in res:
        raise SystemExit(f"llama-bench output {path} has no pp/tg rows")
    return res


def parse_batched_bench(path: str) -> dict[str, Any]:
    rows = [r for r in _json_objects(open(path, encoding="utf-8", errors="replace").read())
            if isinstance(r, dict) and "speed_tg" in r]
    if not rows:
        raise SystemExit(f"llama-batched-bench output {path} has no jsonl rows")
    return {"npl": {str(r["pl"]): {"decode_agg_tok_s": r["speed_tg"], "prefill_tok_s": r["speed_pp"],
                                   "total_tok_s": r["speed"], "pp": r["pp"], "tg": r["tg"]}
                    for r in rows}}


def parse_tierlm_bench(path: str) -> dict[str, Any]:
    """Accepts a JSON object (keys like prefill_tok_s / decode_tok_s, pp / tg) or text lines
    such as `prefill: 250.1 tok/s` / `decode 80.2 tok/s`."""
    text = open(path, encoding="utf-8", errors="replace").read()
    res: dict[str, Any] = {}
    for obj in _json_objects(text):
        if not isinstance(obj, dict):
            continue
        flat = dict(obj)
        for v in obj.values():
            if isinstance(v, dict):
                flat.update(v)
        # Exact keys (tierlm bench prints these) win over the heuristics below, which
        # would otherwise read e.g. `gen_tokens` as a decode rate.
        if isinstance(flat.get("prefill_tok_s"), (int, float)) and isinstance(flat.get("decode_tok_s"), (int, float)):
            res["prefill_tok_s"] = float(flat["prefill_tok_s"])
            res["decode_tok_s"] = float(flat["decode_tok_s"])
            return res
        for k, v in flat.items():
            if not isinstance(v, (int, float)):
                continue
            kl = k.lower()
            if ("prefill" in kl or kl.startswith("pp")) and ("tok" in kl or "ts" in kl or "speed" in kl):
                res["prefill_tok_s"] = float(v)
            elif ("decode" in kl or kl.startswith("tg") or "gen" in kl) and ("tok" in kl or "ts" in kl or "speed" in kl):
                res["decode_tok_s"] = float(v)
    if "prefill_tok_s" not in res or "decode_tok_s" not in res:
        for line in text.splitlines():
            m = re.search(r"(prefill|prompt|pp\d*)\D*?([0-9]+(?:\.[0-9]+)?)\s*(tok|t)/s", line, re.I)
            if m and "prefill_tok_s" not in res:
                res["prefill_tok_s"] = float(m.group(2))
            m = re.search(r"(decode|generat\w*|tg\d*)\D*?([0-9]+(?:\.[0-9]+)?)\s*(tok|t)/s", line, re.I)
            if m and "decode_tok_s" not in res:
                res["decode_tok_s"] = float(m.group(2))
    if "prefill_tok_s" not in res or "decode_tok_s" not in res:
        raise SystemExit(f"cannot find prefill/decode tok/s in tierlm bench output {path}")
    return res


def _load(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def assemble(d: str, out: str, kv: list[str]) -> None:
    res: dict[str, Any] = {}
    for item in kv:
        k, _, v = item.partition("=")
        res[k] = v
    res["llama_bench"] = _load(os.path.join(d, "llama-bench.parsed.json"))
    res["batched_bench"] = _load(os.path.join(d, "batched-bench.parsed.json"))
    res["tierlm_bench"] = _load(os.path.join(d, "tierlm-bench.parsed.json"))
    for eng in ("llama-server", "tierlm"):
        e: dict[str, Any] = {}
        for f in sorted(glob.glob(os.path.join(d, f"{eng}.*.json"))):
            name = os.path.basename(f)[len(eng) + 1:-5]
            e[name] = _load(f)
        res[eng.replace("-", "_")] = e or None
    with open(out, "w", encoding="utf-8") as f:
        json.dump(res, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------- markdown

def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _fmt(v: Any, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        s = f"{v:.{digits}f}"
    else:
        s = str(v)
    return s + unit


def _ratio(a: Any, b: Any, inverse: bool = False) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not a or not b:
        return "–"
    return f"{(b / a if inverse else a / b):.2f}×"


def render_model(r: dict[str, Any]) -> str:
    lb, bb, tb = r.get("llama_bench") or {}, r.get("batched_bench") or {}, r.get("tierlm_bench")
    ls, ts = r.get("llama_server") or {}, r.get("tierlm") or {}
    L: list[str] = []
    L.append(f"### {r.get('model_name', '?')}")
    L.append("")
    L.append(f"`{r.get('model_path', '?')}`, measured {r.get('date', '?')} with `{r.get('command', '?')}`.")
    L.append("")
    L.append("| metric | llama-bench / batched-bench | llama-server | tierlm | tierlm / reference | target |")
    L.append("| --- | --- | --- | --- | --- | --- |")

    tb_note = "" if tb else " (no `tierlm bench`)"
    pp = _get(tb, "prefill_tok_s")
    L.append(f"| prefill pp{lb.get('n_prompt', 500)} (tok/s) | {_fmt(lb.get('prefill_tok_s'))} | – | "
             f"{_fmt(pp)}{tb_note} | {_ratio(pp, lb.get('prefill_tok_s'))} | ≥ 0.95× |")
    tg = _get(tb, "decode_tok_s")
    L.append(f"| decode tg{lb.get('n_gen', 128)}, 1 stream (tok/s) | {_fmt(lb.get('decode_tok_s'))} | – | "
             f"{_fmt(tg)}{tb_note} | {_ratio(tg, lb.get('decode_tok_s'))} | ≥ 0.95× |")
    for c in ("1", "4", "8", "16"):
        ref_b = _get(bb, "npl", c, "decode_agg_tok_s")
        s = _get(ls, f"c{c}", "agg_tok_s")
        t = _get(ts, f"c{c}", "agg_tok_s")
        target = "≥ 1.0× llama-server" if c == "8" else ""
        L.append(f"| HTTP aggregate decode, {c} stream{'s' if c != '1' else ''} (tok/s) | {_fmt(ref_b)} | "
                 f"{_fmt(s)} | {_fmt(t)} | {_ratio(t, s)} | {target} |")
    for c in ("1", "8"):
        for p in ("p50", "p99"):
            s = _get(ls, f"c{c}", f"ttft_{p}_s")
            t = _get(ts, f"c{c}", f"ttft_{p}_s")
            L.append(f"| TTFT {p}, {c} stream{'s' if c != '1' else ''} (ms) | – | "
                     f"{_fmt(s * 1000 if s is not None else None, '', 0)} | "
                     f"{_fmt(t * 1000 if t is not None else None, '', 0)} | {_ratio(t, s, inverse=True)} | |")
    s, t = _get(ls, "prefix", "req_s"), _get(ts, "prefix", "req_s")
    L.append(f"| prefix workload, 64 req × ~300-tok shared system (req/s) | – | {_fmt(s, '', 2)} | "
             f"{_fmt(t, '', 2)} | {_ratio(t, s)} | ≥ 2× |")
    s, t = _get(ls, "prefix", "ttft_p50_s"), _get(ts, "prefix", "ttft_p50_s")
    L.append(f"| prefix workload TTFT p50 (ms) | – | {_fmt(s * 1000 if s is not None else None, '', 0)} | "
             f"{_fmt(t * 1000 if t is not None else None, '', 0)} | {_ratio(t, s, inverse=True)} | |")

    def det(e: dict[str, Any]) -> str:
        d = e.get("determinism") if e else None
        if not d:
            return "–"
        return f"{d.get('identical')}/{d.get('prompts')}"
    L.append(f"| determinism, alone vs 8 concurrent (identical) | – | {det(ls)} | {det(ts)} | | 50/50 |")
    s, t = _get(ls, "rss", "peak_rss_mb"), _get(ts, "rss", "peak_rss_mb")
    L.append(f"| peak RSS (MB) | – | {_fmt(s, '', 0)} | {_fmt(t, '', 0)} | {_ratio(t, s)} | |")
    L.append("")
    L.append("Ratios: tierlm / llama-bench for the first two rows, tierlm / llama-server below them "
             "(TTFT: llama-server / tierlm, so > 1 favours tierlm everywhere except peak RSS, where < 1 does).")
    L.append("")
    notes = []
    if r.get("tierlm_status"):
        notes.append(f"tierlm: {r['tierlm_status']}")
    if r.get("contended"):
        notes.append(f"**other processes were using the CPU during: {r['contended']}** (those numbers are low)")
    if notes:
        L.append("_" + "; ".join(notes) + "_")
        L.append("")
    return "\n".join(L)


def markdown(paths: list[str]) -> str:
    rs = [r for r in (_load(p) for p in paths) if r]
    if not rs:
        raise SystemExit("no results")
    first = rs[0]
    L = [
        f"Machine: `{first.get('cpu', '?')}`, {first.get('nproc', '?')} cores (`nproc`); every engine "
        f"runs with {first.get('threads', '?')} threads.",
        "",
        f"- tierlm engine: {first.get('crate_llama', '?')}",
        f"- reference: {first.get('reference_llama', '?')}",
        "- reference rows: `llama-bench -t 2 -p 500 -n 128` (mean of 5 reps); "
        "`llama-batched-bench -c 8192 -b 512 -ub 512 -npp 128 -ntg 128 -npl 1,4,8,16` (S_TG); "
        "`llama-server -np 8 -c 16384 --cont-batching`, same loadgen runs as tierlm "
        "(streaming chat, temperature 0, `max_tokens` 128, tokens from `usage`).",
        "",
    ]
    for r in rs:
        L.append(render_model(r))
    return "\n".join(L).rstrip() + "\n"


def splice(doc: str, block_path: str) -> None:
    block = open(block_path, encoding="utf-8").read().rstrip() + "\n"
    text = open(doc, encoding="utf-8").read() if os.path.exists(doc) else ""
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        text = pre + BEGIN + "\n" + block + END + post
    else:
        text = text.rstrip() + "\n\n" + BEGIN + "\n" + block + END + "\n"
    with open(doc, "w", encoding="utf-8") as f:
        f.write(text)


def brief(path: str) -> str:
    d = _load(path) or {}
    if "prefill_tok_s" in d and "decode_tok_s" in d:
        return f"    prefill {d['prefill_tok_s']:.1f} tok/s, decode {d['decode_tok_s']:.1f} tok/s"
    if "npl" in d:
        return "    aggregate decode " + ", ".join(
            f"{k} streams {v['decode_agg_tok_s']:.1f}" for k, v in d["npl"].items()) + " tok/s"
    wl = d.get("workload")
    ms = lambda v: "–" if v is None else f"{v * 1000:.0f} ms"
    if wl == "throughput":
        return (f"    {d['completion_tokens']} tok in {d['wall_s']:.1f}s -> {d['agg_tok_s']:.1f} tok/s, "
                f"TTFT p50 {ms(d['ttft_p50_s'])} p99 {ms(d['ttft_p99_s'])}, finish {d['finish_reasons']}")
    if wl == "prefix":
        return (f"    {d['req_s']:.2f} req/s, TTFT p50 {ms(d['ttft_p50_s'])} p99 {ms(d['ttft_p99_s'])}, "
                f"prompt tokens ~{d.get('prompt_tokens_mean')}")
    if wl == "determinism":
        return f"    identical {d['identical']}/{d['prompts']} (errors {d['errors']})"
    return "    " + json.dumps(d)[:300]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "llama-bench":
        print(json.dumps(parse_llama_bench(args[0])))
    elif cmd == "batched-bench":
        print(json.dumps(parse_batched_bench(args[0])))
    elif cmd == "tierlm-bench":
        print(json.dumps(parse_tierlm_bench(args[0])))
    elif cmd == "assemble":
        assemble(args[0], args[1], args[2:])
    elif cmd == "markdown":
        sys.stdout.write(markdown(args))
    elif cmd == "brief":
        print(brief(args[0]))
    elif cmd == "splice":
        splice(args[0], args[1])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
