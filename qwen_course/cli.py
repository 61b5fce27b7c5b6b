"""The `qwen-course` command: doctor, models, estimate, pick, prefetch, offline build/train, engine. `--json`: one object."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from . import __version__

TASKS = ("chat", "thinking", "vision", "coder", "math", "embedding", "rerank")  # catalog.TASKS (tested equal)
PRECISIONS = ("fp32", "bf16", "fp16", "int8", "int4", "fp8")  # fp8: Qwen's prequantized FP8 releases


class CliError(Exception):
    """A failure to report as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `qwen-course pick: argument --memory-gb: ...`, exit 2, no usage dump."""

    def error(self, message: str):
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _number(text: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def memory_gb(text: str) -> float:
    """--memory-gb: a finite number of gigabytes above zero (what the model may use)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give the memory a model may use in GB, above 0 (e.g. 16)")
    return value


def tokens(minimum: int):
    """--context/--batch: a whole number >= `minimum`."""
    def parse(text: str) -> int:
        value = _number(text, int)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: must be {minimum} or more" + (" (0 means weights only, no KV cache)" if minimum == 0 else ""))
        return value
    return parse


def compute_capability(text: str) -> tuple[int, int]:
    """--compute-capability: MAJOR or MAJOR.MINOR, e.g. 7, 7.0 (V100), 7.5 (T4), 8.9 (L4), 9.0 (H100)."""
    from .hardware import parse_compute_capability

    try:
        return parse_compute_capability(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _emit(args, data, text: str) -> None:
    print(json.dumps(data, indent=None if args.json else 1, default=str) if args.json else text)


def cmd_models(args) -> None:
    from . import catalog
    from ._display import text_table

    rows = []
    for c in catalog.checkpoints(args.task):
        count = catalog.param_count(c)
        rows.append({"model_id": c.id, "series": c.series, "release": c.release, "model_type": c.model_type,
                     "parameters": count.total, "active_parameters": count.active if c.is_moe else count.total,
                     "context": c.context, "context_max": c.context_max, "tasks": list(c.tasks),
                     "thinking": c.thinking, "license": c.license})
    table = text_table([(r["model_id"], f"{r['parameters'] / 1e9:.2f}B", r["release"], r["context"], ",".join(r["tasks"]))
                        for r in rows], header=("model", "params", "released", "context", "tasks"))
    _emit(args, {"models": rows}, table)


def cmd_estimate(args) -> None:
    from . import catalog, memory

    try:
        catalog.get(args.model)
    except catalog.UnknownModelError as exc:
        raise CliError(f"model: {exc}")
    try:
        est = memory.estimate(args.model, args.precision, args.context, args.batch, route=args.route)
    except ValueError as exc:  # the route and the context limit are the options memory can refuse
        text = str(exc)
        option = ("--route" if args.route and "route" in text else "--context" if "context" in text
                  else "--precision" if "precision" in text or args.precision in text else "")
        raise CliError(f"{option}: {text}" if option else text)
    _emit(args, est.to_dict(), str(est))


def _hardware(args):
    from . import hardware

    if args.device is not None or args.memory_gb is not None:
        if args.device is None or args.memory_gb is None:
            raise CliError("--device and --memory-gb go together (memory is what the model may use)")
        if args.compute_capability and args.device != "cuda":
            raise CliError(f"--compute-capability describes a CUDA GPU; --device is {args.device}")
        extra = {"compute_capability": args.compute_capability} if args.compute_capability else {}
        return hardware.describe(args.device, args.memory_gb, **extra)
    if args.compute_capability:
        raise CliError("--compute-capability describes a GPU: give --device cuda and --memory-gb with it")
    return hardware.detect()


def cmd_pick(args) -> None:
    from . import catalog, picker

    if args.context < 1:
        raise CliError("--context: pick budgets for a conversation, so give 1 or more tokens (estimate takes 0)")
    try:
        # decide only: offline, model_path is where the stand-in lives (notebooks build it on first use)
        p = picker.pick(args.task, _hardware(args), args.context, model=args.model, build_stand_in=False)
    except picker.NothingFitsError as exc:
        raise CliError(str(exc), code=2)
    except catalog.UnknownModelError as exc:
        raise CliError(f"--model: {exc}")
    except ValueError as exc:
        raise CliError(f"--model/--task: {exc}" if "cannot do the" in str(exc) else str(exc))
    _emit(args, p.to_dict(), str(p))


def cmd_doctor(args) -> None:
    from .doctor import report

    if args.measure_cpu:  # lesson 03's measurement now, so every notebook's pick uses this CPU's fastest precision
        from .precision import measure_cpu_precisions

        measure_cpu_precisions()
    data, text = report()
    if args.markdown:
        from .doctor import markdown

        text = markdown(data)
    _emit(args, data, text)
    blocking = [c["check"] for c in data.get("checks", []) if c["status"] == "blocking"]
    if blocking:  # exit non-zero exactly when the course cannot run here
        raise CliError("NOT READY: " + "; ".join(blocking) + " (see the report above)")


def cmd_prefetch(args) -> None:
    from .hardware import profiles
    from .prefetch import prefetch, summary

    known = profiles()
    for name in args.machine or []:  # check every argument before anything waits on the network
        if name not in known:
            raise CliError(f"--machine: unknown machine profile {name!r}; known: {', '.join(known)}")
    if args.machine and (args.device is not None or args.memory_gb is not None):
        raise CliError("--machine and --device/--memory-gb both describe machines: give one or the other")
    hw = _hardware(args) if not args.machine else None
    try:
        data = prefetch(args.task or ["chat"], hw, context=args.context, machines=args.machine,
                        cache_dir=args.cache_dir, bundle=args.bundle, quiet=args.json)
    except (RuntimeError, KeyError, OSError, ValueError) as exc:
        raise CliError(str(exc).strip("'\""))
    _emit(args, data, summary(data))


def cmd_offline(args) -> None:
    from . import offline

    if args.action == "train" and args.out and os.path.isfile(os.path.expanduser(args.out)):
        raise CliError(f"--out {args.out}: is a file, not a folder")
    data = (offline.train(args.out, args.steps or 0, not args.no_measure, lambda x: print(x, file=sys.stderr))
            if args.action == "train" else {"models": {k: str(v) for k, v in offline.build_all().items()}})
    _emit(args, data, "\n".join(f"{k:13s} {v}" for k, v in data.get("models", data).items()))  # progress: stderr


def cmd_progress(args) -> None:
    from .progress import progress, render

    try:
        data = progress(args.notebooks)
    except FileNotFoundError as exc:
        raise CliError(str(exc))
    _emit(args, data, render(data))


def cmd_engine(args) -> None:
    """Install engines into QWEN_COURSE_HOME/engines (resumable, progress on stderr), or say which are ready."""
    from .serving import InstallError, engine_status, install_engine
    from .serving.install import ENGINE_NAMES

    if args.action == "status":
        rows = engine_status()
        _emit(args, {"engines": [vars(r) for r in rows]}, "\n".join(
            f"{r.name:12s} {'ready' if r.ready else 'not ready':10s} {r.detail}" + (f"  -> {r.fix}" if r.fix else "")
            for r in rows))
        return
    unknown = [n for n in args.name if n not in ENGINE_NAMES]
    if unknown or not args.name:
        raise CliError(f"engine install takes one or more of {', '.join(ENGINE_NAMES)}" +
                       (f"; unknown: {', '.join(unknown)}" if unknown else ""), code=2)
    records = {}
    for name in args.name:
        try:
            records[name] = install_engine(name, on=args.device, force=args.force, jobs=args.jobs)
        except InstallError as exc:
            raise CliError(str(exc).splitlines()[0])
    _emit(args, {"engines": records}, "\n".join(
        f"{n} ready ({sum(r.get('seconds', {}).values()):.0f} s of install steps this run)" for n, r in records.items()))


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="qwen-course", description="Size Qwen models to your machine for the Qwen course.")
    top.add_argument("--version", action="version", version=f"qwen-course {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    def command(name, func, help_):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.set_defaults(func=func)
        return p

    def machine(p):
        p.add_argument("--device", choices=("cpu", "cuda", "mps"), help="describe a machine instead of detecting this one")
        p.add_argument("--memory-gb", type=memory_gb, help="memory the model may use: VRAM on a GPU, RAM on a CPU")
        p.add_argument("--compute-capability", type=compute_capability,
                       help="CUDA compute capability of the described GPU, e.g. 7.0 (V100), 7.5 (T4), 8.9 (L4)")
        p.add_argument("--context", type=tokens(1), default=4096, help="tokens of context to budget for (default 4096)")

    doc = command("doctor", cmd_doctor, "hardware and environment report")
    doc.add_argument("--markdown", action="store_true", help="print a Markdown block to paste into an issue")
    doc.add_argument("--measure-cpu", action="store_true",
                     help="measure this CPU's fastest precision now (about 30 s; lesson 03 does it otherwise)")
    command("models", cmd_models, "the Qwen catalog").add_argument("--task", choices=TASKS)
    est = command("estimate", cmd_estimate, "memory a model needs")
    est.add_argument("model", type=nonempty)
    est.add_argument("--precision", choices=PRECISIONS, default="bf16")
    est.add_argument("--context", type=tokens(0), default=4096, help="tokens of context (0: the weights alone)")
    est.add_argument("--batch", type=tokens(1), default=1)
    est.add_argument("--route", type=nonempty,
                     help="a CPU quantization route, e.g. ao-dynamic-int8 (what that route really keeps)")
    pk = command("pick", cmd_pick, "the model this machine should use")
    pk.add_argument("--task", choices=TASKS, default="chat")
    pk.add_argument("--model", type=nonempty, default="auto", help="a specific catalog id instead of the best fit")
    machine(pk)
    pf = command("prefetch", cmd_prefetch, "download what pick chooses, for a workshop without network")
    pf.add_argument("--task", choices=TASKS, action="append", help="repeat for several tasks (default: chat)")
    pf.add_argument("--machine", action="append", type=nonempty, metavar="PROFILE",
                    help="a machine profile to prefetch for (t4, laptop-8gb, ...); repeat; default: this machine")
    pf.add_argument("--cache-dir", type=nonempty, help="the shared cache to fill (default: the Hugging Face cache)")
    pf.add_argument("--bundle", type=nonempty, metavar="DIR",
                    help="also write an offline bundle: cache + wheels + install script")
    machine(pf)
    command("progress", cmd_progress, "which exercises pass in your executed notebooks").add_argument(
        "--notebooks", type=nonempty, default=None,
        help="folder with your saved notebooks (default: ./notebooks from the course root, else this folder)")
    off = command("offline", cmd_offline, "build the tiny offline stand-ins, or train the trained one again")
    off.add_argument("action", choices=("build", "train"))
    off.add_argument("--steps", type=tokens(1), help="train: optimizer steps (default: one pass over the chats)")
    off.add_argument("--out", type=nonempty, metavar="DIR", help="train: write here (default: the shipped checkpoint)")
    off.add_argument("--no-measure", action="store_true", help="train: skip the int8 and temperature measurements")
    eng = command("engine", cmd_engine, "install or check inference engines (vLLM, llama.cpp, ONNX Runtime)")
    eng.add_argument("action", choices=("install", "status"))
    eng.add_argument("name", nargs="*", metavar="NAME", help="what to install: vllm, llama.cpp, onnxruntime")
    eng.add_argument("--device", choices=("cpu", "cuda"), help="build for this device instead of the detected one")
    eng.add_argument("--force", action="store_true", help="redo every step (e.g. after moving to another CPU)")
    eng.add_argument("--jobs", type=tokens(1), help="parallel compile jobs for llama.cpp (default: all cores)")
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2, already one line on stderr)
        return int(exc.code or 0)
    try:
        args.func(args)
    except CliError as exc:
        print(f"qwen-course {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"qwen-course {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout
        return 141
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if os.environ.get("QWEN_COURSE_DEBUG"):
            raise
        print(f"qwen-course {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(QWEN_COURSE_DEBUG=1 shows the traceback; please report it)", file=sys.stderr)
        return 3
    return 0  # `python -m qwen_course` runs main() (__main__.py)
