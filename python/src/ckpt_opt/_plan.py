"""Placement plans: where every saved value of a step lives
(docs/plan-format.md)."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Optional, Union

PLAN_SCHEMA = "ckpt-plan"
PLAN_VERSION = 1


class Plan:
    """A placement plan as the compiler wrote it: for every value the
    backward reads, ``keep``, ``recompute`` (in a named group) or ``shard``.

    ``Compiled.placement_plan`` holds the plan a policy decided;
    ``Plan.save`` writes it and ``Plan.load`` reads one back, and a plan is a
    policy of its own: ``compile(config, policy=plan)`` applies it (the
    compiler checks that it fits the step, value by value)."""

    def __init__(self, text: str, path: Optional[str] = None):
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
            raise ValueError("not a placement plan (schema ckpt-plan)")
        self._text = text
        self._data: Dict[str, Any] = data
        #: The file the plan was loaded from or saved to, if any.
        self.path = path

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Plan":
        """Reads the plan file ``path`` (written by ``--save-plan``,
        ``save-plan=`` or ``Plan.save``)."""
        path = os.fspath(path)
        with open(path, encoding="utf-8") as f:
            return cls(f.read(), path)

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the plan file, as the compiler wrote it."""
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self._text)
        self.path = path

    @property
    def text(self) -> str:
        """The plan file's text."""
        return self._text

    def _plans(self) -> List[Dict[str, Any]]:
        """The file's plans: one, or a pipeline's, one per stage."""
        return list(self._data.get("stages", [self._data]))

    @property
    def stages(self) -> List[Optional[int]]:
        """The pipeline stage of each plan of the file (``[None]`` for a
        step of one stage)."""
        return [plan.get("pipeline_stage") for plan in self._plans()]

    @property
    def policy(self) -> str:
        """The policy that decided the plan ("selective(core_attn)", ...)."""
        return self._plans()[0].get("policy", "")

    @property
    def kept_bytes(self) -> int:
        """Bytes the device keeps for the saved values (a shard 1/t), summed
        over the stages of a pipeline's file."""
        return sum(int(plan["kept_bytes"]) for plan in self._plans())

    @property
    def groups(self) -> List[Dict[str, Any]]:
        """The recompute groups: label, layer and the ops each re-runs (and
        ``pipeline_stage`` in a pipeline's file)."""
        return [dict(group, pipeline_stage=plan.get("pipeline_stage"))
                if "pipeline_stage" in plan else dict(group)
                for plan in self._plans() for group in plan["groups"]]

    def values(self) -> Iterator[Dict[str, Any]]:
        """Every saved value in forward order: ``value`` (its stable name),
        ``layer``, ``placement``, ``group`` (when recomputed) and ``bytes``
        (and ``pipeline_stage`` in a pipeline's file)."""
        for plan in self._plans():
            for section in plan["layers"]:
                for value in section["values"]:
                    entry = dict(value, layer=section["layer"])
                    if "pipeline_stage" in plan:
                        entry["pipeline_stage"] = plan["pipeline_stage"]
                    yield entry

    def __repr__(self) -> str:
        counts: Dict[str, int] = {}
        for value in self.values():
            counts[value["placement"]] = counts.get(value["placement"], 0) + 1
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        return f"Plan({self.policy!r}: {summary}; kept {self.kept_bytes} B)"
