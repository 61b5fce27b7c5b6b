"""Vision-language arithmetic for lesson 05: visual tokens per image and clip (`tokens`, the rule of transformers'
Qwen2VLImageProcessor), their memory and a guard that keeps a prompt within budget (`budget`), grounding boxes
parsed and drawn (`grounding`), the course's own images (`images`), what transformers itself says about each
generation (`native`) and measured prefill time per attention implementation (`prefill`). No torch or PIL import
at import time.
"""

from .budget import Guarded, TokenBudget, VisualBudgetError, VisualMemory, guard, token_budget, visual_memory
from .grounding import PALETTE, Box, Grounding, GroundingError, draw_boxes, parse_grounding, to_pixels
from .images import CHART, IMAGES_DIR, RECEIPT, SHAPES, load_image, make_images, true_boxes, video_frames
from .native import TOKEN_NAMES, library_facts, token_ids
from .prefill import Prefill, attention_implementation, image_for, prefill_frame, prefill_seconds
from .tokens import GENERATIONS, MAX_ASPECT, VisionSpec, VisualTokens, fit_to_grid, image_tokens, spec, video_tokens

__all__ = [
    "Guarded", "TokenBudget", "VisualBudgetError", "VisualMemory", "guard", "token_budget", "visual_memory",
    "PALETTE", "Box", "Grounding", "GroundingError", "draw_boxes", "parse_grounding", "to_pixels",
    "CHART", "IMAGES_DIR", "RECEIPT", "SHAPES", "load_image", "make_images", "true_boxes", "video_frames",
    "TOKEN_NAMES", "library_facts", "token_ids",
    "Prefill", "attention_implementation", "image_for", "prefill_frame", "prefill_seconds",
    "GENERATIONS", "MAX_ASPECT", "VisionSpec", "VisualTokens", "fit_to_grid", "image_tokens", "spec", "video_tokens",
]  # fmt: skip
