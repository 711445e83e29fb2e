#!/usr/bin/env python3
"""What any router can reach on the development workload, whatever its decisions.

The local-tiers issue sets targets on the held-out split: >= 80% of requests answered
locally, quality >= 95% of all-cloud, cost <= 35% of all-cloud. This script computes the
best local share and the lowest cost that ANY assignment of requests to local or cloud
can reach at that quality floor, given a ceiling on how well the local side answers each
task and what the cloud scores on it.

Quality is the workload's item-weighted mean score (what `tierlm eval` reports), so a
local answer costs `cloud_quality - local_quality` points of the quality budget
`(1 - floor) * sum(cloud_quality)` (a local answer better than the cloud's gains
points), and saves its request's cloud price (the mock's token rule, whitespace words,
at gpt-4o's list prices: what `tierlm eval` charges). With per-task ceilings the best
choice is a fractional knapsack, solved exactly by greedy order: for the most local
requests, the cheapest quality loss first; for the lowest cost, the most dollars saved
per point of quality lost first (requests of a task sorted by price, the dearest first,
which favours the router: the ceiling is a task average). Requests of a `--kept` task
(default: entity_extract, whose personal data the guard keeps on the premises) are
local whatever the router does: their loss is taken first.

Ceilings:
- defaults (`--local`, `--cloud`): what a good local system could reach — every label
  task and the extraction answered perfectly, summaries as good as the teacher's (the
  teacher answers with an annotator's highlighted sentence, ROUGE-L 0.27 against the
  reference over all 750 paper-aspects), maths and code at Qwen2.5-Coder-0.5B's scale
  (0.3); cloud 1.0, summaries 0.27, HumanEval 0.96 (two canonical solutions fail their
  own tests);
- `--report FILE` (the `--json` output of `tierlm eval`): the measured ones — per task,
  the all-cloud quality, and the best single tier's mean quality as the local ceiling.

It also prices what a routing accuracy target (routine -> local, complex -> cloud)
leaves on the cloud: the complex requests that may not be misrouted.

Usage: eval/target_bounds.py [--workload eval/data/heldout.jsonl] [--floor 0.95]
                             [--report eval/results/heldout.json] [--local TASK=SCORE ...]
                             [--cloud TASK=SCORE ...] [--kept TASK ...] [--json]
Standard library only.
"""
import argparse
import json
import sys

PRICE_IN, PRICE_OUT = 2.50e-6, 10.00e-6  # gpt-4o, $ per token (the eval's catalog entry)
LOCAL = {"sms_spam": 1.0, "bbc_topic": 1.0, "trec_qtype": 1.0, "entity_extract": 1.0,
         "acl_summary": 0.27, "gsm8k": 0.3, "humaneval": 0.3}
CLOUD = {"acl_summary": 0.27, "humaneval": 0.96}


def words(text):
    return len(text.split())


def price(item):
    prompt = sum(words(m["content"]) for m in item["messages"])
    return PRICE_IN * prompt + PRICE_OUT * words(item["reference"])


