#!/usr/bin/env python3
"""Compares one training step of ckpt-run with Hugging Face transformers'
own model of the same config, in float64: the loss and every parameter's
gradient, for tiny configs of each family (dense, grouped-query attention,
biases, flash attention, every rotary scaling, Qwen2, Mistral, Mixtral).

ckpt-run draws the parameters, tokens and labels (--save-params); they are
loaded into transformers' model (Megatron's fused QKV and [gate; up] split
into q/k/v_proj and gate/up_proj), and its gradients are fused back the
same way. transformers computes rotary angles in float32 even in a float64
model, and its RMSNorm and eager softmax cast to float32; the script runs
them with float64 in place of float32, so the comparison is of the
formulas, not of float32 rounding.

usage: compare_transformers.py BIN_DIR WORK_DIR [CASE...]
Prints one line per case and exits non-zero when a case exceeds its
tolerance. scripts/compare-transformers.sh makes the venv it runs in."""

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

BASE = {"hidden_act": "silu", "hidden_size": 48, "intermediate_size": 64,
        "max_position_embeddings": 16, "num_attention_heads": 6,
        "num_hidden_layers": 2, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "torch_dtype": "float32",
        "vocab_size": 128}


def llama(**fields):
    config = {"model_type": "llama", **BASE, **fields}
    if "rope_parameters" in fields:  # transformers 5 keeps rope_theta there.
        del config["rope_theta"]
    return config


LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 4}

CASES = {
    "llama-gqa": llama(),
    "llama-mha-tied": llama(num_key_value_heads=6, tie_word_embeddings=True),
    "llama-attention-bias": llama(attention_bias=True),
    "llama-mlp-bias": llama(mlp_bias=True),
    "llama-both-biases": llama(attention_bias=True, mlp_bias=True),
    "llama-flash": llama(attn_implementation="flash_attention_2"),
    "llama-rope-linear": llama(rope_scaling={"rope_type": "linear",
                                             "factor": 4.0}),
    "llama-rope-dynamic": llama(rope_scaling={"type": "dynamic",
                                              "factor": 2.0}),
    "llama-rope-llama3": llama(rope_theta=500000.0, rope_scaling=LLAMA3),
    "llama-rope-llama3-v5": llama(
        rope_parameters={**LLAMA3, "rope_theta": 500000.0}),
    "llama-rope-yarn": llama(rope_parameters={
        "rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0,
        "original_max_position_embeddings": 4}),
    "llama-rope-yarn-mscale": llama(rope_parameters={
        "rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0,
        "mscale": 2.0, "mscale_all_dim": 1.0, "truncate": False,
        "original_max_position_embeddings": 4}),
    "mistral": {**BASE, "model_type": "mistral", "sliding_window": 16},
    "qwen2": {**BASE, "model_type": "qwen2", "tie_word_embeddings": True},
    # Labels of -100 at every third position (tokens_and_labels).
    "llama-ignored-labels": llama(),
    "mixtral": {**BASE, "model_type": "mixtral", "num_local_experts": 4,
                "num_experts_per_tok": 2, "rope_theta": 1e6},
    # transformers' load_balancing_loss_func, pooled over the layers.
    "mixtral-balancing-loss": {
        **BASE, "model_type": "mixtral", "num_local_experts": 4,
        "num_experts_per_tok": 2, "rope_theta": 1e6,
        "output_router_logits": True, "router_aux_loss_coef": 0.5},
}


def run_ckpt(bin_dir, config, work):
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.json").write_text(json.dumps(config, indent=1))
    subprocess.run([f"{bin_dir}/ckpt-compile", str(work / "config.json"),
                    "-o", str(work / "program.json"), "--quiet"], check=True)
    out = subprocess.run(
        [f"{bin_dir}/ckpt-run", str(work / "program.json"),
         "--precision=f64", "--threads=1", "--init-seed=7",
         f"--save-params={work}/params", f"--dump-grads={work}/grads",
         f"--tokens={work}/tokens.npy", f"--labels={work}/labels.npy"]
        if (work / "tokens.npy").exists() else
        [f"{bin_dir}/ckpt-run", str(work / "program.json"),
         "--precision=f64", "--threads=1", "--init-seed=7",
         f"--save-params={work}/params", f"--dump-grads={work}/grads"],
        check=True, capture_output=True, text=True).stdout
    loss = float(next(line.split()[1] for line in out.splitlines()
                      if line.startswith("loss:")))
    load = lambda d: {p.stem: np.load(p).astype(np.float64)
                      for p in (work / d).glob("*.npy")}
    return loss, load("params"), load("grads")


