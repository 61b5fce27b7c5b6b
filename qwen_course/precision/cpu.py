"""Which precision runs a chat turn fastest on this CPU: measured once (after a warm-up, medians), cached for the picker.

The measurement uses a slice of a real Qwen shape (a few of its layers, and the same fraction of its vocabulary so
the output projection keeps its share of the work) with random weights: speed depends on shapes, not on values.
Drift is the relative error of the logits against fp32 on the same slice; on random weights that is a proxy for
the real model's drift, so the bound is generous and only rules out routes that are clearly lossy. Several routes are
tried for int8; the fastest within the bound becomes the route `cpu_route("int8")` returns.
"""

from __future__ import annotations

import json
import statistics
import time
from importlib import metadata

from .._paths import home
from . import methods
from .methods import METHODS, PRECISIONS, apply_post_load, load_dtype, quantization_config

CACHE_NAME = "cpu_precisions.json"
SHAPE_OF = "Qwen/Qwen3-0.6B"
# The routes tried for each precision the picker may choose on a CPU (it never picks int4 there).
CANDIDATES = {"fp32": ("fp32",), "bf16": ("bf16",), "int8": ("ao-dynamic-int8", "torchao-int8-dynamic", "torchao-int8")}
# Relative RMS error of the logits against fp32 on the random slice. bf16 rounding alone gives about 0.01 and 8-bit
# routes up to about 0.12 (per-tensor activation scales); the bound rules out broken or far lossier routes only.
DRIFT_BOUND = 0.2
TURN = {"prompt_tokens": 256, "answer_tokens": 128}  # the chat turn the choice optimises: prefill + decode time
SEED = 0


def cache_path():
    return home() / "measurements" / CACHE_NAME


def cache_key() -> dict:
    """What makes a measurement valid: the CPU model, the cores this process may use and the torch version."""
    from ..hardware import _cores, _cpu_name

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    return {"cpu": _cpu_name(), "cores": _cores(), "torch": torch_version}


def cached_measurement() -> dict | None:
    """The saved measurement for this CPU, cores and torch version; None when absent, stale or unreadable."""
    path = cache_path()
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if saved.get("key") != cache_key() or saved.get("choice") not in CANDIDATES or not isinstance(saved.get("routes"), dict):
        return None
    return saved


def turn_seconds(row: dict, prompt_tokens: int = TURN["prompt_tokens"], answer_tokens: int = TURN["answer_tokens"]) -> float:
    """Seconds one chat turn takes at the measured prefill and decode speeds."""
    return prompt_tokens / row["prefill_tokens_per_s"] + answer_tokens / row["decode_tokens_per_s"]


def choose(results: dict, drift_bound: float = DRIFT_BOUND) -> tuple[str, str, dict]:
    """(precision, why, route per precision): the shortest chat turn among the routes within the drift bound."""
    usable = {k: r for k, r in results.items() if r.get("error") is None and r.get("drift", 1.0) <= drift_bound}
    routes = {}
    for key, row in sorted(usable.items(), key=lambda kv: turn_seconds(kv[1])):
        routes.setdefault(row["precision"], key)
    if not routes:
        return "fp32", "no measured route was usable, so fp32 (exact, always works)", {"fp32": "fp32"}
    best = min(routes, key=lambda p: turn_seconds(usable[routes[p]]))
    row = usable[routes[best]]
    why = (f"{best} ({routes[best]}) runs a {TURN['prompt_tokens']}-token prompt + {TURN['answer_tokens']}-token answer "
           f"fastest here ({row['decode_tokens_per_s']:.1f} tok/s decode, {row['prefill_tokens_per_s']:.0f} tok/s prefill, "
           f"logit drift {row['drift']:.3f} <= {drift_bound})")
    lossy = [k for k, r in results.items() if r.get("error") is None and r.get("drift", 0) > drift_bound]
    if lossy:
        why += f"; excluded for drift: {', '.join(lossy)}"
    return best, why, routes


def fastest_of(saved: dict, precisions) -> str | None:
    """The precision among `precisions` whose measured route finishes the chat turn first (None if none was measured)."""
    rows = {p: saved["results"].get(saved["routes"].get(p)) for p in precisions}
    usable = {p: r for p, r in rows.items() if r and r.get("error") is None and "decode_tokens_per_s" in r}
    return min(usable, key=lambda p: turn_seconds(usable[p])) if usable else None


def slice_config(model_id: str = SHAPE_OF, layers: int = 4):
    """The real config with `layers` decoder layers and the vocabulary cut in the same proportion."""
    from transformers import AutoConfig

    from .. import catalog

    ckpt = catalog.get(model_id)
    cfg = dict(ckpt.text_config)
    total = cfg["num_hidden_layers"]
    layers = max(1, min(int(layers), total))
    vocab = max(1024, round(cfg["vocab_size"] * layers / total / 128) * 128)  # int4/int8 kernels want multiples of 128
    cfg.update(num_hidden_layers=layers, vocab_size=vocab)
    cfg.pop("model_type", None)
    cfg.pop("layer_types", None)
    return AutoConfig.for_model(ckpt.model_type if "num_experts" not in cfg else "qwen3_moe", **cfg)


