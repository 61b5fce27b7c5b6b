"""Which quantization methods run on this machine, and why not: the table lesson 03 opens with."""

from __future__ import annotations

from dataclasses import dataclass

from ..precision import METHODS, availability

@dataclass
class MethodTable:
    """Every method with whether it runs on this machine and why not (a table in Jupyter)."""

    keys: list[str]
    rows: list[tuple[str, str, str, str, str]]

    def runnable(self) -> list[str]:
        return [key for key, row in zip(self.keys, self.rows) if row[3] == "yes"]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["method", "precision", "route", "runs here", "why / why not"])

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False)

    def __str__(self) -> str:
        return self.to_frame().to_string(index=False)

    __repr__ = __str__


def methods(hardware=None, include_prequantized: bool = True) -> MethodTable:
    """Which methods run on this machine (detected if None), and the reason for each that does not."""
    if hardware is None:
        from ..hardware import detect

        hardware = detect()
    keys, rows = [], []
    for m in METHODS.values():
        if m.route == "prequantized" and not include_prequantized:
            continue
        ok, why = availability(m.key, hardware)
        keys.append(m.key)
        rows.append((m.label, m.precision, m.route, "yes" if ok else "no", why))
    return MethodTable(keys, rows)