def tokens_and_labels(name, config, seed=11):
    rng = np.random.default_rng(seed)
    s, v = config["max_position_embeddings"], config["vocab_size"]
    tokens = rng.integers(0, v, size=(1, s), dtype=np.int32)
    labels = rng.integers(0, v, size=(1, s), dtype=np.int32)
    if "ignored" in name:
        labels[:, ::3] = -100
    return tokens, labels


def split_qkv(w, heads, groups, d):
    """Megatron's QKV rows, per group [a/g queries, key, value] -> q, k, v."""
    per = heads // groups
    w = w.reshape(groups, per + 2, d, *w.shape[1:])
    q = w[:, :per].reshape(heads * d, *w.shape[3:])
    return q, w[:, per].reshape(groups * d, *w.shape[3:]), \
        w[:, per + 1].reshape(groups * d, *w.shape[3:])


def fuse_qkv(q, k, v, heads, groups, d):
    per = heads // groups
    q = q.reshape(groups, per, d, *q.shape[1:])
    k = k.reshape(groups, 1, d, *k.shape[1:])
    v = v.reshape(groups, 1, d, *v.shape[1:])
    return np.concatenate([q, k, v], axis=1).reshape(-1, *q.shape[3:])


def hf_names(config, layers):
    """Megatron name -> (Hugging Face names, split, fuse)."""
    heads, hidden = config["num_attention_heads"], config["hidden_size"]
    groups, d = config["num_key_value_heads"], hidden // heads
    names = {"embedding.word_embeddings.weight": ["model.embed_tokens.weight"],
             "decoder.final_layernorm.weight": ["model.norm.weight"],
             "output_layer.weight": ["lm_head.weight"]}
    qkv = (lambda w: split_qkv(w, heads, groups, d),
           lambda parts: fuse_qkv(*parts, heads, groups, d))
    halves = (lambda w: np.split(w, 2, axis=-2 if w.ndim == 3 else 0),
              lambda parts: np.concatenate(parts, axis=-2 if parts[0].ndim == 3
                                           else 0))
    rules = {}
    for layer in range(layers):
        m, h = f"decoder.layers.{layer}.", f"model.layers.{layer}."
        names[m + "input_layernorm.weight"] = [h + "input_layernorm.weight"]
        names[m + "pre_mlp_layernorm.weight"] = [
            h + "post_attention_layernorm.weight"]
        for kind in ("weight", "bias"):
            key = m + f"self_attention.linear_qkv.{kind}"
            names[key] = [h + f"self_attn.{p}_proj.{kind}" for p in "qkv"]
            rules[key] = qkv
            names[m + f"self_attention.linear_proj.{kind}"] = [
                h + f"self_attn.o_proj.{kind}"]
            key = m + f"mlp.linear_fc1.{kind}"
            names[key] = [h + f"mlp.gate_proj.{kind}", h + f"mlp.up_proj.{kind}"]
            rules[key] = halves
            names[m + f"mlp.linear_fc2.{kind}"] = [h + f"mlp.down_proj.{kind}"]
        names[m + "mlp.router.weight"] = [h + "mlp.gate.weight"]
        names[m + "mlp.experts.linear_fc1.weight"] = [
            h + "mlp.experts.gate_up_proj"]
        names[m + "mlp.experts.linear_fc2.weight"] = [
            h + "mlp.experts.down_proj"]
    return names, rules


def rotary_in_f64(model):
    """transformers' own rope functions, evaluated with float64 tensors."""
    for module in model.modules():
        if not type(module).__name__.endswith("RotaryEmbedding"):
            continue
        init = (module.compute_default_rope_parameters
                if module.rope_type in ("default", "dynamic")
                else ROPE_INIT_FUNCTIONS[module.rope_type])
        saved = torch.float, torch.float32
        torch.float = torch.float32 = torch.float64
        try:
            inv_freq, scale = init(module.config)
        finally:
            torch.float, torch.float32 = saved
        module.inv_freq64, module.scale64 = inv_freq.double(), scale

        def forward(self, x, position_ids):
            freqs = position_ids[..., None].double() * self.inv_freq64
            emb = torch.cat((freqs, freqs), dim=-1)
            return ((emb.cos() * self.scale64).to(x.dtype),
                    (emb.sin() * self.scale64).to(x.dtype))
        module.forward = types.MethodType(forward, module)