def _variant(base, key: str):
    """A copy of the fp32 slice as one method would load it: its dtype, then its quantization."""
    import copy


    model = copy.deepcopy(base).to(load_dtype(key, "cpu"))
    config = quantization_config(key)
    if config is not None and key.startswith("torchao"):
        from torchao.quantization import quantize_

        quantize_(model, config.quant_type)
    elif config is not None:
        raise ValueError(f"{key} is not a CPU precision route this measurement knows how to apply")
    return apply_post_load(model, key).eval()


def _time_model(model, prompt, new_tokens: int, repeats: int, clock) -> tuple[float, float, object]:
    """(median prefill tokens/s, median decode tokens/s, last logits) after one warm-up round."""
    import torch

    prefill, decode, logits = [], [], None
    with torch.inference_mode():
        for round_ in range(repeats + 1):  # round 0 is the warm-up: first calls pick kernels and allocate
            start = clock()
            out = model(prompt, use_cache=True)
            prefill_s = clock() - start
            logits, cache = out.logits[0].float(), out.cache
            token = out.logits[:, -1:].argmax(-1)
            steps = []
            for _ in range(new_tokens):
                start = clock()
                out = model(token, cache=cache, use_cache=True)
                steps.append(clock() - start)
                cache, token = out.cache, out.logits[:, -1:].argmax(-1)
            if round_:
                prefill.append(prefill_s)
                decode.append(statistics.median(steps))
    length = prompt.shape[1]
    return length / max(statistics.median(prefill), 1e-9), 1 / max(statistics.median(decode), 1e-9), logits


def measure_cpu_precisions(model_id: str = SHAPE_OF, layers: int = 4, prompt_tokens: int = 64, new_tokens: int = 6,
                           repeats: int = 3, candidates: dict = CANDIDATES, drift_bound: float = DRIFT_BOUND,
                           clock=time.perf_counter, write: bool = True) -> dict:
    """Time prefill and decode of each route on a real-shape slice, choose, and cache the result (a few seconds)."""
    import torch

    from transformers import AutoModelForCausalLM

    config = slice_config(model_id, layers)
    torch.manual_seed(SEED)
    base = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    prompt = torch.randint(0, config.vocab_size, (1, prompt_tokens), generator=torch.Generator().manual_seed(SEED))
    keys = [(p, k) for p, ks in candidates.items() for k in ks]
    keys.sort(key=lambda pk: pk[1] != "fp32")  # the fp32 reference first
    results, reference = {}, None
    for precision, key in keys:
        try:
            model = base if key == "fp32" else _variant(base, key)
            prefill, decode, logits = _time_model(model, prompt, new_tokens, repeats, clock)
        except Exception as exc:  # a route this CPU or build cannot run is recorded, not fatal
            results[key] = {"precision": precision, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            continue
        reference = logits if reference is None else reference
        results[key] = {"precision": precision, "prefill_tokens_per_s": prefill, "decode_tokens_per_s": decode,
                        "drift": float((logits - reference).norm() / reference.norm()),
                        "top1_agreement": float((logits.argmax(-1) == reference.argmax(-1)).float().mean()),
                        "error": None}
        model = None
    choice, why, routes = choose(results, drift_bound)
    saved = {"key": cache_key(), "choice": choice, "why": why, "routes": routes, "drift_bound": drift_bound,
             "turn": TURN, "shape": {"of": model_id, "layers": config.num_hidden_layers, "vocab_size": config.vocab_size},
             "settings": {"prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "repeats": repeats,
                          "threads": torch.get_num_threads()},
             "results": results, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if write:
        path = cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved, indent=1))
    return saved


# The route behind each picker precision on a CPU until this CPU has been measured; the measurement picks the
# fastest int8 route within its drift bound (`measure_cpu_precisions`).
CPU_ROUTES = {"fp32": "fp32", "bf16": "bf16", "int8": "ao-dynamic-int8", "int4": "torchao-int4"}


def cpu_route(precision: str, measured: bool = True) -> str | None:
    """The method key behind a picker precision on a CPU: this CPU's measured route when cached, else the default.

    `measured=False` gives the default (for a described machine, which is not this CPU). A measured route whose
    package has since been uninstalled falls back to the default too.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of: {', '.join(PRECISIONS)}")
    route = None
    if measured:
        saved = cached_measurement()
        route = (saved.get("routes", {}) if saved else {}).get(precision)
    if route not in METHODS or not methods.installed(METHODS[route].package):
        route = None
    return route or CPU_ROUTES.get(precision)


def cpu_precision(cached_only: bool = True) -> str | None:
    """The fastest precision on this CPU within the drift bound, from the cached measurement (measured if allowed)."""
    saved = cached_measurement()
    if saved is None:
        if cached_only:
            return None
        saved = measure_cpu_precisions()
    return saved.get("choice")
