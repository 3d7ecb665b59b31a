"""Reports, comparisons, plans, the frontier, steps and errors."""

import os
import sys

import numpy as np
import pytest

import ckpt_opt
from ckpt_opt import CkptError, TransformerConfig

S, B, H, A = 16, 2, 32, 4
GPT = TransformerConfig(num_layers=2, hidden_size=H, num_attention_heads=A,
                        seq_length=S, micro_batch_size=B,
                        padded_vocab_size=128, bf16=True)


def test_report_reproduces_korthikanti():
    # 16-bit GPT layer with dropout: 34·s·b·h + 5·a·s²·b bytes kept; with
    # selective recompute 34·s·b·h.
    none = ckpt_opt.report(GPT)
    assert [l["kept_bytes"] for l in none["per_layer"]] == \
        [34 * S * B * H + 5 * A * S * S * B] * 2
    selective = ckpt_opt.report(GPT, {"recompute_granularity": "selective"})
    assert selective["per_layer"][0]["kept_bytes"] == 34 * S * B * H
    # The same policy as --ckpt-compile's option text.
    assert ckpt_opt.report(GPT, "recompute-granularity=selective") == selective


def test_overrides():
    report = ckpt_opt.report(GPT, seq_length=8, tensor_model_parallel_size=2,
                             sequence_parallel=True)
    assert report["model"]["seq_length"] == "8"
    assert report["model"]["tensor_model_parallel_size"] == "2"


def test_pipeline_stages():
    # 2 stages of one layer, 4 micro-batches under 1F1B: stage 0 holds two
    # micro-batches' activations at once, stage 1 one; stage 0 limits.
    staged = ckpt_opt.compile(GPT, pipeline_model_parallel_size=2,
                              num_microbatches=4)
    assert staged.report["schema"] == "ckpt-pipeline-report"
    first, last = staged.report["stages"]
    assert first["in_flight"] == 2 and last["in_flight"] == 1
    assert first["kept_bytes_at_once"] == 2 * first["kept_bytes_per_micro_batch"]
    assert staged.report["pipeline"]["limiting_stage"] == 0
    assert '"stages": [' in staged.program
    # The limiting stage's timeline, drawn when first asked.
    assert staged.timeline_svg.startswith("<svg")
    assert "pipeline stage 0 of 2" in staged.timeline_svg
    # The same from the config's own fields.
    fields = TransformerConfig(num_layers=2, hidden_size=H,
                               num_attention_heads=A, seq_length=S,
                               micro_batch_size=B, padded_vocab_size=128,
                               bf16=True, pipeline_model_parallel_size=2,
                               num_microbatches=4)
    assert ckpt_opt.compile(fields).report["stages"] == staged.report["stages"]
    with pytest.raises(CkptError, match="must not exceed the number of layers"):
        ckpt_opt.compile(GPT, pipeline_model_parallel_size=3)
    # The stages run one per MPI rank; run_step says how.
    with pytest.raises(CkptError, match="holds 2 pipeline stages, which run "
                       "one per MPI rank: .* mpirun -np 2 ckpt-run FILE"):
        ckpt_opt.run_step(staged)


def test_pipeline_stages_under_a_budget():
    # Each stage gets the cheapest plan whose own arena fits: stage 0, which
    # holds two micro-batches, recomputes more than stage 1.
    keep_all = ckpt_opt.compile(GPT, pipeline_model_parallel_size=2,
                                num_microbatches=4).report["stages"]
    budget = keep_all[0]["arena_bytes"] * 3 // 4
    stages = ckpt_opt.plan(GPT, memory_budget=str(budget),
                           pipeline_model_parallel_size=2,
                           num_microbatches=4).report["stages"]
    assert all(s["arena_bytes"] <= budget for s in stages)
    assert (stages[0]["recompute_flops_per_micro_batch"] >
            stages[1]["recompute_flops_per_micro_batch"])
    with pytest.raises(CkptError, match="on pipeline stage 0 of 2"):
        ckpt_opt.plan(GPT, memory_budget="1000",
                      pipeline_model_parallel_size=2, num_microbatches=4)


def test_compare_policies():
    comparison = ckpt_opt.compare_policies(GPT)
    strategies = {p["strategy"]: p for p in comparison["policies"]}
    assert strategies["none"]["saved_bytes"] == 0
    assert (strategies["selective(core_attn)"]["kept_activation_bytes"]
            < strategies["none"]["kept_activation_bytes"])
    assert "full uniform N=1" in strategies


