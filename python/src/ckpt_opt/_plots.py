"""Plots with matplotlib, saved as PNG."""

from __future__ import annotations

import os
from typing import Any, Mapping, Union

from ._api import Compiled


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "ckpt_opt's plots need matplotlib, which the package installs "
            "only as its 'plot' extra: pip install 'ckpt-opt[plot]' (or "
            "pip install matplotlib)") from error

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_memory(report: Union[Compiled, Mapping[str, Any]],
                path: Union[str, os.PathLike]) -> None:
    """Memory over the schedule, stacked by kind (kept activations,
    recomputed values, workspace, gradients), from a planned report."""
    if isinstance(report, Compiled):
        report = report.report
    timeline = report.get("timeline") or []
    if not timeline:
        raise ValueError("the report has no timeline: plan memory first")
    plt = _pyplot()
    kinds = ["kept", "recomputed", "workspace", "gradients"]
    steps = range(len(timeline))
    series = [[point[k] / 2**20 for point in timeline] for k in kinds]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.stackplot(steps, *series, labels=kinds)
    ax.set_xlabel("schedule step")
    ax.set_ylabel("MiB")
    ax.set_title(f"Memory over the schedule: @{report.get('function', '')}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def plot_policies(comparison: Mapping[str, Any],
                  path: Union[str, os.PathLike]) -> None:
    """Kept activations and recompute overhead of each policy, from
    compare_policies()."""
    policies = comparison["policies"]
    plt = _pyplot()
    names = [p["strategy"] for p in policies]
    kept = [p["kept_activation_bytes"] / 2**20 for p in policies]
    overhead = [p["overhead_percent"] for p in policies]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(range(len(names)), kept, color="tab:blue")
    ax.set_ylabel("kept activations (MiB)")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    right = ax.twinx()
    right.plot(range(len(names)), overhead, "o-", color="tab:red")
    right.set_ylabel("recompute overhead (%)")
    ax.set_title("Recompute policies")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
