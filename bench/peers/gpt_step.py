"""The training step of a ckpt-opt program's GPT in PyTorch (eager) or JAX.

Reads the model from a program that ckpt-compile wrote (the same layers,
sizes, dropouts, GeLU form, tied or untied output layer), builds the same
step written for the framework (forward, mean cross-entropy, backward of
every parameter), and times it. The recompute policy is the framework's own:
selective wraps the core attention (scores, softmax, dropout, context) and
full wraps each layer in torch.utils.checkpoint or jax.checkpoint.

    python gpt_step.py PROGRAM.json --framework torch|jax
        [--policy none|selective|full] [--steps N] [--threads T]

Prints one JSON line: {"framework", "policy", "seconds": [one per step]}.
"""

import argparse
import json
import math
import time


def model_of(program_path):
    program = json.load(open(program_path))
    m = program["model"]
    gelu = next(i.get("attrs", {}).get("approximate", "none")
                for i in program["instructions"] if i["op"] == "gelu")
    return {
        "layers": int(m["num_layers"]),
        "hidden": int(m["hidden_size"]),
        "heads": int(m["num_attention_heads"]),
        "ffn": int(m["ffn_hidden_size"]),
        "vocab": int(m["vocab_size"]),
        "seq": int(m["seq_length"]),
        "batch": int(m["micro_batch_size"]),
        "hidden_dropout": float(m["hidden_dropout"]),
        "attention_dropout": float(m["attention_dropout"]),
        "tied": m.get("untie_embeddings_and_output_weights", "false") != "true",
        "gelu": gelu,
    }


def torch_step(cfg, policy, threads):
    import torch
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    h, a, f, v, s, b = (cfg[k] for k in
                        ("hidden", "heads", "ffn", "vocab", "seq", "batch"))
    d = h // a

    def param(*shape, ones=False):
        t = torch.ones(*shape) if ones else torch.randn(*shape) * 0.02
        return t.requires_grad_()

    params = {"wte": param(v, h), "wpe": param(s, h),
              "lnf_w": param(h, ones=True), "lnf_b": param(h)}
    if not cfg["tied"]:
        params["head"] = param(v, h)
    layers = []
    for _ in range(cfg["layers"]):
        layers.append({
            "ln1_w": param(h, ones=True), "ln1_b": param(h),
            "qkv_w": param(3 * h, h), "qkv_b": param(3 * h),
            "proj_w": param(h, h), "proj_b": param(h),
            "ln2_w": param(h, ones=True), "ln2_b": param(h),
            "fc1_w": param(f, h), "fc1_b": param(f),
            "fc2_w": param(h, f), "fc2_b": param(h)})
    tokens = torch.randint(0, v, (b, s))
    labels = torch.randint(0, v, (b, s))
    causal = torch.ones(s, s, dtype=torch.bool).tril()
    pa, ph = cfg["attention_dropout"], cfg["hidden_dropout"]

    def core_attention(q, k, v_):
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(d))
        probs = scores.masked_fill(~causal, float("-inf")).softmax(-1)
        return F.dropout(probs, pa, True) @ v_

    def layer(x, p):
        y = F.layer_norm(x, (h,), p["ln1_w"], p["ln1_b"], 1e-5)
        q, k, v_ = (F.linear(y, p["qkv_w"], p["qkv_b"])
                    .view(b, s, a, 3 * d).transpose(1, 2).split(d, -1))
        if policy == "selective":
            c = checkpoint(core_attention, q, k, v_, use_reentrant=False)
        else:
            c = core_attention(q, k, v_)
        c = c.transpose(1, 2).reshape(b, s, h)
        x = x + F.dropout(F.linear(c, p["proj_w"], p["proj_b"]), ph, True)
        y = F.layer_norm(x, (h,), p["ln2_w"], p["ln2_b"], 1e-5)
        y = F.gelu(F.linear(y, p["fc1_w"], p["fc1_b"]), approximate=cfg["gelu"])
        return x + F.dropout(F.linear(y, p["fc2_w"], p["fc2_b"]), ph, True)

    def step():
        x = F.dropout(params["wte"][tokens] + params["wpe"], ph, True)
        for p in layers:
            if policy == "full":
                x = checkpoint(layer, x, p, use_reentrant=False)
            else:
                x = layer(x, p)
        x = F.layer_norm(x, (h,), params["lnf_w"], params["lnf_b"], 1e-5)
        logits = x @ params.get("head", params["wte"]).t()
        loss = F.cross_entropy(logits.view(-1, v), labels.view(-1))
        everything = list(params.values()) + [t for p in layers
                                              for t in p.values()]
        for t in everything:
            t.grad = None
        loss.backward()
        return loss.item()

    return step