def test_plan_under_a_budget_and_the_frontier():
    frontier = ckpt_opt.pareto(GPT, points=4)
    arenas = [p["arena_bytes"] for p in frontier["points"]]
    assert len(arenas) == 4 and arenas == sorted(arenas)
    flops = [p["recompute_flops"] for p in frontier["points"]]
    assert flops == sorted(flops, reverse=True)
    budget = (arenas[0] + arenas[-1]) // 2
    planned = ckpt_opt.plan(GPT, memory_budget=str(budget))
    assert planned.report["arena_bytes"] <= budget
    with pytest.raises(ValueError):
        ckpt_opt.plan(GPT, {"recompute_granularity": "full"}, memory_budget="1GiB")
    # The default number of budgets is ckpt-opt's --ckpt-pareto default.
    assert len(ckpt_opt.pareto(GPT)["points"]) == 12


def test_placement_plan_saved_and_applied(tmp_path):
    # The plan a policy decided, saved and applied as a policy of its own,
    # compiles to the same step, program and report.
    selective = ckpt_opt.compile(GPT, {"recompute_granularity": "selective"})
    plan = selective.placement_plan
    assert plan.policy == "selective(core_attn)"
    assert plan.kept_bytes == selective.report["kept_activation_bytes"]
    recomputed = [v["value"] for v in plan.values()
                  if v["placement"] == "recompute"]
    assert "L0.core_attn.softmax" in recomputed
    assert [g["label"] for g in plan.groups] == \
        ["layer 0 core_attn", "layer 1 core_attn"]
    plan.save(tmp_path / "plan.json")
    loaded = ckpt_opt.Plan.load(tmp_path / "plan.json")
    assert loaded.text == plan.text
    again = ckpt_opt.compile(GPT, loaded)
    assert again.module == selective.module
    assert again.program == selective.program
    assert again.report == selective.report
    assert again.placement_plan.text == plan.text
    # An unsaved plan is refused before anything runs.
    with pytest.raises(ValueError, match="save the plan first"):
        ckpt_opt.compile(GPT, ckpt_opt.Plan(plan.text))
    # A plan of another shape is refused by name.
    with pytest.raises(CkptError, match="value 'embedding.dropout:result': "
                       "1024 bytes in this step, 2048 in the plan"):
        ckpt_opt.compile(GPT, loaded, seq_length=8)
    # A pipeline compiled stage by stage has a plan per stage, in one file.
    staged = ckpt_opt.compile(GPT, {"recompute_granularity": "selective"},
                              pipeline_model_parallel_size=2)
    assert staged.placement_plan.stages == [0, 1]
    staged.placement_plan.save(tmp_path / "stages.json")
    again = ckpt_opt.compile(GPT, ckpt_opt.Plan.load(tmp_path / "stages.json"),
                             pipeline_model_parallel_size=2)
    assert again.program == staged.program
    assert [v["placement"] for v in staged.placement_plan.values()
            if v["value"] == "L1.core_attn.softmax"] == ["recompute"]


def test_run_step_gradients_bit_identical_across_policies():
    kept = ckpt_opt.run_step(ckpt_opt.compile(GPT))
    full = ckpt_opt.run_step(ckpt_opt.compile(
        GPT, {"recompute_granularity": "full", "recompute_method": "uniform",
              "recompute_num_layers": 1}))
    assert kept.loss == full.loss
    assert kept.gradients.keys() == full.gradients.keys()
    for name, grad in kept.gradients.items():
        assert isinstance(grad, np.ndarray) and grad.dtype == np.float64
        assert np.array_equal(grad, full.gradients[name]), name
    wte = kept.gradients["embedding.word_embeddings.weight"]
    assert wte.shape == (128, H)
    for step in (kept, full):
        assert step.arena
        assert step.measured_peak_bytes == step.planned_peak_bytes


def test_run_step_in_f64_from_program_text():
    compiled = ckpt_opt.compile(GPT)
    step = ckpt_opt.run_step(compiled.program, seed=7, f64=True)
    assert np.isfinite(step.loss) and step.loss > 0