def bounds(items, floor, local, cloud, kept=()):
    """(max local share, its cost share), (min cost share, its local share), budget."""
    q_cloud = sum(cloud.get(it["task"], 1.0) for it in items)
    budget = (1.0 - floor) * q_cloud
    total = sum(price(it) for it in items)
    per, forced = [], []
    for it in items:
        t = it["task"]
        loss = cloud.get(t, 1.0) - local[t]
        (forced if t in kept else per).append((loss, price(it), t))

    def fill(order):
        left, n_local, saved, used = budget, 0.0, 0.0, {}
        for loss, cost, t in forced:
            left -= loss
            n_local += 1
            saved += cost
            used[t] = used.get(t, 0.0) + 1
        for loss, cost, t in order:
            take = 1.0 if loss <= left else (left / loss if loss > 0 else 1.0)
            if take <= 0:
                break
            left -= take * loss
            n_local += take
            saved += take * cost
            used[t] = used.get(t, 0.0) + take
        return n_local / len(items), 1.0 - saved / total, used

    most_local = fill(sorted(per, key=lambda p: (p[0], -p[1])))
    cheapest = fill(sorted(per, key=lambda p: (p[0] / p[1] if p[1] else 0.0, -p[1])))
    return most_local, cheapest, budget, q_cloud


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", default="eval/data/heldout.jsonl")
    ap.add_argument("--floor", type=float, default=0.95, help="quality floor vs all-cloud")
    ap.add_argument("--local", action="append", default=[], metavar="TASK=SCORE",
                    help="ceiling of the local answer's score for a task")
    ap.add_argument("--cloud", action="append", default=[], metavar="TASK=SCORE",
                    help="the all-cloud score of a task")
    ap.add_argument("--report", help="a `tierlm eval --json` output: measured ceilings")
    ap.add_argument("--kept", action="append", default=None, metavar="TASK",
                    help="a task kept local by policy (default: entity_extract)")
    ap.add_argument("--accuracy", type=float, default=0.95,
                    help="routing accuracy target (routine -> local, complex -> cloud)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    local, cloud = dict(LOCAL), dict(CLOUD)
    if a.report:
        with open(a.report, encoding="utf-8") as f:
            report = json.load(f)
        for task, t in report["per_task"].items():
            tiers = [q for q in (t.get("quality_tiers") or {}).values() if q is not None]
            if tiers:
                local[task] = max(tiers)
            elif t.get("quality_local") is not None:
                local[task] = t["quality_local"]
            if t.get("quality_cloud") is not None:
                cloud[task] = t["quality_cloud"]
    for kv, into in [(kv, local) for kv in a.local] + [(kv, cloud) for kv in a.cloud]:
        task, _, score = kv.partition("=")
        if task not in LOCAL:
            sys.exit(f"target_bounds: unknown task {task!r}")
        into[task] = float(score)
    kept = tuple(a.kept if a.kept is not None else ["entity_extract"])
    with open(a.workload, encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]
    (ls, lc, lused), (cs_local, cs, cused), budget, q_cloud = bounds(
        items, a.floor, local, cloud, kept)
    total = sum(price(it) for it in items)
    shares = {}
    for it in items:
        shares[it["task"]] = shares.get(it["task"], 0.0) + price(it) / total
    out = {
        "items": len(items), "floor": a.floor, "local_ceilings": local,
        "cloud_scores": cloud, "kept_local": list(kept),
        "quality_budget_points": round(budget, 2), "cloud_quality_points": round(q_cloud, 2),
        "cloud_cost_share_by_task": {t: round(v, 4) for t, v in sorted(shares.items())},
        "max_local_share": round(ls, 4), "cost_at_max_local_share": round(lc, 4),
        "min_cost_share": round(cs, 4), "local_share_at_min_cost": round(cs_local, 4),
        "local_items_at_max_share": {t: round(v, 1) for t, v in sorted(lused.items())},
        "local_items_at_min_cost": {t: round(v, 1) for t, v in sorted(cused.items())},
    }
    # Routing accuracy (routine -> local, complex -> cloud) >= a.accuracy allows at most
    # this many misrouted requests; even if they are the dearest complex ones and every
    # routine request is local, the other complex requests are billed.
    allowed = int((1.0 - a.accuracy) * len(items) + 1e-9)
    complex_prices = sorted((price(it) for it in items if it["class"] == "complex"), reverse=True)
    out["misrouted_allowed"] = allowed
    out["cost_floor_at_routing_accuracy"] = round(sum(complex_prices[allowed:]) / total, 4)
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{len(items)} requests; quality floor {a.floor:.0%} of all-cloud "
          f"({q_cloud:.2f} points): {budget:.2f} points may be lost")
    print("share of the all-cloud bill by task: " + ", ".join(
        f"{t} {v:.1%}" for t, v in sorted(shares.items())))
    print("local ceilings: " + ", ".join(f"{t} {v:.3g}" for t, v in local.items()))
    print("cloud scores:   " + ", ".join(f"{t} {cloud.get(t, 1.0):.3g}" for t in local))
    print("kept local by policy: " + (", ".join(kept) or "none"))
    print(f"most requests local at the floor: {ls:.1%} (cost {lc:.1%} of all-cloud)")
    print(f"lowest cost at the floor:         {cs:.1%} of all-cloud ({cs_local:.1%} local)")
    print(f"routing accuracy >= {a.accuracy:.0%} leaves at most {out['misrouted_allowed']} requests "
          f"misrouted; the complex ones still on the cloud then cost at least "
          f"{out['cost_floor_at_routing_accuracy']:.1%} of all-cloud, whatever else is local")


if __name__ == "__main__":
    main()
