"""resume=auto | <path>: which run and checkpoint a resumption continues, and the messages when there is none."""

import logging
import os

import pytest
import yaml

from toolrl.config import ConfigError
from toolrl.resume import config_differences, find_resume, read_run_record, write_run_record

CONFIG = {"seed": 0, "resume": None, "output_dir": "x", "output_root": "o",
          "algo": {"lr": 1.0e-06, "adam_betas": [0.9, 0.999]}, "trainer": {"total_steps": 6, "eval": []}}


class FakeModel:
    def save_pretrained(self, path, **_):
        (path / "model.safetensors").write_bytes(b"weights")


def make_run(root, name, *, status="RUNNING", steps=(2,), config=None, ids=None):
    from toolrl.checkpoint import save_checkpoint

    run_dir = root / "runs" / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config or CONFIG))
    write_run_record(run_dir, status=status, trackers=ids or {"mlflow": f"id-{name}"})
    for step in steps:
        save_checkpoint(run_dir, step, FakeModel(), FakeModel(), {"opt": step}, extra={"trackers": ids or {"mlflow": f"id-{name}"}})
    return run_dir


def test_config_differences_ignore_only_resume_and_the_output_paths():
    other = {**CONFIG, "resume": "auto", "output_dir": "y", "output_root": "p"}
    assert config_differences(CONFIG, other) == []
    changed = {**other, "algo": {"lr": 2e-06, "adam_betas": [0.9, 0.99]}, "trainer": {"total_steps": 8, "eval": []}}
    assert config_differences(CONFIG, changed) == ["algo.adam_betas", "algo.lr", "trainer.total_steps"]
    assert config_differences(CONFIG, {**CONFIG, "new": {"key": 1}}) == ["new.key"]


def test_run_record_merges_fields(tmp_path):
    write_run_record(tmp_path, status="RUNNING", trackers={"mlflow": "a"})
    write_run_record(tmp_path, status="FINISHED")
    assert read_run_record(tmp_path) == {"status": "FINISHED", "trackers": {"mlflow": "a"}}
    assert read_run_record(tmp_path / "none") == {}


def test_auto_picks_the_newest_unfinished_run_with_the_same_config(tmp_path):
    old = make_run(tmp_path, "a_old", steps=(2,))
    new = make_run(tmp_path, "b_new", steps=(2, 4))
    make_run(tmp_path, "c_finished", status="FINISHED", steps=(2, 4, 6))
    make_run(tmp_path, "d_other_config", steps=(2, 4, 6), config={**CONFIG, "seed": 1})
    make_run(tmp_path, "e_no_checkpoint", steps=())
    os.utime(old / "checkpoints" / "step_000002" / "trainer_state.pt", (1, 1))  # written long ago
    point = find_resume("auto", {**CONFIG, "resume": "auto"}, tmp_path, tmp_path / "runs" / "this")
    assert point.run_dir == new and point.checkpoint.name == "step_000004" and point.step == 4
    assert point.state["algo"] == {"opt": 4} and point.trackers == {"mlflow": "id-b_new"}


def test_auto_finds_a_run_restarted_in_its_own_fixed_folder(tmp_path):
    run_dir = make_run(tmp_path / "elsewhere", "fixed", steps=(2,))  # hydra.run.dir outside output_root/runs
    assert find_resume("auto", CONFIG, tmp_path / "outputs", tmp_path / "outputs" / "runs" / "new") is None
    assert find_resume("auto", CONFIG, tmp_path / "outputs", run_dir).run_dir == run_dir


def test_auto_skips_a_half_written_checkpoint_and_resumes_the_one_before(tmp_path):
    run_dir = make_run(tmp_path, "a", steps=(2,))
    tmp = run_dir / "checkpoints" / ".tmp_step_000004"
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"w")
    (tmp / "trainer_state.pt").write_bytes(b"PK\x03\x04half")
    point = find_resume("auto", CONFIG, tmp_path, tmp_path / "runs" / "this")
    assert point.checkpoint.name == "step_000002"


def test_auto_without_a_match_starts_fresh_with_a_log_line(tmp_path, caplog):
    make_run(tmp_path, "finished", status="FINISHED")
    with caplog.at_level(logging.INFO, logger="toolrl"):
        assert find_resume("auto", CONFIG, tmp_path, tmp_path / "runs" / "this") is None
    assert "starting fresh" in caplog.text
    assert find_resume(None, CONFIG, tmp_path, tmp_path) is None


def test_a_path_is_a_run_dir_or_one_checkpoint_and_differences_are_warned(tmp_path, caplog):
    run_dir = make_run(tmp_path, "a", status="FINISHED", steps=(2, 4))
    point = find_resume(str(run_dir), CONFIG, tmp_path, tmp_path / "this")
    assert (point.run_dir, point.checkpoint.name) == (run_dir, "step_000004")
    longer = {**CONFIG, "trainer": {"total_steps": 10, "eval": []}}
    point = find_resume(str(run_dir / "checkpoints" / "step_000002"), longer, tmp_path, tmp_path / "this")
    assert (point.run_dir, point.step) == (run_dir, 2)
    assert "trainer.total_steps differs" in caplog.text


def test_a_path_without_a_good_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="resume=.*no such directory"):
        find_resume(str(tmp_path / "nope"), CONFIG, tmp_path, tmp_path)
    empty = make_run(tmp_path, "empty", steps=())
    with pytest.raises(ConfigError, match="no complete checkpoint in .*start it again without resume"):
        find_resume(str(empty), CONFIG, tmp_path, tmp_path)
    run_dir = make_run(tmp_path, "half", steps=(2,))
    state = run_dir / "checkpoints" / "step_000002" / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:50])
    with pytest.raises(ConfigError, match="incomplete"):
        find_resume(str(state.parent), CONFIG, tmp_path, tmp_path)
