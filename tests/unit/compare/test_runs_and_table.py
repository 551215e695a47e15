"""Selecting runs from MLflow, the ablation table's numbers, and the errors a user can meet."""

import math
import socket
import time

import pytest
from compare_stores import BASE, final

from toolrl.compare import CompareError, ablation_table, load_comparison, open_store, per_run, to_markdown
from toolrl.compare.runs import detect_factors, expand_metrics, find_store, select_runs, sweeps_summary
from toolrl.compare.table import parse_at, reduce_run, split_metric


def test_the_sweep_loads_as_four_runs_two_variants(mlflow_store):
    comp = load_comparison(str(mlflow_store), sweep="gran")
    assert comp.factors == ["reward"] and comp.variants == ["reward=finegrained", "reward=coarse"]
    assert len(comp.runs) == 4 and set(comp.runs["status"]) == {"FINISHED"}  # the FAILED run is left out
    assert sorted(comp.runs["seed"]) == ["0", "0", "1", "1"] and comp.sweep == "gran"
    assert set(comp.history.columns) == {"run_id", "metric", "step", "value"}
    assert "eval/toolrl_sample/total/mean" in comp.metrics and "reward/total/mean" in comp.metrics


def test_table_is_mean_and_sample_std_over_seeds(mlflow_store):
    comp = load_comparison(str(mlflow_store), sweep="gran")
    table = ablation_table(comp, ["reward/total/mean", "reward/total/mean@best", "reward/total/mean@2",
                                  "eval/*/total/mean@min"])
    assert list(table["reward"]) == ["finegrained", "coarse"] and list(table["runs"]) == [2, 2]
    assert table.attrs["metrics"] == ["reward/total/mean", "reward/total/mean@best", "reward/total/mean@2",
                                      "eval/toolrl_sample/total/mean@min"]
    for i, reward in enumerate(("finegrained", "coarse")):
        values = [final(reward, 0), final(reward, 1)]
        row = table.iloc[i]
        assert row["reward/total/mean mean"] == pytest.approx(sum(values) / 2)
        assert row["reward/total/mean std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
        assert row["reward/total/mean@best mean"] == pytest.approx(sum(values) / 2)  # increasing: best = final
        assert row["reward/total/mean@2 mean"] == pytest.approx(BASE[reward] + 0.05 + 1.0)
        assert row["eval/toolrl_sample/total/mean@min mean"] == pytest.approx(-3.0)
    md = to_markdown(table, digits=3, caption="cap")
    lines = md.splitlines()
    assert lines[0] == "cap" and lines[2].startswith("| reward | seeds | reward/total/mean |")
    assert "| finegrained | 2 | 2.550 ± 0.071 |" in md and "| coarse | 2 | 0.550 ± 0.071 |" in md


def test_default_selection_is_the_latest_sweep_and_status_any_adds_the_failed_run(mlflow_store):
    comp = load_comparison(str(mlflow_store))
    assert comp.sweep == "gran" and len(comp.runs) == 4
    comp = load_comparison(str(mlflow_store), sweep="gran", status=["any"])
    assert len(comp.runs) == 5
    table = ablation_table(comp, ["reward/total/mean"])
    assert list(table["runs"]) == [2, 3] and list(table["seeds"]) == ["0,1", "0,1,2"]
    old = load_comparison(str(mlflow_store), sweep="old")
    row = ablation_table(old, ["reward/total/mean"]).iloc[0]
    assert row["runs"] == 1 and math.isnan(row["reward/total/mean std"])
    assert "| finegrained | 1 | 2.500 |" in to_markdown(ablation_table(old, ["reward/total/mean"]))


def test_grouping_by_another_key_and_filtering_by_tag(mlflow_store):
    comp = load_comparison(str(mlflow_store), sweep="gran", by=["seed"])
    assert comp.factors == ["seed"] and comp.variants == ["seed=0", "seed=1"]
    comp = load_comparison(str(mlflow_store), tags={"reward": "coarse"}, metrics=["reward/total/mean"])
    assert set(comp.runs["reward"]) == {"coarse"} and comp.metrics == ["reward/total/mean"]
    with pytest.raises(CompareError, match="--by nope: no such tag or config key"):
        load_comparison(str(mlflow_store), sweep="gran", by=["nope"])


def test_an_empty_selection_says_what_is_there(mlflow_store):
    with pytest.raises(CompareError) as err:
        load_comparison(str(mlflow_store), sweep="toolrl_length")
    text = str(err.value)
    assert "no runs selected" in text and "sweep=toolrl_length" in text
    assert "gran B (5 runs, 4 finished)" in text and "old A (1 runs, 1 finished)" in text
    with pytest.raises(CompareError, match="none has status RUNNING"):
        load_comparison(str(mlflow_store), sweep="gran", status=["RUNNING"])


def test_a_missing_metric_is_named_with_the_closest_ones(mlflow_store):
    with pytest.raises(CompareError) as err:
        load_comparison(str(mlflow_store), sweep="gran", metrics=["reward/totl/mean"])
    assert "metric 'reward/totl/mean' is not logged" in str(err.value) and "closest: reward/total/mean" in str(err.value)
    with pytest.raises(CompareError, match="metric 'eval/\\*/nothing' is not logged"):
        load_comparison(str(mlflow_store), sweep="gran", metrics=["eval/*/nothing"])


def test_a_metric_only_some_runs_have_is_an_error_when_asked_for(mlflow_store):
    with pytest.raises(CompareError, match="'eval/toolrl_sample/total/mean' is missing from 1 of 2 runs: grpo-coarse"):
        load_comparison(str(mlflow_store), experiment="partial", metrics=["eval/*/total/mean"])
    comp = load_comparison(str(mlflow_store), experiment="partial")  # the defaults keep what every run has
    assert comp.metrics == ["reward/total/mean"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_store_errors_are_fast_and_say_what_is_expected(tmp_path, mlflow_store):
    t0 = time.monotonic()
    with pytest.raises(CompareError, match="is not reachable"):
        open_store(f"http://127.0.0.1:{_free_port()}")
    assert time.monotonic() - t0 < 10
    with pytest.raises(CompareError, match="no store at .*nothing there; expected an MLflow SQLite file"):
        open_store(str(tmp_path / "missing.db"))
    with pytest.raises(CompareError, match="no MLflow store at"):
        open_store(f"sqlite:///{tmp_path}/missing.db")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CompareError, match="is not an MLflow SQLite store"):
        open_store(str(tmp_path / "notes.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompareError, match="no W&B offline runs"):
        open_store(str(tmp_path / "empty"))
    with pytest.raises(CompareError, match="no experiment 'other'.*experiments there: .*toolrl"):
        open_store(str(mlflow_store), experiment="other")
    assert not (tmp_path / "missing.db").exists()  # reading never creates a store


def test_factors_are_found_from_the_configs_when_runs_carry_no_sweep_tags(mlflow_store):
    store = open_store(str(mlflow_store), experiment="untagged")
    infos = store.runs()
    assert detect_factors(infos) == ["reward"]  # reward.name and reward.granularity split alike; seed/paths ignored
    comp = load_comparison(store)
    assert comp.variants == ["reward=finegrained", "reward=coarse"] and comp.sweep == ""
    assert list(sweeps_summary(infos)["sweep"]) == ["(no sweep)"]


def test_latest_and_sweep_id_pick_one_invocation(mlflow_store):
    infos = open_store(str(mlflow_store), experiment="invocations").runs()
    assert len(select_runs(infos, sweep="gran")) == 3
    assert {r.sweep_id for r in select_runs(infos, sweep="gran", latest=True)} == {"B"}
    assert len(select_runs(infos, sweep_id="A")) == 1


def test_reductions_and_specs():
    assert [parse_at(x) for x in ("final", "BEST", "min", "12", "step=3", 4)] == ["final", "best", "min", 12, 3, 4]
    with pytest.raises(CompareError, match="use final, best, min or a step"):
        parse_at("last")
    assert split_metric("actor/loss@min") == ("actor/loss", "min") and split_metric("a/b", "best") == ("a/b", "best")
    steps, values = [3, 1, 2], [0.3, 0.1, 0.5]
    assert reduce_run(steps, values, "final") == 0.3 and reduce_run(steps, values, "best") == 0.5
    assert reduce_run(steps, values, "min") == 0.1 and reduce_run(steps, values, 2) == 0.5 and reduce_run(steps, values, 9) == 0.3
    with pytest.raises(CompareError, match="first at step 1, after step 0"):
        reduce_run(steps, values, 0, metric="m", run="r")


def test_per_run_values_and_expand_metrics(mlflow_store):
    comp = load_comparison(str(mlflow_store), sweep="gran")
    rows = per_run(comp, ["reward/total/mean"])
    assert sorted(rows["reward/total/mean"]) == pytest.approx(sorted(final(r, s) for r in BASE for s in (0, 1)))
    infos = select_runs(open_store(str(mlflow_store)).runs(), sweep="gran")
    assert expand_metrics(["reward/*/mean"], infos) == ["reward/correctness/mean", "reward/format/mean", "reward/total/mean"]


def test_find_store_looks_in_the_parents(tmp_path, monkeypatch):
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "mlflow.db").write_bytes(b"")
    (tmp_path / "notebooks").mkdir()
    assert find_store("outputs/mlflow.db", tmp_path / "notebooks") == str(tmp_path / "outputs" / "mlflow.db")
    assert find_store("wandb:team/proj") == "wandb:team/proj"
    assert find_store("nowhere/x.db", tmp_path) == "nowhere/x.db"


def test_a_resumed_runs_relogged_steps_count_once_with_the_latest_value(tmp_path):
    """A run resumed from its step-2 checkpoint logs steps 3.. again; the table and curves read the re-run's values."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from toolrl.compare.runs import MlflowStore

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("toolrl"), tags={"sweep": "resumed"})
    run_id = run.info.run_id
    t0 = int(time.time() * 1000)
    first = [Metric("reward/total/mean", v, t0 + s, s) for s, v in [(1, 0.1), (2, 0.2), (3, 0.25)]]  # killed after 3
    again = [Metric("reward/total/mean", v, t0 + 1000 + s, s) for s, v in [(3, 0.3), (4, 0.4)]]  # resumed at step 3
    client.log_batch(run_id, metrics=first)
    client.log_batch(run_id, metrics=again)
    client.set_terminated(run_id)
    store = MlflowStore(uri)
    (info,) = [r for r in store.runs() if r.run_id == run_id]
    assert store.history(info, ["reward/total/mean"]) == [
        ("reward/total/mean", 1, 0.1), ("reward/total/mean", 2, 0.2),
        ("reward/total/mean", 3, 0.3), ("reward/total/mean", 4, 0.4)]
