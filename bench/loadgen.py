#!/usr/bin/env python3
"""Streaming load generator for OpenAI-compatible servers (tierlm, llama-server, ...).

Talks to ``/v1/chat/completions`` (default) or ``/v1/completions`` with ``stream: true``
and ``stream_options: {"include_usage": true}``; token counts come from the server's
``usage`` (never from counting chunks), so servers that batch several tokens into one
chunk are measured correctly.  Requests use ``temperature: 0`` and never ``ignore_eos``;
long decodes are forced with story prompts and a fixed ``max_tokens``.

Workloads (``--workload``):
  throughput   ``--requests M`` requests, at most ``--concurrency N`` in flight, each a
               distinct long-story prompt of about ``--prompt-words W`` words (or
               ``--prompt-file``), ``--max-tokens K``.  Reports TTFT p50/p99, total
               completion tokens, wall time, aggregate completion tok/s, requests/s.
  prefix       64 requests sharing one ~300-token system message, each with a distinct
               ~60-token user input, ``max_tokens`` 5 (concurrency default 8).  Reports
               requests/s and TTFT.  A server that reuses the shared prefix's KV cache
               answers these much faster than one that prefills every request in full.
  determinism  50 prompts at temperature 0, ``max_tokens`` 32, each run once alone
               (sequentially) and once in a batch of 8 concurrent requests.  Reports the
               fraction whose text is byte-identical between the two runs.  ``--mixed``:
               in the second run each prompt shares its batch with 7 ordinary requests
               (other prompts), as real traffic would; ``--deterministic`` sends the
               measured prompts with tierlm's ``"deterministic": true`` (the fillers
               stay ordinary).  The second run's tokens/s shows the throughput cost.

Prints one JSON summary on stdout (``--out FILE`` also writes it).  Exit status: 0 on
success, 1 if any request failed (HTTP error, bad stream, missing ``usage``), 2 on usage
errors.  Progress and errors go to stderr.

Example:
  python bench/loadgen.py --base-url http://127.0.0.1:8080 --model bench \\
      --concurrency 8 --requests 16 --max-tokens 128
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

try:
    import httpx
except ImportError:  # pragma: no cover
    sys.stderr.write("loadgen.py needs httpx: pip install httpx\n")
    sys.exit(2)


# ----------------------------------------------------------------------------- prompts

TOPICS = [
    "a lighthouse keeper who finds a message in a bottle",
    "a robot learning to bake bread",
    "two rival chess players stranded on an island",
    "a dragon who is afraid of heights",
    "a detective solving a mystery on a night train",
    "a child who can talk to the wind",
    "the last bookshop in a futuristic city",
    "a sailor searching for a lost map",
    "a gardener whose plants sing at night",
    "an astronaut who returns home after fifty years",
    "a cat that becomes mayor of a small town",
    "a blacksmith forging a sword for a queen",
    "a musician who hears colours",
    "a village that disappears every winter",
    "a clockmaker who can stop time for one minute a day",
    "a young witch failing her first exam",
    "a fox and a crow who start a bakery",
    "a painter whose portraits come alive",
    "a miner who discovers an underground sea",
    "a librarian guarding a forbidden book",
    "a pilot lost in a storm over the desert",
    "a ghost who wants to learn to cook",
    "a twin brother and sister who swap lives",
    "a scientist who shrinks to the size of an ant",
]

FILLER = (
    "The story should have vivid descriptions of places, people, weather, sounds and "
    "smells, long dialogues between the characters, several surprising twists, a slow "
    "beginning, a dramatic middle and a gentle ending. Describe what every character "
    "thinks and feels, what they remember from their childhood, what they hope for and "
    "what they fear. Include the names of towns, rivers, mountains, ships and animals, "
    "the colours of the sky at different hours, the food they eat and the songs they "
    "sing. Do not summarise; narrate every scene in detail, one after another."
).split()


def story_prompt(i: int, words: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    head = f"Request {i}. Write a very long and detailed story about {topic}."
    n_head = len(head.split())
    body: list[str] = []
    while n_head + len(body) < words:
        body.extend(FILLER)
    body = body[: max(0, words - n_head)]
    return (head + " " + " ".join(body)).strip()


# ~300-token fixed instruction prefix for the prefix workload (about 230 English words,
# roughly 1.3 tokens per word with the small models' tokenizers).
PREFIX_SYSTEM = (
    "You are a meticulous customer-support triage assistant for a mid-sized online shop "
    "that sells kitchen appliances, garden tools, furniture, books and small electronics. "
    "For every customer message you receive, you must decide which single department "
    "should handle it and reply with exactly one word from this list: BILLING, SHIPPING, "
    "RETURNS, TECHNICAL, ACCOUNT, SALES, COMPLAINT, OTHER. Use BILLING for anything about "
    "charges, invoices, refunds that were already approved, payment methods, coupons that "
    "did not apply, taxes and currency conversion. Use SHIPPING for delivery dates, "
    "tracking numbers, lost or delayed parcels, couriers, customs and changes of address "
    "before dispatch. Use RETURNS for requests to send an item back, exchange sizes or "
    "colours, return labels and the condition of returned goods. Use TECHNICAL for devices "
    "that do not work, setup instructions, firmware, batteries, error codes and "
    "compatibility questions. Use ACCOUNT for passwords, logins, e-mail changes, "
    "newsletters, privacy requests and deleting an account. Use SALES for questions "
    "before buying: stock, prices, bulk orders, gift cards and product comparisons. Use "
    "COMPLAINT when the customer is angry about staff, repeated failures or wants to "
    "escalate. Use OTHER only when nothing else fits. Never explain your answer, never "
    "greet the customer, never add punctuation, and never output more than one word. If "
    "a message mentions several topics, choose the department for the first problem the "
    "customer needs solved. Treat messages in any language the same way."
)

PREFIX_USER_TEMPLATES = [
    "Hello, I ordered a {item} on {day} and the tracking number {num} has not changed for "
    "six days. The courier website says the parcel is at the depot in {city}. Can someone "
    "tell me when it will finally arrive, because I need it before the weekend?",
    "My new {item} shows error code E{num} every time I switch it on in the morning. I "
    "already unplugged it for an hour and updated the app on {day}, but in {city} nobody "
    "in the local store could help me. What should I try next to make it work again?",
    "I was charged twice for order {num}, once on {day} and again the next morning, and "
    "my bank in {city} says both payments went through. The {item} arrived only once. "
    "Please check the invoice and give back the second payment as soon as possible.",
    "The {item} I received on {day} is the wrong colour and a little too large for my "
    "kitchen in {city}. I would like to exchange it for the smaller model, order number "
    "{num}. Do I need to print a label, and how long do I have to send it back?",
    "I cannot log in any more since {day}; the site says my password is wrong although I "
    "reset it twice. I also want to change the e-mail on the account from my old work "
    "address in {city}. My last order was {num}, a {item}. Please help me get back in.",
]
PREFIX_ITEMS = ["blender", "lawn mower", "bookshelf", "kettle", "desk lamp", "toaster",
                "garden hose", "e-reader", "office chair", "coffee grinder", "drill",
                "rice cooker", "bluetooth speaker"]
PREFIX_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PREFIX_CITIES = ["Leeds", "Porto", "Lyon", "Graz", "Utrecht", "Bergen", "Turin", "Cork",
                 "Malmo", "Ghent", "Brno"]


def prefix_user(i: int) -> str:
    t = PREFIX_USER_TEMPLATES[i % len(PREFIX_USER_TEMPLATES)]
    return t.format(item=PREFIX_ITEMS[i % len(PREFIX_ITEMS)],
                    day=PREFIX_DAYS[(i * 3) % len(PREFIX_DAYS)],
                    city=PREFIX_CITIES[(i * 5) % len(PREFIX_CITIES)],
                    num=10000 + 7919 * i % 90000)


DETERMINISM_QUESTIONS = [
    "Explain in two sentences why the sky is blue.",
    "List three uses of copper.",
    "What is the capital of Australia, and why was it chosen?",
    "Write a haiku about autumn rain.",
    "Describe how a bicycle gear works.",
    "Give a short definition of photosynthesis.",
    "Name four planets and one fact about each.",
    "What does a compiler do?",
    "Summarise the plot of Cinderella in one paragraph.",
    "Why do cats purr?",
    "Translate 'good morning, how are you?' into French and Spanish.",
    "What is the difference between weather and climate?",
    "Suggest a name for a bakery and explain it.",
    "How many legs does a spider have, and how many eyes?",
    "Write the first line of a mystery novel.",
    "Explain what a prime number is with an example.",
    "What are the primary colours?",
    "Describe the smell of fresh bread.",
    "Give two tips for learning a new language.",
    "Why is the ocean salty?",
    "What is gravity?",
    "Write a limerick about a frog.",
    "How does a refrigerator keep food cold?",
    "What is the boiling point of water at sea level?",
    "Describe a sunset over the sea.",
]


def determinism_prompts(n: int) -> list[str]:
    out = []
    for i in range(n):
        q = DETERMINISM_QUESTIONS[i % len(DETERMINISM_QUESTIONS)]
        variant = i // len(DETERMINISM_QUESTIONS)
        out.append(q if variant == 0 else f"{q} Answer as if talking to a {['child', 'scientist', 'pirate', 'poet'][variant % 4]}.")
    return out


# ----------------------------------------------------------------------------- client

@dataclass
class Result:
    ok: bool
    ttft: float | None = None          # seconds from send to first non-empty text delta
    latency: float = 0.0               # seconds from send to end of stream
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    text: str = ""
    chunks: int = 0
    finish_reason: str | None = None
    error: str | None = None
    start: float = 0.0
    end: float = 0.0


@dataclass
class Target:
    base_url: str
    model: str
    endpoint: str  # "chat" | "completions"
    api_key: str | None
    timeout: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        return base + ("/v1/chat/completions" if self.endpoint == "chat" else "/v1/completions")


def build_body(t: Target, messages: list[dict[str, str]], max_tokens: int,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": t.model,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if t.endpoint == "chat":
        body["messages"] = messages
    else:
        body["prompt"] = "\n\n".join(m["content"] for m in messages)
    body.update(t.extra)
    body.update(extra or {})
    return body


async def one_request(client: httpx.AsyncClient, t: Target, messages: list[dict[str, str]],
                      max_tokens: int, extra: dict[str, Any] | None = None) -> Result:
    body = build_body(t, messages, max_tokens, extra)
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if t.api_key:
        headers["Authorization"] = f"Bearer {t.api_key}"
    r = Result(ok=False)
    t0 = time.perf_counter()
    r.start = t0
    parts: list[str] = []
    usage = None
    try:
        async with client.stream("POST", t.url, json=body, headers=headers) as resp:
            if resp.status_code != 200:
                raw = (await resp.aread()).decode("utf-8", "replace")
                r.error = f"HTTP {resp.status_code}: {raw[:300]}"
                return r
            done = False
            async for line in resp.aiter_lines():
                line = line.strip()
                if not line or line.startswith(":"):
                    continue
                if not line.startswith("data:"):
                    continue  # event:/id:/retry: lines
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                try:
                    obj = json.loads(data)
                except json.JSONDecodeError:
                    r.error = f"bad SSE JSON: {data[:200]}"
                    return r
                if "error" in obj and not obj.get("choices"):
                    r.error = f"stream error: {json.dumps(obj['error'])[:300]}"
                    return r
                r.chunks += 1
                for ch in obj.get("choices") or []:
                    if t.endpoint == "chat":
                        piece = (ch.get("delta") or {}).get("content") or ""
                    else:
                        piece = ch.get("text") or ""
                    if piece:
                        if r.ttft is None:
                            r.ttft = time.perf_counter() - t0
                        parts.append(piece)
                    if ch.get("finish_reason"):
                        r.finish_reason = ch["finish_reason"]
                if obj.get("usage"):
                    usage = obj["usage"]
            if not done:
                r.error = "stream ended without data: [DONE]"
                return r
    except (httpx.HTTPError, OSError) as e:
        r.error = f"{type(e).__name__}: {e}"
        return r
    finally:
        r.end = time.perf_counter()
        r.latency = r.end - t0
        r.text = "".join(parts)
    if not usage or usage.get("completion_tokens") is None:
        r.error = "no usage in stream (stream_options.include_usage not honoured)"
        return r
    r.completion_tokens = int(usage["completion_tokens"])
    r.prompt_tokens = usage.get("prompt_tokens")
    if r.ttft is None and r.completion_tokens > 0 and r.text == "":
        # Tokens were generated but rendered to no text (e.g. only special tokens).
        r.ttft = r.latency
    r.ok = True
    return r


async def run_pool(t: Target, jobs: list[tuple], concurrency: int,
                   client: httpx.AsyncClient) -> tuple[list[Result], float]:
    """Run jobs ``(messages, max_tokens[, extra body])`` with at most `concurrency` in
    flight; returns results (job order) and wall."""
    sem = asyncio.Semaphore(concurrency)
    results: list[Result | None] = [None] * len(jobs)

    async def worker(i: int) -> None:
        async with sem:
            extra = jobs[i][2] if len(jobs[i]) > 2 else None
            res = await one_request(client, t, jobs[i][0], jobs[i][1], extra)
            if not res.ok:
                sys.stderr.write(f"[loadgen] request {i} failed: {res.error}\n")
            results[i] = res

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(len(jobs))))
    wall = time.perf_counter() - t0
    return [r for r in results if r is not None], wall


# ----------------------------------------------------------------------------- stats

def pct(values: list[float], p: float) -> float | None:
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return v[lo]
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def r4(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def summarise(results: list[Result], wall: float) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    ttfts = [r.ttft for r in ok if r.ttft is not None]
    comp = sum(r.completion_tokens or 0 for r in ok)
    prompt = sum(r.prompt_tokens or 0 for r in ok)
    # Per-request decode rate after the first token: (n-1) / (end - first token).
    dec = [((r.completion_tokens or 0) - 1) / (r.latency - r.ttft)
           for r in ok if r.ttft is not None and (r.completion_tokens or 0) > 1 and r.latency > r.ttft]
    finish: dict[str, int] = {}
    for r in ok:
        finish[str(r.finish_reason)] = finish.get(str(r.finish_reason), 0) + 1
    return {
        "requests": len(results),
        "ok": len(ok),
        "errors": len(results) - len(ok),
        "error_samples": [r.error for r in results if not r.ok][:3],
        "wall_s": r4(wall),
        "completion_tokens": comp,
        "prompt_tokens": prompt,
        "agg_tok_s": r4(comp / wall) if wall > 0 else None,
        "req_s": r4(len(ok) / wall) if wall > 0 else None,
        "ttft_p50_s": r4(pct(ttfts, 50)),
        "ttft_p99_s": r4(pct(ttfts, 99)),
        "ttft_mean_s": r4(sum(ttfts) / len(ttfts)) if ttfts else None,
        "latency_p50_s": r4(pct([r.latency for r in ok], 50)),
        "latency_p99_s": r4(pct([r.latency for r in ok], 99)),
        "per_request_decode_tok_s_mean": r4(sum(dec) / len(dec)) if dec else None,
        "finish_reasons": finish,
    }


# ----------------------------------------------------------------------------- workloads

async def warmup(t: Target, client: httpx.AsyncClient, n: int) -> None:
    for i in range(n):
        r = await one_request(client, t, [{"role": "user", "content": "Say hello."}], 8)
        if not r.ok:
            raise RuntimeError(f"warm-up request failed: {r.error}")


async def wl_throughput(a: argparse.Namespace, t: Target, client: httpx.AsyncClient) -> dict[str, Any]:
    if a.prompt_file:
        with open(a.prompt_file, encoding="utf-8") as f:
            base = f.read().strip()
        prompts = [f"(request {i}) {base}" for i in range(a.requests)]
    else:
        prompts = [story_prompt(i, a.prompt_words) for i in range(a.requests)]
    jobs = [([{"role": "user", "content": p}], a.max_tokens) for p in prompts]
    results, wall = await run_pool(t, jobs, a.concurrency, client)
    out = summarise(results, wall)
    out.update({"concurrency": a.concurrency, "max_tokens": a.max_tokens,
                "prompt_words": None if a.prompt_file else a.prompt_words})
    return out


async def wl_prefix(a: argparse.Namespace, t: Target, client: httpx.AsyncClient) -> dict[str, Any]:
    n = a.requests if a.requests_given else 64
    jobs = [([{"role": "system", "content": PREFIX_SYSTEM},
              {"role": "user", "content": prefix_user(i)}], 5) for i in range(n)]
    results, wall = await run_pool(t, jobs, a.concurrency, client)
    out = summarise(results, wall)
    ok = [r for r in results if r.ok and r.prompt_tokens]
    out.update({"concurrency": a.concurrency, "max_tokens": 5,
                "prompt_tokens_mean": r4(sum(r.prompt_tokens for r in ok) / len(ok)) if ok else None})
    return out


async def wl_determinism(a: argparse.Namespace, t: Target, client: httpx.AsyncClient) -> dict[str, Any]:
    n = a.requests if a.requests_given else 50
    group = a.concurrency if a.concurrency_given else 8
    prompts = determinism_prompts(n)
    flag = {"deterministic": True} if a.deterministic else {}
    jobs = [([{"role": "user", "content": p}], 32, flag) for p in prompts]
    t0 = time.perf_counter()
    alone, _ = await run_pool(t, jobs, 1, client)
    together: list[Result] = []
    tmp: dict[int, Result] = {}
    batch_tokens, batch_wall = 0, 0.0
    if a.mixed:
        # Each measured prompt with group-1 ordinary requests (the next prompts, no flag).
        for i in range(n):
            fillers = [([{"role": "user", "content": prompts[(i + k) % n]}], 32)
                       for k in range(1, group)]
            res, w = await run_pool(t, [jobs[i]] + fillers, group, client)
            tmp[i] = res[0]
            batch_wall += w
            batch_tokens += sum(r.completion_tokens or 0 for r in res if r.ok)
    else:
        # Batches of `group` concurrent requests; shuffled (fixed seed) so each prompt
        # shares the batch with different neighbours than its sequential order would.
        order = list(range(n))
        random.Random(1234).shuffle(order)
        for s in range(0, n, group):
            idx = order[s:s + group]
            res, w = await run_pool(t, [jobs[i] for i in idx], group, client)
            batch_wall += w
            batch_tokens += sum(r.completion_tokens or 0 for r in res if r.ok)
            for i, r in zip(idx, res):
                tmp[i] = r
    together = [tmp[i] for i in range(n)]
    wall = time.perf_counter() - t0
    same = 0
    mismatches = []
    errors = 0
    for i, (x, y) in enumerate(zip(alone, together)):
        if not (x.ok and y.ok):
            errors += 1
            continue
        if x.text.encode() == y.text.encode():
            same += 1
        elif len(mismatches) < 3:
            mismatches.append({"prompt": prompts[i], "alone": x.text, "batched": y.text})
    return {
        "requests": n + (n * group if a.mixed else n), "prompts": n, "group": group,
        "max_tokens": 32, "mixed": a.mixed, "deterministic": a.deterministic,
        "batched_tokens_per_s": r4(batch_tokens / batch_wall) if batch_wall else None,
        "errors": errors, "identical": same,
        "identical_fraction": r4(same / n) if n else None,
        "wall_s": r4(wall), "mismatch_samples": mismatches,
        "error_samples": [r.error for r in alone + together if not r.ok][:3],
    }


# ----------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", default="http://127.0.0.1:8080",
                   help="server root (with or without /v1)")
    p.add_argument("--model", default="bench", help="model name sent in requests")
    p.add_argument("--endpoint", choices=["chat", "completions"], default="chat")
    p.add_argument("--api-key", default=None)
    p.add_argument("--workload", choices=["throughput", "prefix", "determinism"], default="throughput")
    p.add_argument("--concurrency", type=int, default=None, help="requests in flight (default 1; 8 for prefix/determinism)")
    p.add_argument("--requests", type=int, default=None, help="number of requests (default: 2*concurrency, min 4; 64 prefix; 50 determinism prompts)")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--prompt-words", type=int, default=40, help="approximate words per throughput prompt")
    p.add_argument("--prompt-file", default=None, help="use this file's text as the throughput prompt")
    p.add_argument("--warmup", type=int, default=1, help="warm-up requests before measuring")
    p.add_argument("--timeout", type=float, default=300.0, help="per-request timeout (s)")
    p.add_argument("--extra-body", default=None, help="JSON merged into every request body")
    p.add_argument("--mixed", action="store_true",
                   help="determinism: each measured prompt shares its batch with ordinary requests")
    p.add_argument("--deterministic", action="store_true",
                   help='determinism: send the measured prompts with "deterministic": true')
    p.add_argument("--label", default=None, help="free text copied into the summary")
    p.add_argument("--out", default=None, help="also write the JSON summary here")
    a = p.parse_args(argv)
    a.concurrency_given = a.concurrency is not None
    a.requests_given = a.requests is not None
    if a.concurrency is None:
        a.concurrency = 8 if a.workload in ("prefix", "determinism") else 1
    if a.requests is None:
        a.requests = max(4, 2 * a.concurrency)
    if a.concurrency < 1 or a.requests < 1 or a.max_tokens < 1:
        p.error("--concurrency, --requests and --max-tokens must be >= 1")
    return a


async def amain(a: argparse.Namespace) -> int:
    extra = json.loads(a.extra_body) if a.extra_body else {}
    t = Target(a.base_url, a.model, a.endpoint, a.api_key, a.timeout, extra)
    limits = httpx.Limits(max_connections=max(a.concurrency, 8) + 4,
                          max_keepalive_connections=max(a.concurrency, 8) + 4)
    timeout = httpx.Timeout(a.timeout, connect=10.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        try:
            await warmup(t, client, a.warmup)
        except RuntimeError as e:
            sys.stderr.write(f"[loadgen] {e}\n")
            print(json.dumps({"workload": a.workload, "url": t.url, "errors": 1, "fatal": str(e)}))
            return 1
        fn = {"throughput": wl_throughput, "prefix": wl_prefix, "determinism": wl_determinism}[a.workload]
        summary = await fn(a, t, client)
    summary = {"workload": a.workload, "url": t.url, "model": a.model, "endpoint": a.endpoint,
               "label": a.label, **summary}
    text = json.dumps(summary)
    print(text, flush=True)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 1 if summary.get("errors") else 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    return asyncio.run(amain(a))


if __name__ == "__main__":
    sys.exit(main())
