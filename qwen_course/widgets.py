"""ipywidgets for the notebooks: a model chooser (task, machine, memory, context -> the picker's choice and why).

The decision lives in `choose()`, a plain function that returns a `Choice`; the widget only renders it, so the logic is
tested without a browser and readers without widgets call `choose()` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._display import Table, gb
from .catalog import TASKS

# Machine kinds a learner can pick: label -> (device, compute capability). The capability decides bf16 vs fp16 on CUDA.
MACHINES = {
    "GPU, Ampere or newer (bf16)": ("cuda", (8, 0)),
    "GPU, older: T4 / V100 (fp16)": ("cuda", (7, 5)),
    "CPU only (RAM)": ("cpu", None),
    "Apple GPU (MPS)": ("mps", None),
}
CONTEXTS = (2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144)


@dataclass(repr=False)
class Choice(Table):
    """What the picker chooses for a described machine: the model, precision, memory, why, and what else fits."""

    task: str
    machine: str
    memory_gb: float
    context: int
    model_id: str | None = None
    precision: str | None = None
    total_bytes: int | None = None
    reason: str = ""
    alternatives: list = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.model_id is not None

    def __repr__(self) -> str:
        return str(self)

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"{self.task} on {self.machine} with {self.memory_gb:g} GB, context {self.context:,}"

    def _rows(self):
        if not self.fits:
            return [("choice", "nothing fits"), ("why", self.reason)]
        rows = [("model", self.model_id), ("precision", self.precision), ("memory needed", gb(self.total_bytes)),
                ("why", self.reason)]
        for alt in self.alternatives:
            rows.append(("alternative", f"{alt['model_id']} {alt['precision']} ({gb(alt['total_bytes'])})"))
        return rows


def choose(task: str = "chat", memory_gb: float = 16.0, context: int = 4096,
           machine: str = "GPU, Ampere or newer (bf16)", alternatives: int = 4) -> Choice:
    """The picker's decision for a described machine (memory is what the model may use: VRAM on a GPU, RAM on a CPU)."""
    from .hardware import describe
    from .picker import NothingFitsError, pick

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks are: {', '.join(TASKS)}")
    if machine not in MACHINES:
        raise ValueError(f"unknown machine {machine!r}; choose one of: {', '.join(MACHINES)}")
    device, cc = MACHINES[machine]
    hw = describe(device, memory_gb, **({"compute_capability": cc} if cc else {}))
    try:  # a described machine is only planned for: decide, build no stand-in
        p = pick(task, hw, context=int(context), build_stand_in=False)
    except NothingFitsError as exc:
        return Choice(task, machine, memory_gb, int(context), reason=str(exc))
    return Choice(task, machine, memory_gb, int(context), p.model_id, p.precision, p.estimate.total_bytes, p.reason,
                  p.alternatives[:alternatives])


def model_chooser(task: str = "chat", memory_gb: float = 16.0, context: int = 4096,
                  machine: str = "GPU, Ampere or newer (bf16)"):
    """A small form: change the task, machine, memory or context and the choice below updates (calls `choose`)."""
    import ipywidgets as w

    controls = {
        "task": w.Dropdown(options=list(TASKS), value=task, description="task"),
        "machine": w.Dropdown(options=list(MACHINES), value=machine, description="machine",
                              layout=w.Layout(width="360px")),
        "memory_gb": w.FloatLogSlider(value=memory_gb, base=2, min=0, max=8, step=0.25, description="memory GB",
                                      continuous_update=False, readout_format=".1f"),
        "context": w.SelectionSlider(options=[(f"{c:,}", c) for c in sorted({*CONTEXTS, int(context)})],
                                     value=int(context), description="context", continuous_update=False),
    }
    result = w.HTML()

    def update(_=None) -> None:
        values = {name: control.value for name, control in controls.items()}
        result.value = choose(**values)._repr_html_()

    for control in controls.values():
        control.observe(update, names="value")
    update()
    box = w.VBox([w.HBox([controls["task"], controls["machine"]]), controls["memory_gb"], controls["context"], result])
    box.controls, box.result = controls, result  # for tests and for readers who want to drive it from code
    return box
