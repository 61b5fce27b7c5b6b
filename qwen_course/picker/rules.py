"""The picker's rules as data (data/picker.json): preference order per task, headroom, budgets, bandwidth."""

from __future__ import annotations

from .._paths import load_json


def rules() -> dict:
    return load_json("picker.json")


def download_seconds(size: int) -> float:
    """Seconds to download `size` bytes at the bandwidth data/picker.json states (a workshop's shared line)."""
    return size * 8 / (rules()["download_mbit_per_s"] * 1e6)