def jax_step(cfg, policy):
    import jax
    import jax.numpy as jnp

    h, a, f, v, s, b = (cfg[k] for k in
                        ("hidden", "heads", "ffn", "vocab", "seq", "batch"))
    d = h // a
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 1000))

    def param(*shape, ones=False):
        return (jnp.ones(shape) if ones
                else jax.random.normal(next(keys), shape) * 0.02)

    params = {"wte": param(v, h), "wpe": param(s, h),
              "lnf_w": param(h, ones=True), "lnf_b": param(h)}
    if not cfg["tied"]:
        params["head"] = param(v, h)
    params["layers"] = [{
        "ln1_w": param(h, ones=True), "ln1_b": param(h),
        "qkv_w": param(3 * h, h), "qkv_b": param(3 * h),
        "proj_w": param(h, h), "proj_b": param(h),
        "ln2_w": param(h, ones=True), "ln2_b": param(h),
        "fc1_w": param(f, h), "fc1_b": param(f),
        "fc2_w": param(h, f), "fc2_b": param(h)}
        for _ in range(cfg["layers"])]
    tokens = jax.random.randint(next(keys), (b, s), 0, v)
    labels = jax.random.randint(next(keys), (b, s), 0, v)
    causal = jnp.tril(jnp.ones((s, s), dtype=bool))
    pa, ph = cfg["attention_dropout"], cfg["hidden_dropout"]

    def dropout(x, p, key):
        keep = jax.random.bernoulli(key, 1 - p, x.shape)
        return jnp.where(keep, x / (1 - p), 0)

    def layer_norm(x, w, bias):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + 1e-5) * w + bias

    def core_attention(q, k, v_, key):
        scores = (q @ jnp.swapaxes(k, -1, -2)) * (1.0 / math.sqrt(d))
        probs = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), -1)
        return dropout(probs, pa, key) @ v_

    attention = (jax.checkpoint(core_attention) if policy == "selective"
                 else core_attention)

    def layer(x, p, key):
        k1, k2, k3 = jax.random.split(key, 3)
        y = layer_norm(x, p["ln1_w"], p["ln1_b"])
        qkv = (y @ p["qkv_w"].T + p["qkv_b"]).reshape(b, s, a, 3 * d)
        q, k, v_ = jnp.split(jnp.swapaxes(qkv, 1, 2), 3, -1)
        c = jnp.swapaxes(attention(q, k, v_, k1), 1, 2).reshape(b, s, h)
        x = x + dropout(c @ p["proj_w"].T + p["proj_b"], ph, k2)
        y = layer_norm(x, p["ln2_w"], p["ln2_b"])
        y = jax.nn.gelu(y @ p["fc1_w"].T + p["fc1_b"],
                        approximate=cfg["gelu"] == "tanh")
        return x + dropout(y @ p["fc2_w"].T + p["fc2_b"], ph, k3)

    layer_fn = jax.checkpoint(layer) if policy == "full" else layer

    def loss_fn(params, key):
        keys_ = jax.random.split(key, len(params["layers"]) + 1)
        x = dropout(params["wte"][tokens] + params["wpe"], ph, keys_[0])
        for p, k in zip(params["layers"], keys_[1:]):
            x = layer_fn(x, p, k)
        x = layer_norm(x, params["lnf_w"], params["lnf_b"])
        logits = x @ params.get("head", params["wte"]).T
        logp = jax.nn.log_softmax(logits, -1)
        return -jnp.take_along_axis(logp, labels[..., None], -1).mean()

    grad_step = jax.jit(jax.value_and_grad(loss_fn))
    key = jax.random.PRNGKey(1)

    def step():
        loss, grads = grad_step(params, key)
        jax.block_until_ready(grads)
        return float(loss)

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("program")
    parser.add_argument("--framework", choices=("torch", "jax"),
                        required=True)
    parser.add_argument("--policy", choices=("none", "selective", "full"),
                        default="none")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cfg = model_of(args.program)
    step = (torch_step(cfg, args.policy, args.threads)
            if args.framework == "torch" else jax_step(cfg, args.policy))
    loss = step()  # Warm-up (JAX compiles here).
    seconds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"framework": args.framework, "policy": args.policy,
                      "loss": loss, "seconds": seconds}))


if __name__ == "__main__":
    main()
