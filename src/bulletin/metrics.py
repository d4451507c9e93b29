"""The service's metrics as plain values, shared by `bulletin status`, /health and /metrics, and
their Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Metric:
    """One metric family: its name, ``counter`` or ``gauge``, a help line and its samples."""

    name: str
    kind: str
    help: str
    samples: tuple[tuple[Labels, float], ...]


def render_metrics(metrics: Sequence[Metric]) -> str:
    """The Prometheus text exposition format (0.0.4) of ``metrics``."""
    lines = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {_escape(metric.help, help_text=True)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
            lines.append(f"{metric.name}{{{shown}}} {_number(value)}".replace("{}", ""))
    return "\n".join(lines) + "\n"


def _escape(text: str, help_text: bool = False) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text if help_text else text.replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))
