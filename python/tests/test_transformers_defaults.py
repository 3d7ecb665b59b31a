"""A config.json that leaves a field out means transformers' own default for
its model_type: the importer must read {"model_type": X} as it reads the
whole XConfig().to_dict() (transformers imports without torch)."""

import warnings

import pytest
import transformers

import ckpt_opt

CLASSES = [
    ("gpt2", transformers.GPT2Config),
    ("llama", transformers.LlamaConfig),
    ("mistral", transformers.MistralConfig),
    ("qwen2", transformers.Qwen2Config),
    ("mixtral", transformers.MixtralConfig),
]


def _graph(config):
    # IR only (no plan): the 32-layer defaults build in a second; a short
    # sequence fits Mistral's default window. Every field transformers
    # writes is read or known to change nothing: no warning, no error.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ckpt_opt.CkptWarning)
        return ckpt_opt.compile(config, "plan-memory=false", seq_length=16)


@pytest.mark.parametrize("model_type,cls", CLASSES)
def test_missing_fields_take_the_class_defaults(model_type, cls):
    full = cls().to_dict()
    full["model_type"] = model_type
    written = _graph(full)
    minimal = _graph({"model_type": model_type})
    assert minimal.report["model"] == written.report["model"]
    assert minimal.report["kept_activation_bytes"] == \
        written.report["kept_activation_bytes"]
    # The module's own text: every attribute of every op (epsilons, rotary
    # base, window) agrees, not only the report's summary.
    assert minimal.module == written.module