def run_transformers(config, params, tokens, labels):
    hf_config = {k: v for k, v in config.items()
                 if k not in ("attn_implementation",)}
    cfg = transformers.AutoConfig.for_model(**hf_config)
    model = transformers.AutoModelForCausalLM.from_config(
        cfg, attn_implementation="eager", experts_implementation="eager",
        dtype=torch.float64)
    names, rules = hf_names(config, config["num_hidden_layers"])
    state = model.state_dict()
    loaded = set()
    for ours, value in params.items():
        targets = names[ours]
        parts = rules[ours][0](value) if ours in rules else [value]
        for target, part in zip(targets, parts):
            state[target] = torch.from_numpy(np.ascontiguousarray(part))
            loaded.add(target)
    if cfg.tie_word_embeddings:
        loaded.add("lm_head.weight")
    missing = [k for k in state if k not in loaded and "rotary" not in k]
    assert not missing, f"parameters not loaded: {missing}"
    model.load_state_dict(state)
    rotary_in_f64(model)
    # RMSNorm, the eager softmax and Mixtral's router cast to float32 by
    # name or by .float(): in float64.
    saved = torch.float, torch.float32, torch.Tensor.float
    torch.float = torch.float32 = torch.float64
    torch.Tensor.float = lambda self, *args, **kwargs: self.double()
    try:
        out = model(input_ids=torch.from_numpy(tokens).long())
        logits = out.logits
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            torch.from_numpy(labels).long().reshape(-1))
        if getattr(out, "aux_loss", None) is not None:
            # As MixtralForCausalLM adds it to a loss of labels.
            loss = loss + cfg.router_aux_loss_coef * out.aux_loss
        loss.backward()
    finally:
        torch.float, torch.float32, torch.Tensor.float = saved
    named = dict(model.named_parameters())
    grads = {}
    for ours in params:
        targets = names[ours]
        if ours == "embedding.word_embeddings.weight" and cfg.tie_word_embeddings:
            parts = [named["model.embed_tokens.weight"].grad.numpy()]
        else:
            parts = [named[t].grad.numpy() for t in targets]
        grads[ours] = rules[ours][1](parts) if ours in rules else parts[0]
    return loss.item(), grads


def compare(bin_dir, work, name, config):
    case = work / name
    case.mkdir(parents=True, exist_ok=True)
    tokens, labels = tokens_and_labels(name, config)
    np.save(case / "tokens.npy", tokens)
    np.save(case / "labels.npy", labels)
    loss, params, grads = run_ckpt(bin_dir, config, case)
    hf_loss, hf_grads = run_transformers(config, params, tokens, labels)
    worst = 0.0
    for key, ours in grads.items():
        theirs = hf_grads[key]
        assert ours.shape == theirs.shape, (key, ours.shape, theirs.shape)
        scale = max(np.abs(theirs).max(), 1e-300)
        worst = max(worst, np.abs(ours - theirs).max() / scale)
    return abs(loss - hf_loss), worst


def main():
    bin_dir, work = sys.argv[1], Path(sys.argv[2])
    chosen = sys.argv[3:] or list(CASES)
    # ckpt-run prints the loss with 8 decimals.
    tolerance, loss_tolerance = 1e-12, 1e-8
    failed = []
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    print(f"{'case':26} {'loss diff':>15} {'worst gradient':>15}")
    for name in chosen:
        loss_diff, grad_diff = compare(bin_dir, work, name, CASES[name])
        ok = loss_diff <= loss_tolerance and grad_diff <= tolerance
        print(f"{name:26} {loss_diff:15.2e} {grad_diff:15.2e}"
              f"{'' if ok else '  FAIL'}")
        if not ok:
            failed.append(name)
    print(f"(loss: |ours - transformers|, tolerance {loss_tolerance:g}; "
          f"gradient: max |ours - transformers| / max |transformers| per "
          f"parameter, tolerance {tolerance:g})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
