"""TransformerConfig from keywords, Megatron objects and Hugging Face."""

import enum
import json
import os
import types

import pytest

import ckpt_opt
from ckpt_opt import TransformerConfig

TINY = dict(num_layers=2, hidden_size=32, num_attention_heads=4,
            seq_length=16, micro_batch_size=2, padded_vocab_size=128)


def test_keywords_are_megatron_fields():
    config = TransformerConfig(**TINY, hidden_dropout=0.0)
    assert config.num_layers == 2
    assert json.loads(config.to_json())["hidden_dropout"] == 0.0
    with pytest.raises(AttributeError):
        config.not_a_field


def test_from_a_megatron_object():
    # Megatron's TransformerConfig is read by attribute: functions become
    # their names, enums their member names, other objects their text.
    def silu(x):
        return x

    class AttnBackend(enum.Enum):
        flash = 1

    megatron = types.SimpleNamespace(
        **TINY, num_query_groups=2, normalization="RMSNorm",
        gated_linear_unit=True, activation_func=silu, add_bias_linear=False,
        attention_backend=AttnBackend.flash, position_embedding_type="rope",
        not_a_field=object(), kv_channels=None)
    config = TransformerConfig.from_megatron(megatron)
    assert config.activation_func == "silu"
    assert config.attention_backend == "flash"
    assert not hasattr(config, "not_a_field")
    report = ckpt_opt.report(config)
    assert report["model"]["normalization"] == "RMSNorm"
    assert report["model"]["attention_backend"] == "flash"


def test_every_field_is_one_the_importer_reads():
    # Each name of FIELDS, null, next to a valid config: no field is
    # unknown to the importer.
    fields = {name: None for name in TransformerConfig.FIELDS}
    fields.update(TINY)
    compiled = ckpt_opt.compile(TransformerConfig(**fields))
    assert "unknown field" not in compiled.messages


def test_from_hugging_face(examples):
    path = os.path.join(examples, "tiny-llama.json")
    from_path = TransformerConfig.from_hf(path)
    with open(path) as f:
        from_dict = TransformerConfig.from_hf(json.load(f))

    class FakeTransformersConfig:  # what transformers' configs offer
        def to_dict(self):
            return from_dict._fields

    from_object = TransformerConfig.from_hf(FakeTransformersConfig())
    reports = [ckpt_opt.report(c) for c in (from_path, from_dict, from_object)]
    assert reports[0]["model"]["family"] == "llama"
    assert reports[0] == reports[1] == reports[2]
    # A path to the config works directly too.
    assert ckpt_opt.report(path) == reports[0]
