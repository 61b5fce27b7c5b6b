"""Checks for lesson 08 (serving and scaling): base URL, thinking off over HTTP, KV-cache space, p95 doubling, the guard,
a GPU plan."""

from __future__ import annotations

import shlex
from urllib.parse import urlparse

from ._check import CheckResult, check


def check_base_url(answer, server=None) -> CheckResult:
    """Easy: the base_url the OpenAI client needs for the local server."""

    def verify(url):
        if not isinstance(url, str):
            return False, f"expected a string URL, got {type(url).__name__}"
        parsed = urlparse(url)
        if parsed.scheme != "http" or parsed.hostname not in ("127.0.0.1", "localhost"):
            return False, f"{url!r} is not an http URL on this machine (127.0.0.1 or localhost)"
        if parsed.port is None:
            return False, f"{url!r} has no port: the local server listens on its own port (server.port)"
        if server is not None and parsed.port != server.port:
            return False, f"the server listens on port {server.port}, your URL says {parsed.port}"
        if parsed.path.rstrip("/") != "/v1":
            return False, "the OpenAI client adds /chat/completions itself: the base URL ends with /v1"
        return True, f"{url} is where the client sends /chat/completions and /models."

    return check("base URL", answer, verify, "scheme, host and port of the server, then the /v1 prefix")


def check_thinking_off(answer) -> CheckResult:
    """Easy: the extra_body that turns Qwen3 thinking off through an OpenAI-compatible server."""

    def verify(extra):
        if not isinstance(extra, dict):
            return False, f"expected the dict you pass as extra_body, got {type(extra).__name__}"
        if "enable_thinking" in extra:
            return False, ("enable_thinking is a chat-template argument, not a request field: nest it under "
                           "chat_template_kwargs (transformers serve answers 422 to unknown fields)")
        kwargs = extra.get("chat_template_kwargs")
        if not isinstance(kwargs, dict) or "enable_thinking" not in kwargs:
            return False, "put {'enable_thinking': False} under the key 'chat_template_kwargs'"
        if kwargs["enable_thinking"] is not False:
            return False, f"enable_thinking must be the boolean False, not {kwargs['enable_thinking']!r}"
        return True, "the server renders the template with an empty <think></think> block, so the model answers directly."

    return check("thinking off over HTTP", answer, verify,
                 "extra_body={'chat_template_kwargs': {...}}, as in the Qwen docs for vLLM and SGLang")


def check_kv_space(answer, model: str = "Qwen/Qwen3-0.6B", sequences: int = 12, tokens: int = 8192) -> CheckResult:
    """Medium: the VLLM_CPU_KVCACHE_SPACE (whole GiB) that holds `sequences` conversations of `tokens` tokens."""

    def verify(gib):
        import math
        import numbers

        from ..memory import cache_bytes, kv_bytes_per_token

        need_bytes = cache_bytes(model, "bf16", tokens, sequences)  # K/V per token, plus a hybrid model's state
        need = need_bytes / 2**30
        expected = math.ceil(need)
        if isinstance(gib, bool) or not isinstance(gib, numbers.Real):
            return False, f"answer with a number of GiB (an int), got {gib!r}"
        if gib != int(gib):
            return False, (f"{gib} is not a whole number: vLLM stops at start-up on a fractional "
                           f"VLLM_CPU_KVCACHE_SPACE; round {need:.2f} GiB up")
        gib = int(gib)
        per_token = kv_bytes_per_token(model)
        if gib == math.floor(need) and gib < need:
            return False, f"{gib} GiB holds only {gib * 2**30 // per_token:,} of the {sequences * tokens:,} tokens: round up"
        one = math.ceil(need_bytes / sequences / 2**30)
        if gib == one and sequences > 1 and gib < expected:
            return False, f"{gib} GiB is one conversation's worth; {sequences} run at once"
        if gib < expected:
            return False, f"{sequences} x {tokens:,} tokens x {per_token:,} bytes need {need:.2f} GiB; {gib} is too little"
        if gib > 2 * expected + 1:
            return False, f"{gib} GiB works but reserves far more than the {need:.2f} GiB needed: RAM the model cannot use"
        return True, (f"{sequences} x {tokens:,} tokens x {per_token:,} bytes = {need:.2f} GiB: "
                      f"VLLM_CPU_KVCACHE_SPACE={gib}.")

    return check("KV-cache space", answer, verify,
                 "memory.kv_bytes_per_token(model) x sequences x tokens, in GiB (2**30), rounded up")


