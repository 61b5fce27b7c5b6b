"""The processor side of the offline VL stand-ins: files laid out like Qwen's VL repos, and a loader that works
without torchvision (transformers 5.24 refuses to build any Qwen VL processor without it, real checkpoints too)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

PROCESSOR_CLASS = {"qwen2_5_vl": "Qwen2_5_VLProcessor", "qwen3_vl": "Qwen3VLProcessor",
                   "qwen3_5": "Qwen3VLProcessor", "qwen3_5_moe": "Qwen3VLProcessor"}  # Qwen3.5 uses Qwen3-VL's


def write_processor_files(model_type: str, image_processor: dict, folder: Path) -> None:
    """Write preprocessor_config.json as Qwen's VL repos do (the processor's tokenizer and template are saved already).

    We cannot call `processor.save_pretrained`: in transformers 5.24 a Qwen VL processor cannot even be constructed
    without torchvision (its video processor needs it). No video_preprocessor_config.json is written: where
    torchvision exists, transformers fills the video processor from its Qwen class defaults, as for Qwen2.5-VL repos.
    """
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    # The PIL backend of Qwen2VLImageProcessor (the default backend needs torchvision); it saves under Qwen's name.
    Qwen2VLImageProcessorPil(**image_processor).save_pretrained(folder)
    config_path = folder / "preprocessor_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["processor_class"] = PROCESSOR_CLASS[model_type]
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def load_processor(path: str | Path):
    """`AutoProcessor.from_pretrained(path)`, or without torchvision the same Qwen VL processor minus video support."""
    from transformers import AutoProcessor
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        return AutoProcessor.from_pretrained(path)
    return _image_only_processor(Path(path))


def _image_only_processor(path: Path):
    """Qwen's own processor class with video_processor=None, which its constructor otherwise refuses."""
    import transformers
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    model_type = json.loads((path / "config.json").read_text(encoding="utf-8"))["model_type"]
    base = getattr(transformers, PROCESSOR_CLASS.get(model_type, "Qwen2_5_VLProcessor"))
    tokenizer = AutoTokenizer.from_pretrained(path)
    return _without_video(base)(
        image_processor=Qwen2VLImageProcessorPil.from_pretrained(path),
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=tokenizer.chat_template,
    )


@lru_cache(maxsize=None)
def _without_video(base: type) -> type:
    """A subclass of a Qwen VL processor that accepts a missing video processor (one class per base)."""

    def check_argument_for_proper_class(self, argument_name, argument):
        if argument_name == "video_processor" and argument is None:
            return None
        return base.check_argument_for_proper_class(self, argument_name, argument)

    def __call__(self, images=None, text=None, videos=None, *args, **kwargs):  # noqa: N807
        if videos is not None:
            raise ImportError("video input needs torchvision (transformers' Qwen video processors use it)")
        return base.__call__(self, images, text, None, *args, **kwargs)

    members = {
        "__doc__": "Images and text only: transformers' Qwen video processors need torchvision, not installed here.",
        "check_argument_for_proper_class": check_argument_for_proper_class,
        "__call__": __call__,
    }
    return type(f"{base.__name__}WithoutVideo", (base,), members)
