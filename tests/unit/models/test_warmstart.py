"""The tiny model's warm start: keyed by its recipe, trained once (even by concurrent callers), loaded by load_model."""

import dataclasses
import math
import json
import threading

import pytest
import torch

from toolrl.config import ConfigError, ModelConfig, TinyModelConfig, WarmStartConfig, validate
from toolrl.models import load_model, load_tokenizer
from toolrl.models import warmstart
from toolrl.models.warmstart import RECIPE_FILE, ensure_warm_start, recipe_hash

SMALL = TinyModelConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64)


def small_cfg(tmp_path, **warm) -> ModelConfig:
    """A recipe that trains in about a second: a smaller architecture, 3 steps of 2 examples."""
    recipe = {"source": "synthetic:tools?n=40&seed=0", "steps": 3, "batch_size": 2, "lr": 1e-2, **warm}
    return ModelConfig(name="tiny", tiny=SMALL, warm_start=WarmStartConfig(cache_dir=str(tmp_path / "cache"), **recipe))


def test_the_hash_follows_the_recipe_not_the_place_or_the_threads(tmp_path):
    base = small_cfg(tmp_path)
    same = [small_cfg(tmp_path / "elsewhere"), small_cfg(tmp_path, threads=1)]
    assert {recipe_hash(c) for c in same} == {recipe_hash(base)}
    changed = [small_cfg(tmp_path, steps=4), small_cfg(tmp_path, schedule_steps=6), small_cfg(tmp_path, lr=2e-2),
               small_cfg(tmp_path, seed=1),
               small_cfg(tmp_path, source="synthetic:tools?n=41&seed=0"),
               dataclasses.replace(base, tiny=dataclasses.replace(SMALL, hidden_size=64))]
    hashes = {recipe_hash(c) for c in changed}
    assert recipe_hash(base) not in hashes and len(hashes) == len(changed)


def test_trained_once_then_reused_and_loaded_by_load_model(tmp_path, monkeypatch):
    cfg = small_cfg(tmp_path)
    path = ensure_warm_start(cfg)
    assert path == tmp_path / "cache" / recipe_hash(cfg)
    assert (path / "model.safetensors").exists() and (path / "tokenizer_config.json").exists()
    saved = json.loads((path / RECIPE_FILE).read_text())
    assert saved["recipe"]["warm_start"]["steps"] == 3 and saved["examples"] == 6
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp")] == []  # renamed, no leftovers

    def boom(*args, **kwargs):
        raise AssertionError("a cached recipe must not be trained again")

    monkeypatch.setattr(warmstart, "train_warm_start", boom)
    assert ensure_warm_start(cfg) == path
    tok = load_tokenizer(cfg)
    warm = load_model(cfg, tok, seed=0)
    random = load_model(dataclasses.replace(cfg, warm_start=None), tok, seed=0)
    reloaded = load_model(cfg, tok, seed=123)  # the run's seed does not touch the warm start's weights
    w, r, again = (dict(m.named_parameters()) for m in (warm, random, reloaded))
    assert any(not torch.equal(w[k], r[k]) for k in w)
    assert all(torch.equal(w[k], again[k]) for k in w)


def test_concurrent_callers_train_it_once(tmp_path, monkeypatch):
    cfg = small_cfg(tmp_path, steps=2)
    calls = []
    real = warmstart.train_warm_start

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(warmstart, "train_warm_start", counted)
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(ensure_warm_start(cfg))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(paths)) == 1 and len(paths) == 3


def test_init_from_wins_over_the_warm_start(tmp_path, monkeypatch):
    cfg = small_cfg(tmp_path)
    path = ensure_warm_start(cfg)
    monkeypatch.setattr(warmstart, "train_warm_start", lambda *a, **k: pytest.fail("init_from must skip the warm start"))
    other = dataclasses.replace(cfg, warm_start=dataclasses.replace(cfg.warm_start, steps=7), init_from=str(path))
    model = load_model(other, load_tokenizer(cfg), seed=0)
    assert model.config.hidden_size == 32


def test_a_warm_start_needs_the_config_built_model():
    from toolrl.cli import compose

    cfg = compose(["model=tiny", "model.path=some/hub-model", "output_dir=/tmp/unused"])
    with pytest.raises(ConfigError, match=r"model\.warm_start applies to the config-built tiny model"):
        validate(cfg)
    cfg = compose(["model=tiny", "model.warm_start.steps=0", "output_dir=/tmp/unused"])
    with pytest.raises(ConfigError, match=r"model\.warm_start\.steps=0 must be > 0"):
        validate(cfg)
    cfg = compose(["model=tiny", "model.warm_start.steps=10", "model.warm_start.schedule_steps=5", "output_dir=/tmp/unused"])
    with pytest.raises(ConfigError, match=r"model\.warm_start\.schedule_steps=5 must be >= model\.warm_start\.steps=10"):
        validate(cfg)
    assert validate(compose(["model=tiny_random", "output_dir=/tmp/unused"])).model.warm_start is None


def test_stopping_partway_through_a_longer_schedule(tmp_path, monkeypatch):
    """schedule_steps sets the LR schedule's length: 3 steps of a 6-step cosine end at a higher LR than 3 of 3."""
    from toolrl.algos import sft

    real = sft.SFT.update
    seen = []

    def update(self, *args, **kwargs):  # the LR each step trains at
        seen.append(self.scheduler.get_last_lr()[0])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(sft.SFT, "update", update)
    full = ensure_warm_start(small_cfg(tmp_path, lr_scheduler="cosine", warmup_ratio=0.0))
    partial = ensure_warm_start(small_cfg(tmp_path, lr_scheduler="cosine", warmup_ratio=0.0, schedule_steps=6))
    assert full != partial
    # cosine from 1e-2 with no warm-up: steps 0, 1, 2 of 3 vs of 6
    expected_full = [1e-2 * 0.5 * (1 + math.cos(math.pi * k / 3)) for k in range(3)]
    expected_partial = [1e-2 * 0.5 * (1 + math.cos(math.pi * k / 6)) for k in range(3)]
    assert seen == pytest.approx(expected_full + expected_partial)

