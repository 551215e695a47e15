"""Ablation sweeps: every sweep file composes over its whole grid, the W&B specs match them, and a real
2 x 2 sweep (two granularities x two seeds, joblib launcher, MLflow + W&B offline) reads back through
`toolrl compare` and the notebook with the right tags, table and curves."""

import csv
import itertools
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from toolrl.config import register_configs, validate

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "sweeps"
CONF = ROOT / "conf"
SWEEP_FILES = sorted(SWEEPS.glob("*.yaml"))
WANDB_SPECS = sorted((SWEEPS / "wandb").glob("*.yaml"))
ALL_YAMLS = sorted(SWEEPS.rglob("*.yaml"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
       "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONHASHSEED": "0"}
ENV.pop("MLFLOW_TRACKING_URI", None)


def load(path):
    return yaml.safe_load(path.read_text())


def sweeper_params(path):
    return {str(k): str(v) for k, v in load(path)["hydra"]["sweeper"]["params"].items()}


def expand(key, value):
    """The values of one sweeper param as Hydra expands them (`a,b`, `range(3)`, ...)."""
    (override,) = OverridesParser.create().parse_overrides([f"{key}={value}"])
    return list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]


def grid(path):
    params = sweeper_params(path)
    keys = list(params)
    for combo in itertools.product(*(expand(k, params[k]) for k in keys)):
        yield [f"{k}={v}" for k, v in zip(keys, combo)]


def compose_sweep(name, overrides, tmp_path):
    register_configs()
    with initialize_config_dir(config_dir=str(SWEEPS), version_base="1.3"):
        return compose(config_name=name, overrides=[f"hydra.searchpath=[file://{CONF}]", *overrides,
                                                     f"output_dir={tmp_path}"])


# ----------------------------------------------------------------------------- the files


# each sweep: its grid size, its CPU preset (sweeps/experiment/) and the paper's preset (conf/experiment/) with its model
SWEEPS_EXPECTED = {
    "toolrl_algorithms": (10, "tiny/grpo_cold", "toolrl/grpo_cold", "qwen2.5-3b-instruct"),
    "toolrl_granularity": (12, "toolrl_tiny", "toolrl/grpo_cold", "qwen2.5-3b-instruct"),
    "toolrl_length": (9, "toolrl_tiny", "toolrl/grpo_cold", "qwen2.5-3b-instruct"),
    "toolrl_scale": (12, "toolrl_tiny", "toolrl/grpo_cold", "qwen2.5-3b-instruct"),
    "torl_code_penalty": (6, "torl_tiny", "torl/grpo_1.5b", "qwen2.5-math-1.5b"),
    "torl_tool_budget": (9, "torl_tiny", "torl/grpo_1.5b", "qwen2.5-math-1.5b"),
}


# the tiny model each sweep runs on here: the ToolRL sweeps on the warm start (so their rows differ), ToRL's untrained
TINY = {"toolrl_algorithms": "tiny", "toolrl_granularity": "tiny", "toolrl_length": "tiny", "toolrl_scale": "tiny",
        "torl_code_penalty": "tiny_random", "torl_tool_budget": "tiny_random"}
STEPS = {"ppo": 60, "sft": 100}  # conf/model_algo/tiny_ppo.yaml, conf/experiment/tiny/sft400.yaml; GRPO: tiny_grpo's 90


ROWS = {"grpo_cold": "grpo", "ppo_cold": "ppo", "sft400": "sft", "sft400_grpo": "grpo", "sft400_ppo": "ppo"}


def check_algorithm_row(conf, values):
    """An algorithms-sweep row runs its algorithm; the SFT400+RL rows train their SFT400 stage at the same seed first."""
    family, row = values["experiment"].split("/")
    assert conf.algo.name == ROWS[row]
    if row.startswith("sft400_"):
        assert conf.model.init_stage[0] == f"experiment={family}/sft400" and f"seed={values['seed']}" in conf.model.init_stage
    else:
        assert conf.model.init_stage is None


