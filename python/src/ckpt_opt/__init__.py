"""ckpt-opt from Python.

Which activations a transformer keeps for its backward pass, which it
recomputes, and every byte of the step's memory, from a model config:

>>> import ckpt_opt
>>> config = ckpt_opt.TransformerConfig(num_layers=2, hidden_size=32,
...     num_attention_heads=4, seq_length=16, micro_batch_size=2,
...     padded_vocab_size=128)
>>> report = ckpt_opt.report(config, {"recompute_granularity": "selective"})
>>> report["kept_activation_bytes"]
160768

See docs/python.md for the whole API.
"""

import os as _os

# GNU OpenMP reads its wait settings once, as the native module loads it:
# the bounded spin that ckpt-run uses, unless the environment chooses
# (docs/runtime.md, "Idle threads").
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from ._api import (  # noqa: E402
    CkptError,
    CkptWarning,
    Compiled,
    Plan,
    StepOutput,
    TransformerConfig,
    compare_policies,
    compile,
    options,
    pareto,
    plan,
    report,
    run_step,
    version,
)
from ._plots import plot_memory, plot_policies

__all__ = [
    "CkptError",
    "CkptWarning",
    "Compiled",
    "Plan",
    "StepOutput",
    "TransformerConfig",
    "compare_policies",
    "compile",
    "options",
    "pareto",
    "plan",
    "plot_memory",
    "plot_policies",
    "report",
    "run_step",
    "version",
]