def check_p95_doubling(answer, results) -> CheckResult:
    """Medium: the smallest measured concurrency whose p95 latency is at least twice the one at the first level."""

    def verify(level):
        import numbers

        base = results[0].latency["p95"]
        expected = next((r.clients for r in results[1:] if r.latency["p95"] >= 2 * base), 0)
        table = ", ".join(f"{r.clients}: {r.latency['p95']:.3f} s" for r in results)
        if isinstance(level, bool) or not isinstance(level, numbers.Integral):
            return False, f"answer with an int (a number of clients, or 0), got {level!r}"
        level = int(level)
        if level != expected:
            position = next((i for i, r in enumerate(results) if r.clients == expected), None)
            if expected and level == position and level not in {r.clients for r in results}:
                return False, f"{level} is a position in the list; answer with the number of clients (r.clients)"
            p50 = next((r.clients for r in results[1:] if r.latency["p50"] >= 2 * results[0].latency["p50"]), 0)
            if level == p50 and p50 != expected:
                return False, f"that is where the median (p50) doubled; the question is about p95 ({table})"
            if level and level not in {r.clients for r in results}:
                return False, f"{level} clients were not measured; the levels were {[r.clients for r in results]}"
            return False, f"p95 by concurrency was {table}; twice {base:.3f} s is {2 * base:.3f} s"
        if expected == 0:
            return True, f"no tested level doubled p95 ({table})."
        return True, f"p95 doubled at {expected} clients ({table}): requests queue instead of running together."

    return check("p95 doubling", answer, verify,
                 "read r.latency['p95'] for each r in the sweep; compare with 2 x the first one")


def check_guard_statuses(answer) -> CheckResult:
    """Medium: the HTTP status codes the gateway answers to three bad requests."""
    expected = {"missing_key": 401, "too_many_tokens": 400, "admin_endpoint": 404}

    def verify(codes):
        if not isinstance(codes, dict):
            return False, f"expected a dict like {{'missing_key': ..., ...}}, got {type(codes).__name__}"
        missing = sorted(set(expected) - set(codes))
        if missing:
            return False, f"missing keys: {', '.join(missing)}"
        why = {("missing_key", 403): "403 is for a known client without permission; no key at all is 401",
               ("admin_endpoint", 401): "the allowlist is checked before the key: an endpoint not served is 404",
               ("admin_endpoint", 403): "the allowlist is checked before the key: an endpoint not served is 404",
               ("too_many_tokens", 413): "413 is for a body over the byte limit; a max_tokens over the cap is a bad "
                                         "field in a small body",
               ("too_many_tokens", 422): "the gateway refuses it itself, before the server's own validation"}
        wrong = [f"{k}: {codes[k]!r}" + (f" ({why[k, codes[k]]})" if (k, codes[k]) in why else " is not what it answers")
                 for k, v in expected.items() if codes[k] != v]
        if wrong:
            return False, "; ".join(wrong)
        return True, "refused before the model saw anything: 401 no key, 400 over the token cap, 404 not allowlisted."

    return check("guard statuses", answer, verify,
                 "catch openai.APIStatusError and read .status_code, or use httpx and read response.status_code")


def _flags(args: list[str]) -> dict:
    """`--flag value`, `--flag=value` and bare `--flag` (True) from a command line; a stray word raises ValueError."""
    flags, i = {}, 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            raise ValueError(f"unexpected argument {arg!r}")
        if "=" in arg:
            key, value = arg.split("=", 1)
            flags[key], i = value, i + 1
        elif i + 1 < len(args) and not args[i + 1].startswith("-"):
            flags[arg], i = args[i + 1], i + 2
        else:
            flags[arg], i = True, i + 1
    return flags