def test_the_ablations_are_all_there():
    assert [p.stem for p in SWEEP_FILES] == sorted(SWEEPS_EXPECTED)
    assert [p.stem for p in WANDB_SPECS] == [p.stem for p in SWEEP_FILES], (
        "sweeps/wandb/ must hold one W&B spec per sweep (note: a bare `wandb/` line in .gitignore also ignores "
        "sweeps/wandb/; it needs `!/sweeps/wandb/` after it)")
    assert sorted(p.stem for p in (SWEEPS / "scale").glob("*.yaml")) == ["dynamic", "equal_max", "original", "two_stage"]
    assert sorted(p.stem for p in (SWEEPS / "experiment").glob("*.yaml")) == ["toolrl_tiny", "torl_tiny"]


KEY = re.compile(r"^\s*([A-Za-z_+][\w./+-]*|_target_):")


@pytest.mark.parametrize("path", ALL_YAMLS, ids=lambda p: str(p.relative_to(SWEEPS)))
def test_every_key_has_a_comment(path):
    missing = [f"{path.name}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
               if (m := KEY.match(line)) and m.group(1) != "defaults" and "#" not in line]
    assert not missing, "keys without a comment:\n" + "\n".join(missing)


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_a_sweep_file_documents_its_command_and_names_its_preset(path):
    text = path.read_text()
    _, preset, paper, _ = SWEEPS_EXPECTED[path.stem]
    assert f"python train.py -cd sweeps -cn {path.stem} -m" in text and "toolrl compare --sweep" in text
    assert f"override /experiment: {preset}" in text and f"experiment={paper}" in text
    assert "hydra/launcher=joblib" in text


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_every_point_of_the_grid_composes_and_validates(path, tmp_path):
    spec = load(path)
    factors = spec["sweep"]["factors"]
    assert spec["sweep"]["name"] == path.stem and factors
    assert set(factors) <= set(sweeper_params(path)) and "seed" in sweeper_params(path)
    seen = {f: set() for f in factors}
    points = list(grid(path))
    for overrides in points:
        conf = validate(compose_sweep(path.stem, overrides, tmp_path))
        assert conf.sweep.name == path.stem and conf.sweep.factors == factors
        assert conf.model.name == TINY[path.stem] and conf.run_name is None
        assert conf.trainer.total_steps == (20 if conf.model.name == "tiny_random" else STEPS.get(conf.algo.name, 90))
        values = dict(o.split("=", 1) for o in overrides)
        if path.stem == "toolrl_algorithms":
            check_algorithm_row(conf, values)
        for f in factors:
            seen[f].add(values[f])
    assert all(len(v) > 1 for v in seen.values()), seen
    assert len(points) == SWEEPS_EXPECTED[path.stem][0]


def test_the_scale_rows_are_the_papers(tmp_path):
    rows = {}
    for row in ("original", "equal_max", "two_stage", "dynamic"):
        r = validate(compose_sweep("toolrl_scale", [f"scale={row}"], tmp_path)).reward
        rows[row] = (r.schedule.name, r.correctness.max, r.format.max)
    assert rows == {"original": ("static", 3.0, 1.0), "equal_max": ("static", 1.0, 1.0),
                    "two_stage": ("two_stage", 3.0, 1.0), "dynamic": ("dynamic", 3.0, 1.0)}


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_the_papers_setting_is_one_override_away(path, tmp_path):
    _, _, paper, model = SWEEPS_EXPECTED[path.stem]
    for overrides in list(grid(path))[::3]:
        if path.stem == "toolrl_algorithms":  # the factor is the preset itself: the paper's presets replace the tiny ones
            overrides = [o.replace("experiment=tiny/", "experiment=toolrl/") for o in overrides]
            paper = next(o.split("=", 1)[1] for o in overrides if o.startswith("experiment="))
        conf = validate(compose_sweep(path.stem, [f"experiment={paper}", *overrides], tmp_path))
        assert conf.model.name == model and conf.sweep.name == path.stem
        assert not conf.data.source.startswith("builtin:")  # the real data set, not the shipped sample
        values = dict(o.split("=", 1) for o in overrides)
        if path.stem == "toolrl_algorithms":
            check_algorithm_row(conf, values)
        if "reward" in values:
            assert conf.reward.name == values["reward"]
        if "tool.max_calls" in values:
            assert conf.tool.max_calls == int(values["tool.max_calls"])
        if values.get("scale") == "equal_max":
            assert conf.reward.schedule.name == "static" and conf.reward.correctness.max == 1.0
        if values.get("scale") == "dynamic":
            assert conf.reward.schedule.name == "dynamic"
    small = validate(compose_sweep(path.stem, ["experiment=smoke"] if "toolrl" in path.stem else [], tmp_path))
    assert small.model.name == "tiny_random"


