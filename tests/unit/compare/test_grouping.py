"""The sweep tags every run carries (name, invocation, factors and their values) and the run names they extend."""

import pytest

from toolrl.cli import compose
from toolrl.compare import grouping
from toolrl.compare.grouping import command_line_sweep_keys, factor_values, name_suffix, sweep_factors, sweep_tags
from toolrl.config import validate
from toolrl.trainer import default_run_name, run_tags


def conf(tmp_path, *overrides):
    return validate(compose([*overrides, f"output_dir={tmp_path}"]))


def job(task=(), params=(), sweep_dir="outputs/sweeps/toolrl_granularity/2026-01-01_00-00-00", multirun=True):
    return {"multirun": multirun, "task": list(task), "sweep_dir": sweep_dir if multirun else None,
            "sweeper_params": list(params)}


def test_a_single_run_outside_a_sweep_has_no_sweep_tags(tmp_path):
    c = conf(tmp_path)
    assert c.sweep.name is None and c.sweep.factors == []
    assert sweep_tags(c) == {}  # no Hydra app running here
    assert sweep_tags(c, job(multirun=False)) == {}
    assert default_run_name(c) == "grpo-finegrained-static-tiny-s0"
    assert "sweep" not in run_tags(c)


def test_declared_factors_and_sweeper_params_are_tagged_with_their_values(tmp_path):
    c = conf(tmp_path, "sweep.name=toolrl_granularity", "sweep.factors=[reward]", "reward=coarse", "seed=2")
    tags = sweep_tags(c, job(["reward=coarse", "seed=2", "experiment=smoke"], params=["reward", "seed"]), argv=[])
    assert tags == {
        "sweep": "toolrl_granularity", "sweep.id": "2026-01-01_00-00-00", "sweep.factors": "reward",
        "reward": "coarse", "variant": "reward=coarse",
    }


def test_values_come_from_the_config_groups_keys_and_else_the_overrides(tmp_path):
    c = conf(tmp_path, "reward/schedule=two_stage", "reward.correctness.max=1", "reward/length=fixed")
    values = factor_values(c, ["reward/schedule", "reward.correctness.max", "reward/length", "scale", "algo.lr"],
                           task=["+scale=equal_max"])
    assert values == {"reward/schedule": "two_stage", "reward.correctness.max": "1.0", "reward/length": "fixed",
                      "scale": "equal_max", "algo.lr": "0.001"}  # model=tiny with grpo: conf/model_algo/tiny_grpo.yaml


def test_a_nameless_multirun_is_named_by_its_folder_and_finds_command_line_sweeps(tmp_path):
    c = conf(tmp_path, "reward=intermediate", "reward/schedule=dynamic")
    argv = ["-m", "reward=intermediate,coarse", "reward/schedule=static,dynamic", "seed=0,1", "experiment=smoke"]
    tags = sweep_tags(c, job(["reward=intermediate", "reward/schedule=dynamic", "seed=0", "experiment=smoke"]), argv=argv)
    assert tags["sweep"] == tags["sweep.id"] == "2026-01-01_00-00-00"
    assert tags["sweep.factors"] == "reward,reward/schedule"  # seed is the replicate, experiment was not swept
    assert tags["variant"] == "reward=intermediate,reward/schedule=dynamic"


def test_command_line_sweep_keys():
    argv = ["-cd", "sweeps", "-cn", "toolrl_scale", "-m", "reward=a,b", "seed=range(3)", "x=1", "+scale=glob(*)",
            "hydra/launcher=joblib", "not an override"]
    assert command_line_sweep_keys(argv) == ["reward", "seed", "+scale"]


def test_factors_are_deduplicated_and_never_seed_hydra_or_paths(tmp_path):
    c = conf(tmp_path, "sweep.factors=[reward,seed,output_root]")
    argv = ["-m", "reward=a,b", "hydra.launcher.n_jobs=1,2", "+scale=x,y"]
    assert sweep_factors(c, job(params=["reward", "seed", "hydra.job.chdir"]), argv) == ["reward", "scale"]
    assert sweep_factors(c, None) == ["reward"]  # outside a multirun: only what is declared


def test_run_names_show_the_factors_they_lack(tmp_path, monkeypatch):
    c = conf(tmp_path, "sweep.name=toolrl_scale", "sweep.factors=[scale,reward.correctness.max]",
             "reward.correctness.max=1")
    monkeypatch.setattr(grouping, "hydra_job", lambda: job(["+scale=equal_max", "seed=0"]))
    monkeypatch.setattr("sys.argv", ["train.py"])
    assert default_run_name(c) == "grpo-finegrained-static-tiny-scale=equal_max-max=1.0-s0"
    tags = run_tags(c)
    assert tags["sweep"] == "toolrl_scale" and tags["scale"] == "equal_max" and tags["seed"] == "0"
    assert tags["variant"] == "scale=equal_max,reward.correctness.max=1.0"
    # a value already in the name is not repeated
    assert name_suffix(c, ["grpo", "equal_max", "1.0"], job(["+scale=equal_max"])) == []


def test_a_wandb_agent_run_takes_its_sweep_id_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")
    c = conf(tmp_path, "sweep.name=toolrl_length", "sweep.factors=[reward/length]", "reward/length=dynamic")
    tags = sweep_tags(c, job(["reward/length=dynamic"], multirun=False))
    assert tags["sweep.id"] == "abc123" and tags["reward/length"] == "dynamic"


@pytest.mark.parametrize("key, expected", [("seed", False), ("sweep.name", False), ("hydra.launcher", False),
                                           ("+scale", True), ("reward/schedule", True), ("output_root", False)])
def test_is_factor_key(key, expected):
    assert grouping.is_factor_key(key) is expected


def test_a_reward_without_a_schedule_names_runs_without_one(tmp_path, monkeypatch):
    c = conf(tmp_path, "reward=outcome", "tool=python", "data=torl_math", "sweep.name=torl_code_penalty",
             "sweep.factors=[reward.code_failure_penalty]", "reward.code_failure_penalty=-0.5")
    monkeypatch.setattr(grouping, "hydra_job", lambda: job(["reward.code_failure_penalty=-0.5"]))
    monkeypatch.setattr("sys.argv", ["train.py"])
    assert default_run_name(c) == "grpo-outcome-tiny-code_failure_penalty=-0.5-s0"
    assert run_tags(c)["variant"] == "reward.code_failure_penalty=-0.5" and run_tags(c)["schedule"] == "n/a"
