"""The API of ckpt_opt over its native module (the C API and the runtime)."""

from __future__ import annotations

import json
import numbers
import os
import warnings
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import numpy as np

from . import _native
from ._plan import Plan


class CkptError(Exception):
    """A config, policy or program that ckpt-opt refused.

    ``messages`` holds every diagnostic, one per line, each located:
    ``model.json:3:5: error: /num_layers: num_layers must be a positive
    integer, got -2``.
    """

    def __init__(self, messages: str):
        super().__init__(messages.strip() or "ckpt-opt failed")
        self.messages = messages


class CkptWarning(UserWarning):
    """A warning of the importer or a pass (an unknown config field, a
    policy that does nothing), issued through Python's ``warnings``."""


def _warn(messages: str) -> None:
    """Issues every ``warning:`` line of ``messages`` as a CkptWarning."""
    for line in messages.splitlines():
        if "warning:" in line:
            warnings.warn(line.strip(), CkptWarning, stacklevel=3)


class TransformerConfig:
    """A model config with Megatron-LM's ``TransformerConfig`` field names.

    Build it from keyword arguments, from a Megatron ``TransformerConfig``
    object (read by attribute; Megatron itself is not needed), or from a
    Hugging Face ``config.json`` path, dict or ``transformers`` config:

    >>> cfg = TransformerConfig(num_layers=2, hidden_size=32,
    ...     num_attention_heads=4, seq_length=16, padded_vocab_size=128)
    >>> cfg.hidden_size
    32
    >>> TransformerConfig.from_hf({"model_type": "llama", "hidden_size": 48}).format
    'huggingface'

    Every field is checked by the importer when the config is used; an
    unknown name is a warning there, a wrong value a ``CkptError``.
    """

    #: The Megatron fields the importer models (from_megatron reads these).
    FIELDS: Tuple[str, ...] = (
        "num_layers", "hidden_size", "num_attention_heads", "ffn_hidden_size",
        "seq_length", "micro_batch_size", "vocab_size", "padded_vocab_size",
        "make_vocab_size_divisible_by", "max_position_embeddings",
        "hidden_dropout", "attention_dropout", "layernorm_epsilon",
        "params_dtype", "bf16", "fp16", "untie_embeddings_and_output_weights",
        "add_bias_linear", "add_qkv_bias", "openai_gelu", "kv_channels",
        "num_query_groups", "normalization", "gated_linear_unit", "swiglu",
        "activation_func", "attention_backend", "position_embedding_type",
        "rotary_base", "rotary_percent", "rope_scaling", "rope_scaling_factor",
        "tensor_model_parallel_size",
        "sequence_parallel", "recompute_granularity", "recompute_method",
        "recompute_num_layers", "recompute_modules",
        "distribute_saved_activations", "num_moe_experts", "moe_router_topk",
        "moe_ffn_hidden_size", "moe_shared_expert_intermediate_size",
        "moe_expert_capacity_factor", "moe_aux_loss_coeff",
        "moe_router_load_balancing_type", "moe_token_drop_policy",
        "pipeline_model_parallel_size", "virtual_pipeline_model_parallel_size",
        "num_microbatches", "decoder_first_pipeline_num_layers",
        "decoder_last_pipeline_num_layers",
    )

    def __init__(self, **fields: Any):
        self._fields: Dict[str, Any] = dict(fields)
        self.format = "megatron"

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"TransformerConfig({args})"

    @classmethod
    def from_megatron(cls, obj: Any) -> "TransformerConfig":
        """Reads FIELDS from any object with those attributes (a Megatron
        ``TransformerConfig`` or argparse namespace); functions such as
        ``activation_func`` become their names."""
        fields = {}
        for name in cls.FIELDS:
            if not hasattr(obj, name):
                continue
            value = getattr(obj, name)
            if value is None:
                continue
            if callable(value):
                value = getattr(value, "__name__", str(value))
            elif hasattr(value, "name") and not isinstance(value, (str, int, float)):
                value = value.name  # an enum, such as AttnBackend.flash
            elif not isinstance(value, (bool, int, float, str, list, tuple)):
                value = str(value)  # a dtype, such as torch.bfloat16
            fields[name] = list(value) if isinstance(value, tuple) else value
        return cls(**fields)

    @classmethod
    def from_hf(cls, source: Union[str, os.PathLike, Mapping[str, Any], Any]
                ) -> "TransformerConfig":
        """A Hugging Face config: a ``config.json`` path, its dict, or a
        ``transformers`` config object (``to_dict()``)."""
        if isinstance(source, (str, os.PathLike)):
            with open(source, encoding="utf-8") as f:
                fields = json.load(f)
        elif isinstance(source, Mapping):
            fields = dict(source)
        else:
            fields = source.to_dict()
        config = cls(**fields)
        config.format = "huggingface"
        return config

    def to_json(self) -> str:
        """The config's JSON text, as the importer reads it."""
        return json.dumps(self._fields, indent=2, default=str)


