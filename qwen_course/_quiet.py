"""Known library noise kept out of notebook outputs and CI logs, in one place, each with the reason it is harmless.

Installed on `import qwen_course` (before any of these libraries load); filters target exact messages, so every
other warning still shows. tests/test_notebooks.py checks executed notebooks carry none of these lines.
"""

from __future__ import annotations

import logging

# (logger, message fragment, why it is safe to hide)
KNOWN_NOISE = (
    ("torchao", "Failed to load", "torchao's wheel ships CUDA kernels (_C_cutlass_90a for Hopper, _C_mxfp8 built for "
     "CPython 3.10); loading them fails on a CPU-only torch or another Python, and no CPU method uses them"),
    ("torch.utils._pytree", "is an Enum subclass", "torchao registers an enum the way older torch releases wanted; "
     "torch 2.13 tells torchao's authors, not us"),
    ("bitsandbytes.backends.cpu.ops", "Failed to load CPU gemm_4bit_forward", "on CPUs with AVX512-BF16, "
     "bitsandbytes 0.50 first asks the Hub (kernels-community) for a faster 4-bit kernel; offline it uses its built-in "
     "one, which lesson 03 measures as it is"),
    ("transformers.integrations.hub_kernels", "is falling back to its reference PyTorch implementation",
     "Qwen3.5/3.6 and Qwen3-Next run their Gated DeltaNet layers through transformers' torch code on a CPU: correct, "
     "slower. The fast kernels (flash-linear-attention, causal-conv1d) are GPU-only, so the hint to install them is "
     "noise on a CPU; on a GPU it stays visible"),
)
CUDA_ONLY = ("torchao", "transformers.integrations.hub_kernels")  # hidden on a CPU, shown where CUDA is present
# (warning category, message regex, why it is safe to hide): Python warnings rather than log records
KNOWN_WARNINGS = (
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated",
     "PEFT 0.21 asks transformers 5.24 for a property transformers renamed; PEFT's next release uses the new name, "
     "and gradient checkpointing itself works"),
)


class _Drop(logging.Filter):
    def __init__(self, fragment: str, cuda_only: bool):
        super().__init__()
        self.fragment, self.cuda_only = fragment, cuda_only

    def filter(self, record: logging.LogRecord) -> bool:
        if self.fragment not in record.getMessage():
            return True
        return self.cuda_only and _cuda_available()  # a missing CUDA kernel matters on a GPU: show it there


def _cuda_available() -> bool:
    import sys

    torch = sys.modules.get("torch")
    return bool(torch and torch.cuda.is_available())


def install() -> None:
    """Add the filters (idempotent: the warnings module keeps one copy of an identical filter)."""
    import warnings

    for category, message, _ in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, fragment, _ in KNOWN_NOISE:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Drop) and f.fragment == fragment for f in logger.filters):
            logger.addFilter(_Drop(fragment, cuda_only=name in CUDA_ONLY))
