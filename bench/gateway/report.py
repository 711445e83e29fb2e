#!/usr/bin/env python3
"""Checks and the report of bench/gateway/run (issue 7: gateway overhead vs LiteLLM).

Subcommands (stdlib only):

  preflight FILE        a tierlm-loadgen report must be 100% `ok` (exit 1 otherwise)
  check-tierlm DIR      tierlm's ledger (DIR/tierlm.db) has rows and its egress audit
                        (DIR/audit.jsonl) has lines with a redacted EMAIL (exit 1 otherwise)
  step FILE             judge one load step: exit 0 (valid), 4 (the target failed badly:
                        < 50% success, overload errors only), 3 (unexpected errors: a
                        non-2xx or malformed answer that is no overload symptom, or any
                        error at all from the direct mock, which is the baseline)
  summarize DIR ...     every step of a run -> results JSON + Markdown table; exit 1 when
                        the run is not valid (then --doc is not touched)

Overload symptoms (expected beyond a gateway's capacity, they only lower its success
rate): timeout, connect, io, client_overload, stream_cut, HTTP 429/502/503/504.
Anything else — 400, 401, 404, 500, a 2xx that is not a chat completion — means the
harness or a gateway is broken, and no figure from the run is reported.

Added latency = gateway percentile − direct-mock percentile, same rate and mode, both
measured from each request's scheduled send time by the same open-loop generator.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import sqlite3
import time
import subprocess
import sys

OVERLOAD = {"timeout", "connect", "io", "client_overload", "stream_cut",
            "http_429", "http_502", "http_503", "http_504"}
FAIL_BELOW = 0.5          # success rate under which a gateway is not tried at higher rates
SUSTAIN_P99_MS = 10.0     # "sustains": 100% success and p99 added latency under this
BEGIN = "<!-- BEGIN gateway-overhead-results -->"
END = "<!-- END gateway-overhead-results -->"


def load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def unexpected(rep: dict) -> dict:
    return {k: v for k, v in rep.get("counts", {}).items() if k != "ok" and k not in OVERLOAD}


def judge(rep: dict) -> int:
    """0 valid, 4 failed badly (overload only), 3 unexpected errors."""
    errors = {k: v for k, v in rep.get("counts", {}).items() if k != "ok"}
    if rep.get("label") == "mock" and errors:
        return 3
    if unexpected(rep):
        return 3
    if rep.get("requests", 0) == 0:
        return 3
    if rep.get("success_rate", 0.0) < FAIL_BELOW:
        return 4
    return 0


def step_line(rep: dict) -> str:
    lat = rep.get("latency") or {}
    errs = " ".join(f"{k}={v}" for k, v in rep.get("counts", {}).items() if k != "ok")
    res = rep.get("resources", {}).get("gateway") or rep.get("resources", {}).get("mock") or {}
    other = (rep.get("machine") or {}).get("other_cpu_share", 0.0)
    return (f"{rep['label']:8} {'stream' if rep['stream'] else 'json':6} {rep['rate']:6.0f} rps  "
            f"ok {rep['success_rate'] * 100:6.2f}%  p50 {lat.get('p50_ms', float('nan')):7.2f}  "
            f"p99 {lat.get('p99_ms', float('nan')):7.2f}  max {lat.get('max_ms', float('nan')):8.2f} ms  "
            f"cpu {res.get('cpu_s_per_1k', 0):.3f} s/1k  rss {max(res.get('hwm_mb', 0), res.get('rss_peak_sampled_mb', 0)):.0f} MB  "
            f"other {other * 100:.0f}%" + (f"  [{errs}]" if errs else ""))


def cmd_preflight(a) -> int:
    rep = load(a.file)
    if rep.get("requests", 0) > 0 and rep.get("ok") == rep.get("requests"):
        return 0
    print(f"preflight {rep.get('label')} ({'stream' if rep.get('stream') else 'json'}): "
          f"{rep.get('ok')}/{rep.get('requests')} ok; counts {rep.get('counts')}", file=sys.stderr)
    for s in rep.get("error_samples", [])[:3]:
        print(f"  {s.get('class')} {s.get('status')}: {s.get('body')}", file=sys.stderr)
    return 1


def cmd_check_tierlm(a) -> int:
    db = os.path.join(a.dir, "tierlm.db")
    audit = os.path.join(a.dir, "audit.jsonl")
    try:
        if a.no_ledger:
            raise FileNotFoundError
        # The gateway commits its row queue a few milliseconds after the answers.
        for _ in range(40):
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
            rows = con.execute("select count(*) from requests").fetchone()[0] if "requests" in tables else 0
            con.close()
            if rows:
                break
            time.sleep(0.05)
    except FileNotFoundError:
        tables, rows = [], 0
    except sqlite3.Error as e:
        print(f"ledger {db}: {e}", file=sys.stderr)
        return 1
    redacted = 0
    lines = 0
    if os.path.exists(audit):
        with open(audit) as f:
            for line in f:
                lines += 1
                try:
                    redacted += int(json.loads(line).get("redacted", {}).get("EMAIL", 0) > 0)
                except (ValueError, AttributeError):
                    pass
    print(f"tierlm: ledger rows {rows} (tables {tables}), audit lines {lines}, with a redacted EMAIL {redacted}",
          file=sys.stderr)
    return 0 if (rows > 0 or a.no_ledger) and lines > 0 and redacted > 0 else 1


def cmd_step(a) -> int:
    rep = load(a.file)
    print(step_line(rep), flush=True)
    rc = judge(rep)
    if rc == 3:
        print(f"  unexpected: {unexpected(rep) or rep.get('counts')}", file=sys.stderr)
        for s in rep.get("error_samples", [])[:5]:
            print(f"  {s.get('class')} {s.get('status')}: {s.get('body')}", file=sys.stderr)
    elif rc == 4:
        print(f"  {rep['label']} failed at {rep['rate']:.0f} rps "
              f"({rep['success_rate'] * 100:.1f}% success); not tried at higher rates", file=sys.stderr)
    return rc


def pct(rep: dict | None, key: str, p: str):
    if not rep:
        return None
    v = (rep.get(key) or {}).get(p)
    return v


def added(gw: dict, mock: dict | None, p: str):
    g, m = pct(gw, "latency", p), pct(mock, "latency", p)
    return None if g is None or m is None else g - m


def machine_info(tierlm_built: str | None = None, git_commit: str | None = None) -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    def run(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "git_commit": git_commit or run("git", "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(run("git", "status", "--porcelain", "--untracked-files=no")),
        "tierlm_binary_mtime": tierlm_built or datetime.datetime.fromtimestamp(
            os.path.getmtime("target/release/tierlm"), datetime.timezone.utc).isoformat(timespec="seconds")
        if os.path.exists("target/release/tierlm") else None,
    }


def fmt(v, nd=2, unit=""):
    if v is None:
        return "–"
    return f"{v:.{nd}f}{unit}"


def summarize(steps: list[dict], foreign_max: float) -> dict:
    by = {(s["label"], "stream" if s["stream"] else "json", s["rate"]): s for s in steps}
    gateways = sorted({s["label"] for s in steps if s["label"] != "mock"}, key=lambda g: (g != "tierlm", g))
    modes = [m for m in ("json", "stream") if any(k[1] == m for k in by)]
    rows, problems = [], []
    contended = []
    for s in steps:
        other = (s.get("machine") or {}).get("other_cpu_share", 0.0)
        if other * 100 > foreign_max:
            contended.append(f"{s['label']} {'stream' if s['stream'] else 'json'} {s['rate']:.0f} rps: {other * 100:.0f}%"
                             + busiest_text(s))
        rc = judge(s)
        if rc == 3:
            problems.append(f"unexpected errors: {s['label']} {s['rate']:.0f} rps: {s.get('counts')}")
    for g in gateways:
        for m in modes:
            rates = sorted(r for (lab, mo, r) in by if lab == g and mo == m)
            # Overload errors only (anything else is a problem above); a gateway that
            # answers nothing at all at its lowest rate is broken, not saturated.
            if rates and by[(g, m, rates[0])]["ok"] == 0:
                problems.append(f"{g} {m} answered no request at its lowest rate ({rates[0]:.0f} rps)")
    sustained = {}
    for g in ["mock"] + gateways:
        for m in modes:
            rates = sorted(r for (lab, mo, r) in by if lab == g and mo == m)
            best = None
            for r in rates:
                s = by[(g, m, r)]
                add99 = added(s, by.get(("mock", m, r)), "p99_ms") if g != "mock" else 0.0
                # The highest passing rate, as the issue words it, even above a rate that
                # failed (LiteLLM's p99 at 20 req/s can exceed its p99 at 100).
                if s["success_rate"] == 1.0 and add99 is not None and add99 < SUSTAIN_P99_MS:
                    best = r
            sustained[f"{g}/{m}"] = {"rate": best, "highest_tested": rates[-1] if rates else None}
            for r in rates:
                s = by[(g, m, r)]
                mock = by.get(("mock", m, r))
                res = s.get("resources", {}).get("gateway" if g != "mock" else "mock", {})
                rows.append({
                    "target": g, "mode": m, "rate": r,
                    "success_rate": s["success_rate"], "achieved_rps": s["achieved_rps"],
                    "counts": s["counts"],
                    "latency_ms": s.get("latency"), "ttft_ms": s.get("ttft"),
                    "added_ms": None if g == "mock" else {
                        p: added(s, mock, f"{p}_ms") for p in ("p50", "p90", "p99")},
                    "cpu_s_per_1k": res.get("cpu_s_per_1k"),
                    "peak_rss_mb": max(res.get("hwm_mb", 0.0), res.get("rss_peak_sampled_mb", 0.0)) or None,
                    "mock_cpu_s_per_1k": s.get("resources", {}).get("mock", {}).get("cpu_s_per_1k"),
                    "send_lag_p99_ms": pct(s, "send_lag", "p99_ms"),
                    "other_cpu_share": (s.get("machine") or {}).get("other_cpu_share"),
                    "loadgen_cpu_s": (s.get("machine") or {}).get("loadgen_cpu_s"),
                    "passed": s["success_rate"] == 1.0 and (g == "mock" or (
                        added(s, mock, "p99_ms") is not None and added(s, mock, "p99_ms") < SUSTAIN_P99_MS)),
                })
    return {"rows": rows, "sustained": sustained, "problems": problems, "contended": contended,
            "gateways": gateways, "modes": modes}


def targets(summary: dict) -> list[dict]:
    rows = {(r["target"], r["mode"], r["rate"]): r for r in summary["rows"]}
    out = []
    for m in summary["modes"]:
        t1k = rows.get(("tierlm", m, 1000))
        if t1k:
            a99 = (t1k["added_ms"] or {}).get("p99")
            out.append({"target": f"tierlm p99 added ≤ 1 ms at 1,000 rps ({m})", "measured": fmt(a99, 3, " ms"),
                        "met": a99 is not None and a99 <= 1.0 and t1k["success_rate"] == 1.0})
            out.append({"target": f"tierlm RSS ≤ 100 MB at 1,000 rps ({m})", "measured": fmt(t1k["peak_rss_mb"], 0, " MB"),
                        "met": t1k["peak_rss_mb"] is not None and t1k["peak_rss_mb"] <= 100})
        ls = summary["sustained"].get(f"litellm/{m}", {}).get("rate")
        ts = summary["sustained"].get(f"tierlm/{m}", {})
        if ls and rows.get(("tierlm", m, ls)):
            la = (rows[("litellm", m, ls)]["added_ms"] or {}).get("p99")
            ta = (rows[("tierlm", m, ls)]["added_ms"] or {}).get("p99")
            ratio = (la / ta) if la is not None and ta is not None and ta > 0 else None
            out.append({"target": f"LiteLLM p99 overhead / tierlm's at {ls:.0f} rps, LiteLLM's highest sustained ({m}) ≥ 20×",
                        "measured": f"{fmt(la, 2)} / {fmt(ta, 3)} ms = {fmt(ratio, 1, '×')}"
                        + (" (tierlm's added p99 ≤ 0: below the noise)" if ta is not None and ta <= 0 else ""),
                        "met": (ratio is not None and ratio >= 20) or (ta is not None and ta <= 0 and la is not None and la > 0)})
        if not ls:
            # LiteLLM sustained no rate (its p99 added is ≥ 10 ms everywhere): the target
            # has no rate to be read at, so give the ratios at the highest rate LiteLLM
            # still answered in full, as information, not as a verdict.
            full = [r for r in summary["rows"] if r["target"] == "litellm" and r["mode"] == m
                    and r["success_rate"] == 1.0 and rows.get(("tierlm", m, r["rate"]))]
            if full:
                r = max(full, key=lambda r: r["rate"])
                la, ta = r["added_ms"] or {}, rows[("tierlm", m, r["rate"])]["added_ms"] or {}
                parts = []
                for q in ("p50", "p99"):
                    a, b = la.get(q), ta.get(q)
                    ratio = fmt(a / b, 1, "×") if a is not None and b is not None and b > 0 else "n/a"
                    parts.append(f"{q} {fmt(a, 2)} / {fmt(b, 3)} ms = {ratio}")
                out.append({"target": f"LiteLLM overhead / tierlm's ({m}) ≥ 20× at LiteLLM's highest sustained rate",
                            "measured": f"LiteLLM sustained none; at {r['rate']:.0f} rps, the highest it answered in full: "
                            + "; ".join(parts), "met": None})
        if ls and ts.get("rate"):
            bound = " (tierlm sustained the highest rate tested: a lower bound)" if ts["rate"] == ts["highest_tested"] else ""
            out.append({"target": f"tierlm's highest sustained rate ≥ 5× LiteLLM's ({m})",
                        "measured": f"{ts['rate']:.0f} / {ls:.0f} = {ts['rate'] / ls:.1f}×{bound}",
                        "met": ts["rate"] / ls >= 5})
        elif ts.get("rate") and not ls and ("litellm", m) in {(r["target"], r["mode"]) for r in summary["rows"]}:
            out.append({"target": f"tierlm's highest sustained rate ≥ 5× LiteLLM's ({m})",
                        "measured": f"LiteLLM sustained none of the rates tested; tierlm {ts['rate']:.0f}", "met": None})
    return out


def markdown(summary: dict, meta: dict) -> str:
    L = []
    label = meta["label"]
    L.append(f"**{label} run**, {meta['date']}, `{meta['command']}`")
    L.append("")
    mi = meta["machine"]
    L.append(f"Machine: `{mi['cpu']}`, {mi['cpus']} CPUs, Linux {mi['kernel']}; commit `{mi['git_commit']}`"
             f"{' (uncommitted changes)' if mi['git_dirty'] else ''}, tierlm binary built {mi['tierlm_binary_mtime']}; "
             f"LiteLLM {meta.get('litellm_version') or '?'} (one worker, no database). Generator, mock and gateways "
             f"share the {mi['cpus']} CPUs; {meta['duration_s']:.0f} s per step after {meta['warmup_s']:.0f} s warm-up.")
    L.append("")
    if summary["contended"]:
        L.append(f"**Contended**: other processes took more than {meta['foreign_max']:.0f}% of the CPU during "
                 + "; ".join(summary["contended"][:6]) + (" …" if len(summary["contended"]) > 6 else "")
                 + ". These numbers are not final.")
        L.append("")
    L.append("| gateway | mode | rate (req/s) | success | achieved (req/s) | p50 / p90 / p99 (ms) | added p50 / p90 / p99 (ms) | CPU s / 1k req | peak RSS (MB) | other CPU |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in summary["rows"]:
        lat = r["latency_ms"] or {}
        add = r["added_ms"] or {}
        errs = ", ".join(f"{k} {v}" for k, v in r["counts"].items() if k != "ok")
        L.append("| {t} | {m} | {rate:.0f} | {s:.2f}%{e} | {ach:.0f} | {a} / {b} / {c} | {d} | {cpu} | {rss} | {oth} |".format(
            t="mock (direct)" if r["target"] == "mock" else r["target"], m=r["mode"], rate=r["rate"],
            s=r["success_rate"] * 100, e=f" ({errs})" if errs else "", ach=r["achieved_rps"],
            a=fmt(lat.get("p50_ms")), b=fmt(lat.get("p90_ms")), c=fmt(lat.get("p99_ms")),
            d="–" if r["target"] == "mock" else f"{fmt(add.get('p50'), 3)} / {fmt(add.get('p90'), 3)} / {fmt(add.get('p99'), 3)}",
            cpu=fmt(r["cpu_s_per_1k"], 3), rss=fmt(r["peak_rss_mb"], 0),
            oth=fmt((r["other_cpu_share"] or 0) * 100, 0, "%")))
    L.append("")
    L.append(f"Highest rate sustained with 100% success and p99 added < {SUSTAIN_P99_MS:.0f} ms (the highest such rate tested, in ascending order; "
             "a gateway under 50% success is not tried higher):")
    L.append("")
    for k, v in summary["sustained"].items():
        if k.startswith("mock/"):
            continue
        rate = "none" if v["rate"] is None else f"{v['rate']:.0f} req/s"
        L.append(f"- {k}: {rate}"
                 + (" (the highest rate tested)" if v["rate"] is not None and v["rate"] == v["highest_tested"] else ""))
    L.append("")
    tg = targets(summary)
    if tg:
        L.append("| issue 7 target | measured | met |")
        L.append("| --- | --- | --- |")
        for t in tg:
            met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
            L.append(f"| {t['target']} | {t['measured']} | {met} |")
        L.append("")
    return "\n".join(L)


def busiest_text(rep: dict) -> str:
    """' (litellm 5.2 s, python3 0.8 s)': the other processes that used the most CPU
    during the step, as the generator named them, or ''."""
    top = (rep.get("machine") or {}).get("other_busiest") or []
    named = [f"{t['comm']} {t['cpu_s']:.1f} s" for t in top if t["cpu_s"] >= 0.5]
    return f" ({', '.join(named)})" if named else ""


def cmd_summarize(a) -> int:
    steps = [load(p) for p in sorted(glob.glob(os.path.join(a.dir, "*.json")))]
    if not steps:
        print("no steps", file=sys.stderr)
        return 1
    summary = summarize(steps, a.foreign_max)
    s0 = steps[0]
    meta = {
        "label": a.label + (" (contended)" if summary["contended"] else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": a.command, "machine": machine_info(a.tierlm_built, a.git_commit), "litellm_version": a.litellm_version,
        "duration_s": s0["duration_s"], "warmup_s": s0["warmup_s"], "foreign_max": a.foreign_max,
    }
    valid = not summary["problems"]
    out = {"valid": valid, "meta": meta, **summary, "targets": targets(summary)}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)
    md = markdown(summary, meta)
    with open(a.markdown, "w") as f:
        f.write(md + "\n")
    print(md)
    if not valid:
        for p in summary["problems"]:
            print(f"INVALID RUN: {p}", file=sys.stderr)
        return 1
    if a.doc:
        with open(a.doc) as f:
            text = f.read()
        if BEGIN not in text or END not in text:
            print(f"{a.doc}: markers {BEGIN} / {END} not found; not updated", file=sys.stderr)
            return 1
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(a.doc, "w") as f:
            f.write(head + BEGIN + "\n" + md + "\n" + END + tail)
        print(f"updated {a.doc}", file=sys.stderr)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("preflight"); p.add_argument("file"); p.set_defaults(fn=cmd_preflight)
    p = sub.add_parser("check-tierlm"); p.add_argument("dir")
    p.add_argument("--no-ledger", action="store_true", help="the ledger is off: check the audit only")
    p.set_defaults(fn=cmd_check_tierlm)
    p = sub.add_parser("step"); p.add_argument("file"); p.set_defaults(fn=cmd_step)
    p = sub.add_parser("summarize")
    p.add_argument("dir")
    p.add_argument("--out", required=True)
    p.add_argument("--markdown", required=True)
    p.add_argument("--label", default="full")
    p.add_argument("--command", default="bench/gateway/run")
    p.add_argument("--foreign-max", type=float, default=10.0)
    p.add_argument("--litellm-version", default="")
    p.add_argument("--tierlm-built", help="build time of the tierlm binary that ran")
    p.add_argument("--git-commit", help="the commit checked out when the run started")
    p.add_argument("--doc")
    p.set_defaults(fn=cmd_summarize)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