ConfigLike = Union[TransformerConfig, str, os.PathLike, Mapping[str, Any]]
PolicyLike = Union[None, str, Mapping[str, Any], Plan]


def _config_text(config: ConfigLike) -> Tuple[str, str]:
    """The JSON text and a name for messages."""
    if isinstance(config, TransformerConfig):
        return config.to_json(), "config.json"
    if isinstance(config, Mapping):
        return json.dumps(dict(config)), "config.json"
    path = os.fspath(config)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8"), path
    except UnicodeDecodeError as error:
        raise CkptError(
            f"{path}: error: not a config: a JSON text (UTF-8) is expected, "
            f"but byte {error.start} is {data[error.start:error.start + 1]!r}"
        ) from None


#: The option table every front end reads (Options.def, through the C API):
#: each option's spelling, kind, default, choices, help and scopes.
_OPTIONS: Dict[str, Dict[str, Any]] = {
    option["name"]: option for option in json.loads(_native.option_table())}


def options() -> List[Dict[str, Any]]:
    """The option table every front end reads: each option's ``name`` (the
    spelling of ckpt-opt's pass options and ckpt-compile's flags; a policy
    keyword writes ``_`` for ``-``), ``kind``, ``default``, ``choices``,
    ``help``, ``chooses_policy`` and ``scopes`` (``"compile"``: a policy
    keyword of :func:`compile`)."""
    return [dict(option) for option in _OPTIONS.values()]


def _option_word(key: str, value: Any) -> str:
    """``name=value`` for the policy keyword ``key`` (the option's spelling
    with ``_`` for ``-``), its value checked against the option's kind."""
    name = key.replace("_", "-")
    option = _OPTIONS.get(name)
    if option is None or "compile" not in option["scopes"]:
        allowed = ", ".join(n.replace("-", "_") for n, o in _OPTIONS.items()
                            if "compile" in o["scopes"])
        raise TypeError(f"policy {key}: unknown option (allowed: {allowed})")
    kind = option["kind"]
    integral = (isinstance(value, numbers.Integral)
                and not isinstance(value, bool))
    if kind == "bytes":
        value = _byte_size(key, value)
    elif kind == "flag":
        if not isinstance(value, bool):
            raise TypeError(f"policy {key} must be a bool, got {value!r}")
        value = "true" if value else "false"
    elif kind == "integer":
        if not integral:
            raise TypeError(f"policy {key} must be an int, got {value!r}")
    elif kind == "real":
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"policy {key} must be a number, got {value!r}")
        value = repr(float(value))
    elif kind == "list":
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif not isinstance(value, str):
            raise TypeError(f"policy {key} must be a list of names, got "
                            f"{value!r}")
    elif kind == "file":
        value = os.fspath(value)
    elif isinstance(value, (list, tuple, bool)):
        raise TypeError(f"policy {key}: a list is allowed only for "
                        f"recompute_modules, got {value!r}")
    return f"{name}={{{value}}}"


def _policy_text(policy: PolicyLike) -> str:
    """``--ckpt-compile``'s option text from Megatron's names (or the text
    itself); None: the config's own recompute fields."""
    if policy is None:
        return ""
    if isinstance(policy, str):
        return policy
    if isinstance(policy, Plan):
        if policy.path is None:
            raise ValueError("save the plan first (Plan.save(path)): the "
                             "compiler reads a plan from its file")
        return "plan={" + policy.path + "}"
    return " ".join(_option_word(key, value) for key, value in policy.items())