def test_run_step_labels_of_minus_100_and_the_loss_mask_agree():
    # Hugging Face marks a position out with -100, Megatron with a loss mask
    # of 0: one loss (the mean over the positions that count), one gradient.
    compiled = ckpt_opt.compile(GPT)
    b, s = 2, GPT.seq_length
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, 128, size=(b, s))
    labels = rng.integers(0, 128, size=(b, s))
    mask = np.ones((b, s))
    mask[:, : s // 2] = 0
    marked = np.where(mask == 0, -100, labels)
    whole = ckpt_opt.run_step(compiled, tokens=tokens, labels=labels, f64=True)
    by_mask = ckpt_opt.run_step(compiled, tokens=tokens, labels=labels,
                                loss_mask=mask, f64=True)
    by_label = ckpt_opt.run_step(compiled, tokens=tokens, labels=marked,
                                 f64=True)
    assert by_mask.loss == by_label.loss != whole.loss
    for name, grad in by_mask.gradients.items():
        assert np.array_equal(grad, by_label.gradients[name]), name
    nothing = ckpt_opt.run_step(compiled, tokens=tokens, labels=labels,
                                loss_mask=np.zeros((b, s)))
    assert nothing.loss == 0.0
    assert not any(g.any() for g in nothing.gradients.values())
    with pytest.raises(ValueError, match="tokens and labels together"):
        ckpt_opt.run_step(compiled, tokens=tokens)
    with pytest.raises(CkptError, match=r"labels must have shape \(2, 16\)"):
        ckpt_opt.run_step(compiled, tokens=tokens, labels=labels[:, :3])
    with pytest.raises(TypeError, match="labels must hold integers"):
        ckpt_opt.run_step(compiled, tokens=tokens, labels=labels * 0.5)
    with pytest.raises(CkptError, match="label -7 at position 0"):
        ckpt_opt.run_step(compiled, tokens=tokens,
                          labels=np.full((b, s), -7))
    with pytest.raises(CkptError, match="loss mask values must be 0 or 1"):
        ckpt_opt.run_step(compiled, loss_mask=np.full((b, s), 0.5))


def test_errors_are_located():
    bad = dict(GPT._fields, num_layers=-2)
    with pytest.raises(CkptError) as error:
        ckpt_opt.report(bad)
    assert "config.json:" in error.value.messages
    assert "num_layers must be a positive integer, got -2" in error.value.messages
    with pytest.raises(CkptError, match="recompute-granularity must be none, "
                                         "selective or full, got 'some'"):
        ckpt_opt.report(GPT, {"recompute_granularity": "some"})
    with pytest.raises(CkptError, match="overrides: unknown key"):
        ckpt_opt.report(GPT, sequence_length=8)
    with pytest.raises(CkptError):
        ckpt_opt.run_step("{not a program")


def test_run_step_has_ckpt_runs_seeds_and_defaults(tmp_path):
    # seed is the dropout seed and init_seed draws the parameters and
    # inputs, with ckpt-run's defaults: the same program gives ckpt-run's
    # loss (it once took one seed for both, 1234 for the parameters too).
    import subprocess
    compiled = ckpt_opt.compile(GPT)
    path = tmp_path / "step.json"
    path.write_text(compiled.program)
    run = os.environ.get("CKPT_RUN", os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "bin", "ckpt-run"))
    out = subprocess.run([run, str(path), "--threads=1"], check=True,
                         capture_output=True, text=True).stdout
    loss = float(next(line for line in out.splitlines()
                      if line.startswith("loss:")).split()[1])
    assert ckpt_opt.run_step(compiled).loss == pytest.approx(loss, rel=1e-6)
    other = ckpt_opt.run_step(compiled, seed=99)
    assert other.loss != pytest.approx(loss, rel=1e-9)
    assert ckpt_opt.run_step(compiled, init_seed=99).loss != \
        pytest.approx(loss, rel=1e-9)


def test_overrides_are_checked_as_on_the_command_line():
    # The option table checks every front end's overrides with the same
    # rule and words as ckpt-compile's flags: these once succeeded from
    # Python and the C API (0 and -3 became 1).
    for key, value in (("num_microbatches", 0),
                       ("pipeline_model_parallel_size", 0),
                       ("virtual_pipeline_model_parallel_size", -3)):
        name = key.replace("_", "-")
        with pytest.raises(CkptError, match=f"{name} must be a positive "
                                            f"integer, got '{value}'"):
            ckpt_opt.compile(GPT, **{key: value})
    with pytest.raises(CkptError, match="pipeline-stage must be a "
                                        "non-negative integer, got '-1'"):
        ckpt_opt.compile(GPT, pipeline_model_parallel_size=2,
                         num_microbatches=2, pipeline_stage=-1)
    # A stage past the last is the importer's to refuse: it knows p.
    with pytest.raises(CkptError, match="--pipeline-stage"):
        ckpt_opt.compile(GPT, pipeline_model_parallel_size=2,
                         num_microbatches=2, pipeline_stage=2)
    # A value of the wrong type is refused, not printed into option text
    # ([1] was a budget of one byte).
    with pytest.raises(TypeError, match="memory_budget must be a byte count"):
        ckpt_opt.plan(GPT, memory_budget=[1])
    with pytest.raises(TypeError, match="override num_microbatches must be "
                                        "int, got 2.5"):
        ckpt_opt.compile(GPT, num_microbatches=2.5)
    assert ckpt_opt.plan(GPT, memory_budget=10**9).report["kept_activation_bytes"] > 0


