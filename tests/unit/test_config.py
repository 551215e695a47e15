"""Every config file composes and validates; bad configs fail at once with the key and the allowed values."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from toolrl.config import ConfigError, GRPOConfig, RewardConfig, register_configs, validate

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
YAMLS = sorted(p for p in CONF.rglob("*.yaml"))
OPTIONS = sorted(p.relative_to(CONF) for p in YAMLS if p.parent != CONF)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_MODE": "offline"}


def _compose(overrides, tmp_path, primary="config"):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=primary, overrides=[*overrides, f"output_dir={tmp_path}"])


def test_the_conf_tree_is_complete():
    # a new file must be seen here: the count is asserted so none is silently skipped
    assert len(YAMLS) == 62, [str(p) for p in YAMLS]
    groups = {str(p.parent).split("/")[0] if str(p.parent).startswith("experiment") else str(p.parent) for p in OPTIONS}
    assert groups >= {
        "model", "algo", "reward", "reward/schedule", "reward/length", "tool", "data", "rollout", "logger", "experiment", "eval"
    }


@pytest.mark.parametrize("option", OPTIONS, ids=str)
def test_every_option_composes_and_validates(option, tmp_path):
    group, name = str(option.parent), option.stem
    if group == "eval":  # benchmarks compose under evaluate.py's primary config (conf/evaluate.yaml)
        from toolrl.evaluation.runner import validate_evaluate

        assert validate_evaluate(_compose([f"eval={name}"], tmp_path, primary="evaluate")).eval.name == name
        return
    if group.startswith("experiment/"):  # presets in sub-folders: experiment=toolrl/grpo_cold
        group, name = "experiment", f"{group.split('/', 1)[1]}/{name}"
    extra = [f"model.init_from={tmp_path}"] if "sft400_" in name else []  # required by SFT->RL presets
    if group == "model_algo":  # chosen by conf/config.yaml's `${model}_${algo}`: compose that pair
        algo = next(a.stem for a in (CONF / "algo").glob("*.yaml") if name.endswith(f"_{a.stem}"))
        extra = [f"model={name[: -len(algo) - 1]}", f"algo={algo}"]
        cfg = _compose(extra, tmp_path)
    else:
        cfg = _compose([f"{group}={name}", *extra], tmp_path)
    conf = validate(cfg)
    node = conf
    for part in group.split("/"):
        node = getattr(node, part, None) if part != "experiment" else conf
    if group == "model_algo":  # global diffs for one (model, algo) pair
        assert f"{conf.model.name}_{conf.algo.name}" == name
        import yaml

        for key, value in yaml.safe_load((CONF / option).read_text()).get("algo", {}).items():
            assert getattr(conf.algo, key) == value, key  # the file was picked
    elif group != "experiment":
        assert getattr(node, "name") == name or group == "model" and node.name == name


def test_typed_nodes_are_the_schemas(tmp_path):
    conf = validate(_compose(["reward=coarse", "reward/schedule=two_stage"], tmp_path))
    assert isinstance(conf.algo, GRPOConfig) and isinstance(conf.reward, RewardConfig)
    assert conf.reward.granularity == "coarse" and conf.reward.schedule.name == "two_stage"
    assert conf.reward.schedule.switch_step == 30


def test_multirun_sweep_of_the_users_command_composes(tmp_path):
    for reward in ("finegrained", "intermediate", "coarse"):
        for schedule in ("static", "dynamic"):
            conf = validate(_compose([f"reward={reward}", f"reward/schedule={schedule}", "seed=2"], tmp_path))
            assert (conf.reward.name, conf.reward.schedule.name, conf.seed) == (reward, schedule, 2)


@pytest.mark.parametrize(
    "override, message",
    [
        ("algo.loss_agg=sum", "algo.loss_agg='sum' is not allowed; choose one of: token-mean, seq-mean-token-mean"),
        ("reward.matching=best", "reward.matching='best' is not allowed; choose one of: greedy, optimal"),
        ("model.dtype=fp8", "model.dtype='fp8' is not allowed"),
        ("algo.mini_batch_size=5", "algo.mini_batch_size=5 must divide the batch"),
        ("algo.group_size=1", "algo.group_size must be >= 2"),
        ("rollout.top_p=1.5", "rollout.top_p=1.5 must be in (0, 1]"),
    ],
)
def test_validation_names_the_key_and_allowed_values(override, message, tmp_path):
    cfg = _compose([override], tmp_path)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert message in str(err.value)


def _train(*args):
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "override, expected",
    [
        ("algo=gpro", ["Could not find 'algo/gpro'", "Available options in 'algo'", "grpo"]),
        ("algo.lr=abc", ["algo.lr", "could not be converted to Float"]),
        ("reward/schedule=fast", ["Could not find 'reward/schedule/fast'", "dynamic", "static", "two_stage"]),
        ("algo.lrr=1", ["Key 'lrr' not in 'GRPOConfig'"]),
    ],
)
def test_cli_rejects_bad_overrides_before_loading_anything(override, expected):
    out = _train(override)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    for piece in expected:
        assert piece in text, text


def test_a_preset_value_left_required_fails_with_the_key():
    out = _train("model.init_from=${required:model.init_from,the SFT400 run directory}")
    assert out.returncode != 0
    assert "model.init_from is required by this preset" in out.stdout + out.stderr


def test_the_sft400_rl_presets_train_their_sft_stage_first(tmp_path):
    from toolrl.cli import compose

    for rl, algo in (("sft400_grpo", "grpo"), ("sft400_ppo", "ppo")):
        conf = validate(compose([f"experiment=toolrl/{rl}", "model=qwen2.5-7b-instruct", "seed=3", f"output_dir={tmp_path}"]))
        assert conf.algo.name == algo and conf.model.init_from is None
        assert conf.model.init_stage == ["experiment=toolrl/sft400", "model=qwen2.5-7b-instruct", "seed=3"]


def test_cli_help_lists_groups_and_cfg_job_prints_the_config():
    helped = _train("--help")
    assert helped.returncode == 0
    for line in ["algo: dapo, drgrpo, grpo", "reward: coarse, finegrained, finegrained_strict, intermediate",
                 "reward/schedule: dynamic, static, two_stage", "reward/length: dynamic, fixed, none",
                 "logger: both, mlflow, none, wandb", "model: llama3.2-3b-instruct"]:
        assert line in helped.stdout
    job = _train("--cfg", "job", "reward=intermediate")
    assert job.returncode == 0 and "granularity: intermediate" in job.stdout


KEY = re.compile(r"^\s*([A-Za-z_][\w.-]*|_target_):")


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: str(p.relative_to(CONF)))
def test_every_key_has_a_comment(path):
    missing = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = KEY.match(line)
        if match and match.group(1) != "defaults" and "#" not in line:
            missing.append(f"{path.name}:{number}: {line.strip()}")
    assert not missing, "keys without a comment:\n" + "\n".join(missing)
