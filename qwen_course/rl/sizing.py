"""Memory for a GRPO run with LoRA on one GPU: the trainer's part (lesson 06's training arithmetic for one
micro-batch of prompt + completion sequences, plus the completion logits) and vLLM's part when it generates in the
same process (`vllm_mode="colocate"`): its own copy of the weights and the cache of every rollout of a step.
"""

from __future__ import annotations

from .._display import gb


def grpo_memory(model_id: str, num_generations: int = 8, prompts_per_step: int = 4, micro_batch: int = 8,
                prompt_tokens: int = 256, completion_tokens: int = 2048, rank: int = 16, use_vllm: bool = True,
                gpu_bytes: float | None = None, vllm_gpu_memory_utilization: float = 0.3):
    """Bytes one GPU holds for GRPO on a bf16 base with a LoRA adapter, part by part (a `finetune.TrainingMemory`).

    The trainer backpropagates `micro_batch` sequences at a time (gradient checkpointing on); generation makes
    `num_generations * prompts_per_step` rollouts per step. With `use_vllm`, vLLM keeps a second bf16 copy of the
    weights and reserves `vllm_gpu_memory_utilization` of `gpu_bytes` (when given) for weights and cache.
    """
    from .. import catalog, memory
    from ..finetune import TrainingMemory, training_memory

    seq = prompt_tokens + completion_tokens
    base = training_memory(model_id, rank, "all-linear", batch=micro_batch, seq_len=seq, base="bf16",
                           gradient_checkpointing=True)
    vocab = catalog.get(model_id).text_config["vocab_size"]
    parts = {f"trainer: {k}": v for k, v in base.parts.items()}
    parts[f"trainer: fp32 log-probabilities over the {vocab:,}-token vocabulary for one micro-batch's completions "
          "(rough)"] = micro_batch * completion_tokens * vocab * 4
    rollouts = num_generations * prompts_per_step
    notes = [(f"{prompts_per_step} prompts x {num_generations} completions = {rollouts} rollouts per step, each "
              f"{prompt_tokens} + {completion_tokens} tokens; backward on {micro_batch} at a time"),
             ("no reference model: with a LoRA adapter TRL computes the reference log-probabilities with the adapter "
              "disabled (beta > 0), and with beta = 0 (TRL's default) it needs none"),
             "not counted: the CUDA context (about 0.5 GB per process) and allocator fragmentation"]
    if use_vllm:
        weights = memory.weights_bytes(model_id, "bf16")
        cache = memory.cache_bytes(model_id, "bf16", context=seq, batch=rollouts)
        parts["vLLM (colocate): its own bf16 copy of the checkpoint (a vision tower included)"] = weights
        parts[f"vLLM (colocate): cache for {rollouts} rollouts of {seq:,} tokens"] = cache
        if gpu_bytes:
            reserved = vllm_gpu_memory_utilization * gpu_bytes
            if reserved > weights + cache:
                parts["vLLM (colocate): rest of its reservation (gpu_memory_utilization)"] = reserved - weights - cache
            notes.append(f"vLLM takes vllm_gpu_memory_utilization={vllm_gpu_memory_utilization} of {gb(gpu_bytes)} "
                         f"= {gb(reserved)} at start; it needs at least {gb(weights + cache)} for these rollouts")
    else:
        cache = memory.cache_bytes(model_id, "bf16", context=seq, batch=rollouts)
        parts[f"generation with model.generate: cache for {rollouts} rollouts of {seq:,} tokens"] = cache
    return TrainingMemory(f"{model_id}, GRPO + LoRA r={rank}" + (" + vLLM colocate" if use_vllm else ""), parts,
                          base.notes[:1] + notes)
