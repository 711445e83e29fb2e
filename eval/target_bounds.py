#!/usr/bin/env python3
"""What any router can reach on the development workload, whatever its decisions.

The router and flywheel issues set targets on the held-out split: >= 80% of requests
served locally and cost <= 15% (router) or <= 10% (flywheel) of all-cloud, both at
quality >= 95% of all-cloud. This script computes the best local share and the lowest
cost that ANY assignment of requests to local or cloud can reach at that quality floor,
given a ceiling on how well the local side answers each task.

Quality is the workload's item-weighted mean score (what `tierlm eval` reports), so a
local answer costs `cloud_quality - local_quality` points of the quality budget
`(1 - floor) * sum(cloud_quality)`, and saves its request's cloud price (the mock's
token rule, whitespace words, at gpt-4o's list prices: what `tierlm eval` charges). With
per-task ceilings the best choice is a fractional knapsack, solved exactly by greedy
order: for the most local requests, the cheapest quality loss first; for the lowest
cost, the most dollars saved per point of quality lost first (requests of a task sorted
by price, the dearest first, which favours the router: the ceiling is a task average).

Local ceilings (`--local`, task=score): the defaults give every label task a perfect
local answer (1.0, better than any student measured), summaries the best local score
measured (the LoRA student, ROUGE-L 0.236 against the reference; the base model has
0.084), and maths and code the local model's measured all-local scores (0.08). Cloud
scores: 1.0, HumanEval 0.96 (two canonical solutions fail their own tests).

It also prices what the router issue's routing-accuracy target (>= 95%: routine ->
local, complex -> cloud) leaves on the cloud: the complex requests that may not be
misrouted.

Usage: eval/target_bounds.py [--workload eval/data/heldout.jsonl] [--floor 0.95]
                             [--accuracy 0.95] [--local acl_summary=0.5 ...] [--json]
Standard library only.
"""
import argparse
import json
import sys

PRICE_IN, PRICE_OUT = 2.50e-6, 10.00e-6  # gpt-4o, $ per token (the eval's catalog entry)
LOCAL = {"sms_spam": 1.0, "bbc_topic": 1.0, "trec_qtype": 1.0,
         "acl_summary": 0.236, "gsm8k": 0.08, "humaneval": 0.08}
CLOUD = {"humaneval": 0.96}


def words(text):
    return len(text.split())


def price(item):
    prompt = sum(words(m["content"]) for m in item["messages"])
    return PRICE_IN * prompt + PRICE_OUT * words(item["reference"])


def bounds(items, floor, local, cloud):
    """(max local share, its cost share), (min cost share, its local share), budget."""
    q_cloud = sum(cloud.get(it["task"], 1.0) for it in items)
    budget = (1.0 - floor) * q_cloud
    total = sum(price(it) for it in items)
    per = []
    for it in items:
        t = it["task"]
        loss = max(0.0, cloud.get(t, 1.0) - local[t])
        per.append((loss, price(it), t))

    def fill(order):
        left, n_local, saved, used = budget, 0.0, 0.0, {}
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
    ap.add_argument("--accuracy", type=float, default=0.95,
                    help="routing accuracy target (routine -> local, complex -> cloud)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    local = dict(LOCAL)
    for kv in a.local:
        task, _, score = kv.partition("=")
        if task not in local:
            sys.exit(f"target_bounds: unknown task {task!r}")
        local[task] = float(score)
    with open(a.workload, encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]
    (ls, lc, lused), (cs_local, cs, cused), budget, q_cloud = bounds(items, a.floor, local, CLOUD)
    total = sum(price(it) for it in items)
    shares = {}
    for it in items:
        shares[it["task"]] = shares.get(it["task"], 0.0) + price(it) / total
    out = {
        "items": len(items), "floor": a.floor, "local_ceilings": local,
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
    print("local ceilings: " + ", ".join(f"{t} {v:g}" for t, v in local.items()))
    print(f"most requests local at the floor: {ls:.1%} (cost {lc:.1%} of all-cloud)")
    print(f"lowest cost at the floor:         {cs:.1%} of all-cloud ({cs_local:.1%} local)")
    print(f"routing accuracy >= {a.accuracy:.0%} leaves at most {out['misrouted_allowed']} requests "
          f"misrouted; the complex ones still on the cloud then cost at least "
          f"{out['cost_floor_at_routing_accuracy']:.1%} of all-cloud, whatever else is local")


if __name__ == "__main__":
    main()
