"""What transformers itself says about each Qwen vision generation, so lesson 05 can check its numbers against it.

`library_facts(model_type)` reads the installed transformers: the processor and image-processor classes its auto
mappings choose, the token ids and vision geometry of the config class defaults, and the image processor's own class
defaults. A checkpoint's preprocessor_config.json and config.json can override every one of them; what they do for a
given release is only known by reading that release (online). `token_ids(processor)` reads a loaded processor.
"""

from __future__ import annotations

TOKEN_NAMES = ("image", "video", "vision_start", "vision_end")


def token_ids(processor) -> dict[str, int]:
    """The vision token ids a loaded Qwen VL processor writes into prompts (read from its tokenizer)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    tokens = {"image": "<|image_pad|>", "video": "<|video_pad|>", "vision_start": "<|vision_start|>",
              "vision_end": "<|vision_end|>"}
    return {name: tokenizer.convert_tokens_to_ids(token) for name, token in tokens.items()}


def library_facts(model_type: str) -> dict:
    """What the installed transformers says about a Qwen VL model_type: classes, token ids, patch geometry, defaults."""
    from transformers import AutoConfig
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    config = AutoConfig.for_model(model_type)
    vision = config.vision_config
    image_processor = IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type)
    if isinstance(image_processor, dict):  # transformers 5.24 names one class per backend
        image_processor = ", ".join(f"{v} ({k})" for k, v in image_processor.items())
    size = Qwen2VLImageProcessorPil.size
    return {
        "config class": type(config).__name__,
        "processor": PROCESSOR_MAPPING_NAMES.get(model_type),
        "image processor": image_processor,
        **{f"{name} token id": getattr(config, f"{name}_token_id", None) for name in TOKEN_NAMES},
        "patch_size": vision.patch_size,
        "spatial_merge_size": vision.spatial_merge_size,
        "temporal_patch_size": vision.temporal_patch_size,
        "image processor class default bounds": f"{size['shortest_edge']:,} to {size['longest_edge']:,} pixels",
    }