def test_importer_warnings_reach_python():
    # A vocabulary that t does not divide stays whole on every rank, where
    # Megatron would pad it: every entry point says so as a CkptWarning.
    odd = dict(GPT._fields, padded_vocab_size=127,
               tensor_model_parallel_size=2)
    for call in (lambda: ckpt_opt.report(odd),
                 lambda: ckpt_opt.compare_policies(odd),
                 lambda: ckpt_opt.pareto(odd, points=2)):
        with pytest.warns(ckpt_opt.CkptWarning,
                          match=r"the vocabulary \(127\) does not split "
                                "over 2 tensor-parallel ranks"):
            call()


def test_distributed_optimizer_from_the_config():
    # The config's data-parallel layout sets the persistent bytes: 6 + 12/d
    # bytes a parameter with the distributed optimizer over d ranks.
    plain = ckpt_opt.report(GPT)
    distributed = ckpt_opt.report(dict(GPT._fields,
                                       use_distributed_optimizer=True,
                                       data_parallel_size=4))
    assert distributed["persistent_bytes"] * 18 == \
        plain["persistent_bytes"] * 9


def test_misspelt_field_is_an_error():
    # A misspelt field would change kept bytes silently: it is refused.
    typo = dict(GPT._fields, hiden_dropout=0.0)
    with pytest.raises(CkptError, match="unknown field 'hiden_dropout'"):
        ckpt_opt.report(typo)


def test_binary_config_is_a_ckpt_error(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(CkptError, match="not a config: a JSON text"):
        ckpt_opt.report(str(path))


def test_plots_are_png(tmp_path):
    compiled = ckpt_opt.compile(GPT, {"recompute_granularity": "selective"})
    memory = tmp_path / "memory.png"
    ckpt_opt.plot_memory(compiled, memory)
    policies = tmp_path / "policies.png"
    ckpt_opt.plot_policies(ckpt_opt.compare_policies(GPT), policies)
    for path in (memory, policies):
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(path) > 1000
    unplanned = ckpt_opt.compile(GPT, "plan-memory=false")
    with pytest.raises(ValueError, match="no timeline"):
        ckpt_opt.plot_memory(unplanned, tmp_path / "none.png")


def test_plots_without_matplotlib_name_the_extra(tmp_path, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` fail, as on a
    # machine where `pip install ckpt-opt` brought no plotting library.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    compiled = ckpt_opt.compile(GPT, {"recompute_granularity": "selective"})
    with pytest.raises(ImportError, match=r"pip install 'ckpt-opt\[plot\]'"):
        ckpt_opt.plot_memory(compiled, tmp_path / "memory.png")
    assert not (tmp_path / "memory.png").exists()


def test_openmp_waits_as_ckpt_run_does():
    # The native module loads GNU OpenMP once: ckpt_opt sets ckpt-run's
    # bounded spin before that, unless the environment chose a policy.
    import subprocess
    code = "import os, ckpt_opt; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "10000"
    env["OMP_WAIT_POLICY"] = "active"
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "None"


def test_policy_keywords_come_from_the_option_table():
    # The table is the C API's (Options.def): the same spellings, defaults
    # and kinds as ckpt-opt's pass options and ckpt-compile's flags.
    table = {option["name"]: option for option in ckpt_opt.options()}
    assert table["recompute-granularity"]["choices"] == [
        "none", "selective", "full"]
    assert table["memory-budget"]["kind"] == "bytes"
    assert "compile" in table["plan-memory"]["scopes"]
    assert "compile" not in table["points"]["scopes"]
    # A keyword outside the table is refused, naming the allowed ones.
    with pytest.raises(TypeError, match=r"policy recompute_granularty: "
                                        r"unknown option \(allowed: policy, "
                                        r"recompute_granularity"):
        ckpt_opt.compile(GPT, {"recompute_granularty": "full"})
    with pytest.raises(TypeError, match="policy plan_memory must be a bool"):
        ckpt_opt.compile(GPT, {"plan_memory": "no"})
    with pytest.raises(TypeError, match="policy recompute_num_layers must be "
                                        "an int"):
        ckpt_opt.compile(GPT, {"recompute_granularity": "full",
                               "recompute_method": "uniform",
                               "recompute_num_layers": 1.0})
    # A value of the right type is checked by the table's own rule.
    with pytest.raises(CkptError, match="recompute-method must be uniform or "
                                        "block, got 'ring'"):
        ckpt_opt.compile(GPT, {"recompute_granularity": "full",
                               "recompute_method": "ring"})
    # Options that choose no policy keep the config's own, as ckpt-compile.
    planned = ckpt_opt.compile(GPT, {"plan_memory": False,
                                     "plan_seconds": 0.5})
    assert planned.timeline_svg == ""
    # The frontier's default number of budgets is the table's.
    assert len(ckpt_opt.pareto(GPT)["points"]) == int(
        table["points"]["default"])