def _byte_size(key: str, value: Any) -> str:
    """A byte count as the options take it: an int, or text such as
    "40GiB"; anything else (a list, a float, a bool) is refused, not
    printed into the option text."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, str):
        return value
    raise TypeError(f"{key} must be a byte count (an int, or text such as "
                    f"'40GiB'), got {value!r}")


#: The overrides every front end takes (the option table's "import" rows:
#: ckpt-compile's import flags, the C API's words) and the Python type of
#: each; their values are checked by the table, as on the command line.
_OVERRIDES: Dict[str, type] = {
    name.replace("-", "_"): {"integer": int, "flag": bool}.get(
        option["kind"], str)
    for name, option in _OPTIONS.items() if "import" in option["scopes"]}


def _overrides_text(overrides: Mapping[str, Any]) -> str:
    words = []
    for key, value in overrides.items():
        if value is None:
            continue
        ok = True
        kind = _OVERRIDES.get(key)
        if kind is None:
            pass  # the native parser names the allowed keys
        elif kind is int:
            ok = (isinstance(value, numbers.Integral)
                  and not isinstance(value, bool))
        else:
            ok = isinstance(value, kind)
        if kind is not None and not ok:
            raise TypeError(f"override {key} must be {kind.__name__}, got "
                            f"{value!r}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        words.append(f"{key.replace('_', '-')}={{{value}}}")
    return " ".join(words)


@dataclass
class Compiled:
    """A compiled training step: the report, the program and the plan."""

    report: Dict[str, Any]
    table: str
    program: str
    module: str
    messages: str = ""
    #: The placement plan the policy decided (a pipeline's: one per stage).
    placement_plan: Optional[Plan] = None
    #: Draws the memory timeline (kept apart: a long schedule's drawing
    #: costs as much as its compile, so it is drawn when first asked).
    _draw_timeline: Callable[[], str] = field(
        default=lambda: "", repr=False, compare=False)
    _timeline: Optional[str] = field(default=None, repr=False, compare=False)

    @property
    def timeline_svg(self) -> str:
        """The memory timeline as SVG ("" without a memory plan)."""
        if self._timeline is None:
            self._timeline = self._draw_timeline()
        return self._timeline


def compile(config: ConfigLike, policy: PolicyLike = None,
            **overrides: Any) -> Compiled:
    """Imports ``config``, builds the training step, applies ``policy``,
    plans memory and lowers to a program.

    ``policy``: Megatron's names as a dict (``{"recompute_granularity":
    "full", "recompute_method": "uniform", "recompute_num_layers": 1}``,
    ``{"memory_budget": "40GiB"}``), a saved ``Plan``, the option text of
    ckpt-opt's ``--ckpt-compile``, or None for the config's own recompute
    fields.
    ``overrides``: seq_length, micro_batch_size, tensor_model_parallel_size,
    sequence_parallel, pipeline_model_parallel_size,
    virtual_pipeline_model_parallel_size, num_microbatches,
    attention_backend, dtype. With pipeline stages the report is a
    ``ckpt-pipeline-report`` (every stage's memory and report) and the
    program holds every stage, for ``mpirun -np p·t ckpt-run``.
    Raises CkptError with the located messages when anything is refused.
    """
    text, name = _config_text(config)
    out = _native.compile(text, name, _policy_text(policy),
                          _overrides_text(overrides))
    if not out["succeeded"]:
        raise CkptError(out["messages"])
    _warn(out["messages"])
    return Compiled(report=json.loads(out["report_json"]),
                    table=out["report_table"], program=out["program"],
                    _draw_timeline=out["timeline_svg"], module=out["module"],
                    messages=out["messages"],
                    placement_plan=(Plan(out["placement_plan"])
                                    if out["placement_plan"] else None))


def report(config: ConfigLike, policy: PolicyLike = None,
           **overrides: Any) -> Dict[str, Any]:
    """The activation report of ``policy`` (docs/report.md's JSON schema)
    as Python data: kept bytes per layer and module, FLOPs, the memory plan
    and its timeline."""
    return compile(config, policy, **overrides).report


def plan(config: ConfigLike, policy: PolicyLike = None,
         memory_budget: Optional[str] = None, **overrides: Any) -> Compiled:
    """A planned step: under ``policy``, or the cheapest plan the budget
    solver finds within ``memory_budget`` ("40GiB", "900MB", bytes)."""
    if memory_budget is not None:
        if policy is not None:
            raise ValueError("give a policy or a memory budget, not both")
        policy = {"memory_budget": memory_budget}
    return compile(config, policy, **overrides)


def _passes_json(config: ConfigLike, pass_text: str,
                 overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """The JSON a pass writes to ``json=report.json``, kept in memory by the
    C API (``ckptRunPassesInMemory``): no file is written."""
    text, name = _config_text(config)
    out = _native.run_passes_in_memory(text, name, pass_text,
                                       _overrides_text(overrides),
                                       ["report.json"])
    if not out["succeeded"]:
        raise CkptError(out["messages"])
    _warn(out["messages"])
    return json.loads(out["outputs"]["report.json"])


def compare_policies(config: ConfigLike, **overrides: Any) -> Dict[str, Any]:
    """Megatron's recompute presets side by side (``--ckpt-compare-policies``):
    ``result["policies"]`` has each strategy's kept bytes, savings and
    recompute overhead."""
    return _passes_json(
        config,
        "xf-training-step,ckpt-compare-policies{json=report.json table=false}",
        overrides)


def pareto(config: ConfigLike, points: Optional[int] = None,
           distribute_saved_activations: bool = False,
           **overrides: Any) -> Dict[str, Any]:
    """The memory-budget frontier (``--ckpt-pareto``): ``points`` budgets
    (by default the option table's, as for ckpt-opt) from the lowest peak
    the solver reaches to keeping everything, each with its arena and
    recompute FLOPs, and Megatron's presets beside them."""
    if points is None:
        points = int(_OPTIONS["points"]["default"])
    flag = "true" if distribute_saved_activations else "false"
    return _passes_json(
        config,
        "xf-training-step,ckpt-pareto{json=report.json table=false "
        f"points={int(points)} distribute-saved-activations={flag}}}",
        overrides)


@dataclass
class StepOutput:
    """One training step on the CPU runtime."""

    loss: float
    gradients: Dict[str, np.ndarray]
    seconds: float
    measured_peak_bytes: int
    planned_peak_bytes: int
    arena: bool = field(default=False)


def _step_input(name: str, value: Any, integer: bool) -> Tuple[list, list]:
    """A [b, s] input as the native call takes it: flat values, shape."""
    if value is None:
        return [], []
    array = np.asarray(value)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a [b, s] array, got shape "
                         f"{array.shape}")
    if integer and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got {array.dtype}")
    if not integer and not (np.issubdtype(array.dtype, np.number)
                            or array.dtype == np.bool_):
        raise TypeError(f"{name} must hold numbers, got {array.dtype}")
    return array.astype(np.float64).ravel().tolist(), list(array.shape)


def run_step(program: Union[Compiled, str], seed: int = 1234,
             f64: bool = False, init_seed: int = 42, tokens: Any = None,
             labels: Any = None, loss_mask: Any = None) -> StepOutput:
    """Runs one step of a program (a Compiled result or the program's JSON
    text) on the CPU, as ``ckpt-run`` does with the same names and
    defaults: ``seed`` keys the dropout masks (``--seed``, 1234),
    ``init_seed`` draws the parameters, tokens and labels (``--init-seed``,
    42), so the default loss is ckpt-run's. ``tokens`` and ``labels``
    ([b, s] integer arrays, given together) replace the drawn ones; a label
    of -100 does not count (Hugging Face's mark), nor does a position whose
    ``loss_mask`` is 0 (Megatron's mask); the loss is the mean over the
    positions that count. Gradients come back as float64 NumPy arrays by
    parameter name. With a memory plan the step runs from the planned
    arena, and the measured peak equals the planned one. ``f64`` computes
    in double precision."""
    text = program.program if isinstance(program, Compiled) else program
    if (tokens is None) != (labels is None):
        raise ValueError("give tokens and labels together, or neither")
    given = (_step_input("tokens", tokens, True)
             + _step_input("labels", labels, True)
             + _step_input("loss_mask", loss_mask, False))
    try:
        out = _native.run_step(text, int(seed), int(init_seed), bool(f64),
                               *given)
    except (RuntimeError, ValueError) as error:
        raise CkptError(str(error)) from None
    return StepOutput(loss=out["loss"], gradients=dict(out["gradients"]),
                      seconds=out["seconds"],
                      measured_peak_bytes=out["measured_peak_bytes"],
                      planned_peak_bytes=out["planned_peak_bytes"],
                      arena=out["arena"])


def version() -> str:
    """The version of the ckpt-opt libraries."""
    return _native.version()
