"""Architecture coverage for model families with no weights small enough to ship.

Phi-3 (`phi3`), Gemma 2 (`gemma2`) and Llama 3.x (`llama` with a Llama-3 BPE
tokenizer) are each built inside the test as a tiny random-weight GGUF with the `gguf`
package: the tensor names and shapes llama.cpp loads for that architecture, the
family's own tokenizer kind (SentencePiece for Phi-3 and Gemma 2, byte-level BPE with
the `llama-bpe` pre-tokenizer for Llama 3) with its real special tokens, and the
family's real chat template. Each file is then served by `tierlm serve --model` and
checked to load, tokenize, render its chat template and generate. The words the random
weights produce are noise; only their shape is checked.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
import pytest

gguf = pytest.importorskip(
    "gguf", reason="the `gguf` package (requirements-dev.txt) cannot be imported", exc_type=ImportError)

from cloud_fixtures import TIERLM_BIN, Proc  # noqa: E402

# The model dimensions: tiny, so each file is a few hundred KB and loads in well under
# a second.
N_EMBD = 64
N_LAYER = 2
N_FF = 128
N_HEAD = 4
HEAD_DIM = N_EMBD // N_HEAD
CONTEXT_SIZE = 256

# Words every tiny vocabulary holds whole, so the tokenizer's answer is known exactly.
WORDS = ["hello", "world", "user", "assistant", "model", "system"]
# "hello world" is two tokens in every vocabulary below: `hello`/`▁hello` + `▁world`
# (SentencePiece) or `hello` + `Ġworld` (byte-level BPE).
TEXT = "hello world"
TEXT_TOKENS = 2

# Chat templates as the models publish them (tokenizer_config.json `chat_template`).
PHI3_TEMPLATE = (  # microsoft/Phi-3.5-mini-instruct
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
GEMMA2_TEMPLATE = (  # google/gemma-2-2b-it
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
LLAMA3_TEMPLATE = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""  # meta-llama/Llama-3.2-3B-Instruct

T = gguf.TokenType


@dataclass
class Vocab:
    tokens: list[str] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    merges: list[str] = field(default_factory=list)

    def add(self, text: str, kind: int = T.NORMAL, score: float = 0.0) -> int:
        assert text not in self.tokens, text
        self.tokens.append(text)
        self.types.append(int(kind))
        self.scores.append(score)
        return len(self.tokens) - 1

    def id(self, text: str) -> int:
        return self.tokens.index(text)


def spm_vocab(specials_first: list[tuple[str, int]], specials_last: list[tuple[str, int]]) -> Vocab:
    """A SentencePiece (`llama` tokenizer model) vocabulary: the given specials, the 256
    byte-fallback pieces `<0xNN>`, single characters, and every word of WORDS both bare
    and with the `▁` word-start marker, with each of their prefixes, so that the
    score-driven bigram merging of llama.cpp's SPM tokenizer reaches the whole word."""
    v = Vocab()
    for text, kind in specials_first:
        v.add(text, kind)
    for b in range(256):
        v.add(f"<0x{b:02X}>", T.BYTE)
    pieces: list[str] = ["▁", "\n"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    for w in WORDS:
        for word in (w, "▁" + w):
            for end in range(2, len(word) + 1):
                if word[:end] not in pieces:
                    pieces.append(word[:end])
    for i, p in enumerate(pieces):
        # Longer pieces score higher, as in a trained model: the merge that builds the
        # longest known piece wins.
        v.add(p, T.NORMAL, score=-1000.0 + len(p) * 10.0 - i * 1e-3)
    for text, kind in specials_last:
        v.add(text, kind)
    return v


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (byte-level BPE)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def bpe_vocab(specials: list[tuple[str, int]]) -> Vocab:
    """A byte-level BPE (`gpt2` tokenizer model) vocabulary: the 256 byte characters,
    every word of WORDS bare and with a leading space (`Ġ`) built by left-to-right
    merges, `ĊĊ` (the blank line the Llama 3 template writes after each header), then the
    special tokens."""
    v = Vocab()
    byte_char = _bytes_to_unicode()
    for b in range(256):
        v.add(byte_char[b])
    space, newline = byte_char[ord(" ")], byte_char[ord("\n")]
    words = [w for word in WORDS for w in (word, space + word)] + [newline * 2]
    for word in words:
        for end in range(2, len(word) + 1):
            merge = f"{word[:end - 1]} {word[end - 1]}"
            if merge not in v.merges:
                v.merges.append(merge)
                v.add(word[:end])
    for text, kind in specials:
        v.add(text, kind)
    return v


@dataclass
class Family:
    arch: str
    vocab: Vocab
    tokenizer_model: str
    tokenizer_pre: str | None
    bos: str
    eos: str
    add_bos: bool
    template: str
    # What llama.cpp's renderer of this template makes of one user turn `TEXT` with the
    # assistant turn opened, and the special tokens in it.
    rendered: str
    turn_specials: list[str]
    kv: dict  # architecture-specific metadata, key suffix -> value
    extra_kv: dict = field(default_factory=dict)  # tokenizer keys
    n_head_kv: int = N_HEAD


def phi3() -> Family:
    # Phi-3: <unk> <s> </s>, the byte pieces, the SentencePiece words, then the added
    # chat tokens in their real order (from 32000 on in the real vocabulary). llama.cpp
    # gives a file whose general.name contains "phi3" its Phi-3 token attributes: the
    # chat tokens swallow the whitespace after them.
    added = ["<|endoftext|>", "<|assistant|>"] + [f"<|placeholder{i}|>" for i in range(1, 5)] + [
        "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>"]
    vocab = spm_vocab([("<unk>", T.UNKNOWN), ("<s>", T.CONTROL), ("</s>", T.CONTROL)],
                      [(t, T.CONTROL) for t in added])
    return Family(
        arch="phi3", vocab=vocab, tokenizer_model="llama", tokenizer_pre="default",
        bos="<s>", eos="<|endoftext|>", add_bos=False, template=PHI3_TEMPLATE,
        rendered=f"<|user|>\n{TEXT}<|end|>\n<|assistant|>\n",
        turn_specials=["<|user|>", "<|end|>", "<|assistant|>"],
        kv={
            # Phi-3.5-mini: a 128K context reached with LongRoPE factors over 4K.
            "context_length": 131072,
            "rope.scaling.original_context_length": 4096,
            "rope.scaling.attn_factor": 1.19,
            "rope.dimension_count": HEAD_DIM,
            "attention.layer_norm_rms_epsilon": 1e-5,
        },
        extra_kv={"tokenizer.ggml.unknown_token_id": vocab.id("<unk>"),
                  "tokenizer.ggml.padding_token_id": vocab.id("<|endoftext|>")},
    )


def gemma2() -> Family:
    # Gemma: <pad> <eos> <bos> <unk> <mask>, the turn markers, then bytes and words;
    # no space prefix (Gemma's tokenizer does not add one).
    vocab = spm_vocab(
        [("<pad>", T.CONTROL), ("<eos>", T.CONTROL), ("<bos>", T.CONTROL), ("<unk>", T.UNKNOWN),
         ("<mask>", T.USER_DEFINED), ("<start_of_turn>", T.CONTROL), ("<end_of_turn>", T.CONTROL)],
        [],
    )
    return Family(
        arch="gemma2", vocab=vocab, tokenizer_model="llama", tokenizer_pre="default",
        bos="<bos>", eos="<eos>", add_bos=True, template=GEMMA2_TEMPLATE,
        rendered=f"<start_of_turn>user\n{TEXT}<end_of_turn>\n<start_of_turn>model\n",
        turn_specials=["<start_of_turn>", "<end_of_turn>", "<start_of_turn>"],
        kv={
            "context_length": 8192,
            "attention.key_length": HEAD_DIM,
            "attention.value_length": HEAD_DIM,
            "attention.layer_norm_rms_epsilon": 1e-6,
            "attn_logit_softcapping": 50.0,
            "final_logit_softcapping": 30.0,
            "attention.sliding_window": 4096,
        },
        extra_kv={"tokenizer.ggml.unknown_token_id": vocab.id("<unk>"),
                  "tokenizer.ggml.padding_token_id": vocab.id("<pad>"),
                  "tokenizer.ggml.add_space_prefix": False,
                  "tokenizer.ggml.add_eos_token": False},
        n_head_kv=2,
    )


def llama3() -> Family:
    # Llama 3.1+ special tokens, in their order from 128000 on.
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
                "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    vocab = bpe_vocab([(t, T.CONTROL) for t in specials])
    return Family(
        arch="llama", vocab=vocab, tokenizer_model="gpt2", tokenizer_pre="llama-bpe",
        bos="<|begin_of_text|>", eos="<|eot_id|>", add_bos=True, template=LLAMA3_TEMPLATE,
        rendered=(f"<|start_header_id|>user<|end_header_id|>\n\n{TEXT}<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n"),
        turn_specials=["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                       "<|start_header_id|>", "<|end_header_id|>"],
        kv={
            "context_length": 131072,
            "rope.freq_base": 500000.0,
            "rope.dimension_count": HEAD_DIM,
            "attention.layer_norm_rms_epsilon": 1e-5,
            "vocab_size": len(vocab.tokens),
        },
        extra_kv={"tokenizer.ggml.padding_token_id": vocab.id("<|finetune_right_pad_id|>")},
        n_head_kv=2,
    )


def llama3_rope_freqs() -> np.ndarray:
    """Llama 3.1's `rope_freqs` (factor 32 over an 8K original context), as
    convert_hf_to_gguf.py writes them: one factor per rotated dimension pair."""
    base, factor, low, high, old_ctx = 500000.0, 32.0, 1.0, 4.0, 8192
    freqs = 1.0 / (base ** (np.arange(0, HEAD_DIM, 2, dtype=np.float64) / HEAD_DIM))
    out = []
    for f in freqs:
        wavelen = 2 * np.pi / f
        if wavelen < old_ctx / high:
            out.append(1.0)
        elif wavelen > old_ctx / low:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def tensors(fam: Family) -> dict[str, np.ndarray]:
    """Random float32 weights with the names and shapes llama.cpp's loader asks for
    (numpy shapes are the reverse of ggml's `ne`)."""
    rng = np.random.default_rng(1234)
    n_vocab = len(fam.vocab.tokens)
    n_kv = fam.n_head_kv * HEAD_DIM

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)

    def norm() -> np.ndarray:
        return (1.0 + rng.standard_normal(N_EMBD) * 0.01).astype(np.float32)

    MT = gguf.MODEL_TENSOR
    out: list[tuple[MT, int | None, np.ndarray]] = [
        (MT.TOKEN_EMBD, None, mat(n_vocab, N_EMBD)),
        (MT.OUTPUT_NORM, None, norm()),
    ]
    if fam.arch == "phi3":
        out.append((MT.OUTPUT, None, mat(n_vocab, N_EMBD)))
        for kind in (MT.ROPE_FACTORS_LONG, MT.ROPE_FACTORS_SHORT):
            out.append((kind, None, np.linspace(1.0, 1.5 if kind == MT.ROPE_FACTORS_SHORT else 8.0,
                                                HEAD_DIM // 2, dtype=np.float32)))
    if fam.arch == "llama":
        # Llama 3.2 ties the output projection to the embeddings (no output.weight).
        out.append((MT.ROPE_FREQS, None, llama3_rope_freqs()))
    for i in range(N_LAYER):
        out.append((MT.ATTN_NORM, i, norm()))
        if fam.arch == "phi3":
            # Phi-3 keeps Q, K and V fused, and gate and up fused in ffn_up.
            out.append((MT.ATTN_QKV, i, mat(N_EMBD + 2 * n_kv, N_EMBD)))
            out.append((MT.ATTN_OUT, i, mat(N_EMBD, N_EMBD)))
            out.append((MT.FFN_NORM, i, norm()))
            out.append((MT.FFN_UP, i, mat(2 * N_FF, N_EMBD)))
            out.append((MT.FFN_DOWN, i, mat(N_EMBD, N_FF)))
            continue
        out.append((MT.ATTN_Q, i, mat(N_HEAD * HEAD_DIM, N_EMBD)))
        out.append((MT.ATTN_K, i, mat(n_kv, N_EMBD)))
        out.append((MT.ATTN_V, i, mat(n_kv, N_EMBD)))
        out.append((MT.ATTN_OUT, i, mat(N_EMBD, N_HEAD * HEAD_DIM)))
        if fam.arch == "gemma2":
            out.append((MT.ATTN_POST_NORM, i, norm()))
        # Gemma 2's pre-feed-forward norm is gguf-py's FFN_PRE_NORM, the same
        # `blk.N.ffn_norm` llama.cpp loads as LLM_TENSOR_FFN_NORM.
        out.append((MT.FFN_PRE_NORM if fam.arch == "gemma2" else MT.FFN_NORM, i, norm()))
        out.append((MT.FFN_GATE, i, mat(N_FF, N_EMBD)))
        out.append((MT.FFN_UP, i, mat(N_FF, N_EMBD)))
        out.append((MT.FFN_DOWN, i, mat(N_EMBD, N_FF)))
        if fam.arch == "gemma2":
            out.append((MT.FFN_POST_NORM, i, norm()))

    arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == fam.arch)
    named = {}
    for kind, bid, data in out:
        assert kind in gguf.MODEL_TENSORS[arch], f"{kind} is not a {fam.arch} tensor"
        name = gguf.TENSOR_NAMES[kind].format(bid=bid) + ".weight"
        named[name] = data
    return named


def write_gguf(fam: Family, path: str) -> None:
    w = gguf.GGUFWriter(path, fam.arch)
    w.add_name(f"tiny-random-{fam.arch}")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_block_count(N_LAYER)
    w.add_embedding_length(N_EMBD)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(fam.n_head_kv)
    for suffix, value in fam.kv.items():
        key = f"{fam.arch}.{suffix}"
        if isinstance(value, float):
            w.add_float32(key, value)
        else:
            w.add_uint32(key, value)

    v = fam.vocab
    w.add_tokenizer_model(fam.tokenizer_model)
    if fam.tokenizer_pre:
        w.add_tokenizer_pre(fam.tokenizer_pre)
    w.add_token_list(v.tokens)
    w.add_token_types(v.types)
    if fam.tokenizer_model == "llama":
        w.add_token_scores(v.scores)
    else:
        w.add_token_merges(v.merges)
    w.add_bos_token_id(v.id(fam.bos))
    w.add_eos_token_id(v.id(fam.eos))
    w.add_add_bos_token(fam.add_bos)
    for key, value in fam.extra_kv.items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        else:
            w.add_uint32(key, value)
    w.add_chat_template(fam.template)

    for name, data in tensors(fam).items():
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def serve(model_path: str, data_dir: str) -> Proc:
    """`tierlm serve` on a free port with only the tiny model; waits for /ready and
    fails with the server's stderr (llama.cpp's reason) when it does not get there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLM_")}
    env.update(TIERLM_LOG="warn", TIERLM_DATA_DIR=data_dir)
    if not os.path.isfile(TIERLM_BIN):
        pytest.fail(f"{TIERLM_BIN} not found; build it: cargo build --release --workspace --bins")
    gw = Proc([TIERLM_BIN, "serve", "--model", f"tiny={model_path}", "--port", "0", "--no-embeddings",
               "--context-size", str(CONTEXT_SIZE), "--parallel", "1"], env=env)
    deadline = time.monotonic() + 60
    last = "no answer"
    while True:
        try:
            r = httpx.get(gw.url + "/ready", timeout=5)
            if r.status_code == 200:
                return gw
            last = f"HTTP {r.status_code}: {r.text[:500]}"
        except httpx.HTTPError as e:
            last = repr(e)
        if gw.proc.poll() is not None or time.monotonic() > deadline:
            gw.stop()
            pytest.fail(f"tierlm did not become ready with {model_path} ({last})\n"
                        f"--- stderr ---\n{gw.stderr_text()}", pytrace=False)
        time.sleep(0.1)


FAMILIES = {"phi3": phi3, "gemma2": gemma2, "llama3": llama3}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_tiny_random_model_loads_tokenizes_templates_and_generates(family, tmp_path):
    fam = FAMILIES[family]()
    model_path = str(tmp_path / f"tiny-{fam.arch}.gguf")
    write_gguf(fam, model_path)
    assert os.path.getsize(model_path) < 4 * 1024 * 1024

    gw = serve(model_path, str(tmp_path / "data"))
    try:
        with httpx.Client(base_url=gw.url, timeout=60) as http:
            # Loads: ready with the file's own architecture and its own chat template
            # (`gguf`: llama.cpp recognised tokenizer.chat_template; a fallback would be
            # `builtin:...`), and listed.
            ready = http.get("/ready").json()
            (info,) = ready["models"]
            assert info["name"] == "tiny"
            assert info["architecture"] == fam.arch
            assert info["template"] == "gguf", info
            listed = http.get("/v1/models").json()
            assert "tiny" in [m["id"] for m in listed["data"]], listed

            bos = 1 if fam.add_bos else 0

            def prompt_tokens(prompt: str) -> int:
                r = http.post("/v1/completions", json={
                    "model": "tiny", "prompt": prompt, "max_tokens": 1, "temperature": 0, "echo": True})
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["choices"][0]["text"].startswith(prompt), body
                return body["usage"]["prompt_tokens"]

            # Tokenizes: the two whole words are two tokens (plus BOS where the family
            # adds one), each special token of the template is a single token, and the
            # same text always gives the same count.
            assert prompt_tokens(TEXT) == TEXT_TOKENS + bos
            assert prompt_tokens(TEXT) == TEXT_TOKENS + bos
            for special in set(fam.turn_specials):
                assert prompt_tokens(special) == 1 + bos, special
            raw = TEXT_TOKENS + bos

            # Renders its chat template and generates: four greedy tokens of noise after
            # a chat prompt that is exactly the template's rendering of the turn (the
            # same token count as that text sent raw), holding the turn's special tokens
            # on top of the user's words. (Phi-3's chat tokens also swallow the newline
            # after them; see phi3().)
            r = http.post("/v1/chat/completions", json={
                "model": "tiny", "messages": [{"role": "user", "content": TEXT}],
                "max_tokens": 4, "temperature": 0})
            assert r.status_code == 200, r.text
            body = r.json()
            chat_prompt = body["usage"]["prompt_tokens"]
            assert chat_prompt == prompt_tokens(fam.rendered), (chat_prompt, fam.rendered)
            assert chat_prompt >= raw + len(fam.turn_specials), (chat_prompt, raw)
            assert body["choices"][0]["finish_reason"] in ("length", "stop"), body
            assert 1 <= body["usage"]["completion_tokens"] <= 4, body
    finally:
        gw.stop()
        os.unlink(gw.stderr.name)
