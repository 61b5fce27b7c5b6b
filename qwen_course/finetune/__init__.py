"""LoRA fine-tuning for lesson 06: the support-ticket dataset and assistant-only labels (`data`), sizing a run
(`lora`, `sizing`), measuring what it learned (`evaluate`), and a new task for a model that already has skills
(`new_task`). The lesson writes the transformers / PEFT / TRL calls itself. Importing this package does not import
torch.
"""

from .data import (
    CATEGORIES, DATA, END_OF_TURN, IGNORE, PRIORITIES, PROMPT, QUESTION_WORDS, SPLITS, answer, answer_tokens, body_of,
    build_example, expose_head_bias, generate, instructions, load_split, make_example, phrases, show_labels, split_file,
    split_of, tokenize, with_instructions, write_dataset, write_ticket,
)
from .evaluate import (
    Accuracy, compare_accuracy, confusion, exact_match, generate_answers, loss_points, plot_losses, relative_drop,
    side_by_side, verdict,
)
from .lora import (
    BYTES_PER_TRAINED_PARAM, FULL_ATTENTION, LINEAR_ATTENTION, MLP, LoraPreset, adapter_training_bytes, linear_shapes,
    lora_parameters, preset, preset_name, sharding_table,
)
from .new_task import (
    TaskScore, by_task, changed, json_reply, new_task_verdict, paired, score_table, sign_test, task_score,
    with_example,
)
from .sizing import TrainingMemory, training_memory, training_memory_table

__all__ = [
    "CATEGORIES", "DATA", "END_OF_TURN", "IGNORE", "PRIORITIES", "PROMPT", "QUESTION_WORDS", "SPLITS", "answer",
    "answer_tokens", "body_of", "split_of", "build_example", "expose_head_bias", "generate", "load_split", "make_example", "phrases",
    "show_labels", "split_file", "tokenize", "write_dataset", "write_ticket",
    "Accuracy", "compare_accuracy", "confusion", "exact_match", "generate_answers", "loss_points", "plot_losses",
    "relative_drop", "side_by_side", "verdict", "instructions", "with_instructions",
    "BYTES_PER_TRAINED_PARAM", "FULL_ATTENTION", "LINEAR_ATTENTION", "MLP", "LoraPreset", "adapter_training_bytes",
    "linear_shapes", "lora_parameters", "preset", "preset_name", "sharding_table",
    "TrainingMemory", "training_memory", "training_memory_table",
    "TaskScore", "by_task", "changed", "json_reply", "new_task_verdict", "paired", "score_table", "sign_test", "task_score",
    "with_example",
]  # fmt: skip
