"""LoRA fine-tuning for lesson 06: the support-ticket dataset and assistant-only labels (`data`), sizing a run
(`lora`), and measuring what it learned (`evaluate`). The lesson writes the transformers / PEFT / TRL calls itself.
Importing this package does not import torch.
"""

from .data import (
    CATEGORIES, DATA, END_OF_TURN, IGNORE, PRIORITIES, PROMPT, QUESTION_WORDS, SPLITS, answer, answer_tokens, body_of,
    build_example, expose_head_bias, generate, load_split, make_example, phrases, show_labels, split_file, split_of,
    tokenize, write_dataset, write_ticket,
)
from .evaluate import (
    Accuracy, compare_accuracy, exact_match, generate_answers, loss_points, plot_losses, relative_drop, side_by_side,
)
from .lora import (
    BYTES_PER_TRAINED_PARAM, LoraPreset, adapter_training_bytes, lora_parameters, preset, preset_name, sharding_table,
)

__all__ = [
    "CATEGORIES", "DATA", "END_OF_TURN", "IGNORE", "PRIORITIES", "PROMPT", "QUESTION_WORDS", "SPLITS", "answer",
    "answer_tokens", "body_of", "split_of", "build_example", "expose_head_bias", "generate", "load_split", "make_example", "phrases",
    "show_labels", "split_file", "tokenize", "write_dataset", "write_ticket",
    "Accuracy", "compare_accuracy", "exact_match", "generate_answers", "loss_points", "plot_losses",
    "relative_drop", "side_by_side",
    "BYTES_PER_TRAINED_PARAM", "LoraPreset", "adapter_training_bytes", "lora_parameters", "preset", "preset_name",
    "sharding_table",
]  # fmt: skip