@pytest.mark.parametrize("launcher, target", [("joblib", "JoblibLauncher"), ("submitit_slurm", "SlurmLauncher"),
                                              ("submitit_local", "LocalLauncher")])
def test_the_launchers_are_one_override_away(launcher, target, tmp_path):
    register_configs()
    with initialize_config_dir(config_dir=str(SWEEPS), version_base="1.3"):
        cfg = compose(config_name="toolrl_granularity", return_hydra_config=True,
                      overrides=[f"hydra.searchpath=[file://{CONF}]", f"hydra/launcher={launcher}"])
    assert cfg.hydra.launcher._target_.endswith(target)
    assert cfg.hydra.callbacks.prepare_stores._target_ == "toolrl.compare.hydra_callbacks.PrepareTrackingStores"


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_dry_run_from_the_repository_root(path):
    out = subprocess.run([sys.executable, "train.py", "-cd", "sweeps", "-cn", path.stem, "--cfg", "job"], cwd=ROOT,
                         env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"name: {path.stem}" in out.stdout


# ----------------------------------------------------------------------------- W&B specs


def wandb_args(spec, point):
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    return create_sweep_command_args({"args": {k: {"value": v} for k, v in point.items()}})["args_no_hyphens"]


def wandb_grid(spec):
    params = spec["parameters"]
    keys = list(params)
    choices = [params[k]["values"] if "values" in params[k] else [params[k]["value"]] for k in keys]
    for combo in itertools.product(*choices):
        yield dict(zip(keys, combo))


@pytest.mark.parametrize("path", WANDB_SPECS, ids=lambda p: p.stem)
def test_a_wandb_spec_runs_the_same_grid_as_its_hydra_sweep(path, tmp_path):
    spec = load(path)
    assert spec["program"] == "train.py" and spec["method"] == "grid"
    assert spec["command"] == ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"]
    assert set(spec) <= {"program", "method", "project", "command", "parameters", "name", "description", "metric"}
    hydra_file = SWEEPS / f"{path.stem}.yaml"
    hydra_params = sweeper_params(hydra_file)
    params = spec["parameters"]
    for key, value in hydra_params.items():
        wandb_key = key if key in params else f"+{key}"
        assert [str(v) for v in params[wandb_key]["values"]] == expand(key, value), key
    assert params["sweep.name"]["value"] == path.stem
    points = list(wandb_grid(spec))
    assert len(points) == len(list(grid(hydra_file)))
    register_configs()
    for point in points:
        args = [a.replace("file://sweeps", f"file://{SWEEPS}") for a in wandb_args(spec, point)]
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            conf = validate(compose(config_name="config", overrides=[*args, f"output_dir={tmp_path}"]))
        assert conf.sweep.name == path.stem and conf.sweep.factors == load(hydra_file)["sweep"]["factors"]
        assert conf.model.name == TINY[path.stem] and conf.logger.name == "wandb"


# ----------------------------------------------------------------------------- a real sweep
# Slow (about a minute of training, then three reads): CI runs these with `pytest -m slow`; the default
# suite covers the same reading, tables, plots and notebook on stores built in seconds (tests/unit/compare).


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """`python train.py -cd sweeps -cn toolrl_granularity -m` over 2 granularities x 2 seeds, 2 jobs at a time."""
    root = tmp_path_factory.mktemp("sweep")
    args = [sys.executable, "train.py", "-cd", "sweeps", "-cn", "toolrl_granularity", "-m",
            "reward=finegrained,coarse", "seed=0,1", "experiment=smoke", "trainer.total_steps=2", "logger=both",
            "trainer.save_final=false", "rollout.progress=false", f"output_root={root}",
            "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    (sweep_dir,) = (root / "sweeps" / "toolrl_granularity").iterdir()
    return root, sweep_dir


def toolrl_compare(*args):
    exe = Path(sys.executable).parent / "toolrl"
    return subprocess.run([str(exe), "compare", *map(str, args)], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_the_store_holds_four_tagged_runs(swept):
    from mlflow import MlflowClient

    root, sweep_dir = swept
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("toolrl").experiment_id])
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    seen = set()
    for r in runs:
        tags = r.data.tags
        assert tags["sweep"] == "toolrl_granularity" and tags["sweep.id"] == sweep_dir.name
        assert tags["sweep.factors"] == "reward" and tags["variant"] == f"reward={tags['reward']}"
        assert r.info.run_name == f"grpo-{tags['reward']}-static-tiny_random-s{tags['seed']}"
        assert r.data.params["sweep.name"] == "toolrl_granularity"
        seen.add((tags["reward"], tags["seed"]))
    assert seen == {("finegrained", "0"), ("finegrained", "1"), ("coarse", "0"), ("coarse", "1")}


@pytest.mark.slow
def test_wandb_groups_the_runs_by_sweep(swept):
    from toolrl.compare.wandb_offline import parse_run

    _, sweep_dir = swept
    runs = [parse_run(p) for p in sweep_dir.rglob("run-*.wandb")]
    assert len(runs) == 4 and {r.group for r in runs} == {"toolrl_granularity"}
    assert all("sweep:toolrl_granularity" in r.tags and "sweep.factors:reward" in r.tags for r in runs)


def read_csv(path):
    return list(csv.DictReader(path.open()))


def expected_final(root, metric):
    """{reward: [final value per seed]} straight from the MLflow store."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db")
    out = {}
    for r in client.search_runs([client.get_experiment_by_name("toolrl").experiment_id]):
        hist = sorted((m.step, m.value) for m in client.get_metric_history(r.info.run_id, metric))
        out.setdefault(r.data.tags["reward"], []).append(hist[-1][1])
    return out


def check_table(out_dir, root):
    rows = read_csv(out_dir / "table.csv")
    assert [r["reward"] for r in rows] == ["finegrained", "coarse"]
    assert [r["runs"] for r in rows] == ["2", "2"] and [r["seeds"] for r in rows] == ["0,1", "0,1"]
    for metric in ("reward/total/mean", "eval/toolrl_sample/total/mean"):
        finals = expected_final(root, metric)
        for r in rows:
            assert float(r[f"{metric} mean"]) == pytest.approx(statistics.mean(finals[r["reward"]]))
            assert float(r[f"{metric} std"]) == pytest.approx(statistics.stdev(finals[r["reward"]]))
    md = (out_dir / "table.md").read_text()
    assert "mean ± std over 2 seed(s)" in md and "| finegrained | 2 |" in md and "| coarse | 2 |" in md
    for png in ["curves.png", "curves/reward_total_mean.png", "curves/reward_format_mean.png",
                "curves/reward_correctness_mean.png", "curves/eval_toolrl_sample_total_mean.png"]:
        data = (out_dir / png).read_bytes()
        assert data[:4] == b"\x89PNG" and len(data) > 5000, png
    return rows


@pytest.mark.slow
def test_compare_on_the_mlflow_store(swept, tmp_path):
    root, _ = swept
    out = toolrl_compare(root / "mlflow.db", "--sweep", "toolrl_granularity", "--out", tmp_path / "mlflow")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| reward | seeds |" in out.stdout and "4 runs, 2 variants" in out.stdout
    check_table(tmp_path / "mlflow", root)


@pytest.mark.slow
def test_compare_on_the_wandb_offline_runs_gives_the_same_table(swept, tmp_path):
    root, sweep_dir = swept
    out = toolrl_compare(sweep_dir, "--out", tmp_path / "wandb")  # the latest sweep there: this one
    assert out.returncode == 0, out.stderr[-3000:]
    assert "W&B offline runs under" in out.stdout
    check_table(tmp_path / "wandb", root)


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom_against_the_store(swept, tmp_path, monkeypatch):
    import nbclient
    import nbformat

    root, _ = swept
    monkeypatch.setenv("TOOLRL_COMPARE_STORE", str(root / "mlflow.db"))
    monkeypatch.setenv("TOOLRL_COMPARE_OUT", str(tmp_path / "nb"))
    nb = nbformat.read(ROOT / "notebooks" / "compare_runs.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "| finegrained | 2 |" in markdown and "| coarse | 2 |" in markdown
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    check_table(tmp_path / "nb", root)