def check_deployment(answer, model: str = "Qwen/Qwen3-32B", gpus: int = 2, memory_gb: float = 24,
                     utilization: float = 0.9, reserve_gb: float = 2.0) -> CheckResult:
    """Stretch: a `vllm serve` command for `model` on `gpus` x `memory_gb` GB that the memory arithmetic accepts,
    within `utilization` of each GPU and the checkpoint's context."""

    def verify(command):
        from .. import catalog
        from ..memory import kv_bytes_per_token
        from ..serving import reasoning_parser, served_weights_bytes, valid_tensor_parallel
        from ..serving.plan import QUANT_BLOCK

        argv = shlex.split(command) if isinstance(command, str) else None
        if not argv or argv[:2] != ["vllm", "serve"] or len(argv) < 3:
            return False, "write the command as one string starting with 'vllm serve <checkpoint>'"
        ckpt = catalog.get(model)
        precision = {ckpt.id: "bf16", ckpt.id + "-FP8": "fp8", ckpt.id + "-AWQ": "int4"}.get(argv[2])
        if precision is None:
            return False, f"serve {ckpt.id} or one of its prequantized releases ({ckpt.id}-FP8, {ckpt.id}-AWQ)"
        flags = _flags(argv[3:])
        if precision == "bf16" and flags.get("--quantization") == "fp8":
            precision = "fp8"  # vLLM quantizes a 16-bit checkpoint to FP8 while loading
        tp = int(flags.get("--tensor-parallel-size", flags.get("-tp", 1)))
        dp = int(flags.get("--data-parallel-size", flags.get("-dp", 1)))
        c = ckpt.text_config
        if tp not in valid_tensor_parallel(ckpt, gpus):
            return False, (f"--tensor-parallel-size {tp} is impossible here: it must be at most {gpus} and split "
                           f"{c['num_attention_heads']} query heads and {c['num_key_value_heads']} KV heads evenly")
        if tp * dp > gpus:
            return False, f"TP {tp} x data parallel {dp} needs {tp * dp} GPUs; there are {gpus}"
        inter = c.get("moe_intermediate_size") or c["intermediate_size"]
        if precision in ("fp8", "int4") and (inter % tp or (inter // tp) % QUANT_BLOCK):
            return False, (f"with {precision} weights, TP {tp} splits the MLP width {inter} across the "
                           f"{QUANT_BLOCK}-wide quantization blocks")
        if "--max-model-len" not in flags:
            return False, "set --max-model-len: the default (40,960 from config.json) needs more KV cache than fits"
        length = int(flags["--max-model-len"])
        if length > ckpt.max_context:
            return False, f"{ckpt.id} supports at most {ckpt.max_context:,} tokens, even with YaRN"
        positions = c.get("max_position_embeddings") or ckpt.context
        scaled = any("yarn" in str(flags.get(k, "")) for k in ("--rope-scaling", "--hf-overrides"))
        if length > positions and not scaled:
            return False, (f"--max-model-len {length:,} is beyond the {positions:,} positions in config.json: vLLM "
                           "refuses it unless YaRN rope scaling is switched on")
        used = float(flags.get("--gpu-memory-utilization", utilization))
        if not 0 < used <= 1:
            return False, f"--gpu-memory-utilization {used:g} is not a share of the GPU (0 to 1)"
        if used > utilization + 1e-9:
            return False, (f"--gpu-memory-utilization {used:g}: the exercise leaves {utilization:g} of each GPU to "
                           "vLLM; plan within it")
        kv_value = 1 if str(flags.get("--kv-cache-dtype", "auto")).startswith("fp8") else 2
        kv = (kv_bytes_per_token(ckpt, "bf16") * kv_value / 2 * length
              * max(1, c["num_key_value_heads"] // tp) / c["num_key_value_heads"])
        per_gpu = served_weights_bytes(ckpt, precision) / tp + kv + reserve_gb * 1e9
        budget = used * memory_gb * 1e9
        if per_gpu > budget:
            return False, (f"each GPU would need {per_gpu / 1e9:.1f} GB (weights {precision}, TP {tp}, KV for "
                           f"{length:,} tokens, {reserve_gb:g} GB runtime) but has {budget / 1e9:.1f} GB")
        if length < 4096:
            return False, f"--max-model-len {length} fits but leaves no room for a real conversation (>= 4096)"
        parser = reasoning_parser(ckpt)
        if parser and flags.get("--reasoning-parser") != parser:
            return False, f"add --reasoning-parser {parser} so thinking comes back as reasoning_content"
        return True, (f"fits: {per_gpu / 1e9:.1f} GB of {budget / 1e9:.1f} GB per GPU with {precision} weights, "
                      f"TP {tp}, {length:,} tokens of context.")

    return check("2-GPU deployment", answer, verify,
                 "plan_deployment(model, gpus, memory_gb) shows the arithmetic; bf16 weights of a 32B model "
                 "are about 65 GB")
