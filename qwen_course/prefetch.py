"""`qwen-course prefetch`: download what the picker chooses, so a workshop needs the network once."""

from __future__ import annotations

ALLOW = ["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model", "*.tiktoken"]


def prefetch(tasks: list[str], hardware=None, context: int = 4096, download=None) -> dict:
    """Download each task's pick (safetensors and configs only) into the Hub cache; returns {task: local path}."""
    from .hardware import online_status
    from .picker import pick

    online, why = online_status()
    if not online:
        raise RuntimeError(f"prefetch needs the Hugging Face Hub, which is not reachable ({why}); "
                           "offline, the course uses its tiny stand-ins: qwen-course offline build")
    if download is None:
        from huggingface_hub import snapshot_download as download
    out = {}
    for task in dict.fromkeys(tasks):
        p = pick(task, hardware, context)
        out[task] = str(download(repo_id=p.model_id, allow_patterns=ALLOW))
    return out
