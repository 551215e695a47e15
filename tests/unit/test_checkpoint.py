"""Checkpoints hold the weights (loadable by transformers), optimizer, scheduler, RNG and step."""

import random

import torch

from toolrl.algos.grpo import GRPO
from toolrl.checkpoint import latest_checkpoint, load_trainer_state, save_checkpoint, set_rng_state
from toolrl.config import ModelConfig


def test_round_trip(tmp_path):
    from transformers import AutoModelForCausalLM

    from toolrl.models import load_model, load_tokenizer

    cfg = ModelConfig(name="tiny")
    tok = load_tokenizer(cfg)
    model = load_model(cfg, tok, seed=0)
    algo = GRPO(policy=model, total_steps=3, lr=1e-3)
    path = save_checkpoint(tmp_path, 7, model, tok, algo.state_dict(), extra={"note": 1})
    assert latest_checkpoint(tmp_path) == path and path.name == "step_000007"
    loaded = AutoModelForCausalLM.from_pretrained(path)
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    state = load_trainer_state(path)
    assert state["step"] == 7 and state["extra"] == {"note": 1}
    algo.load_state_dict(state["algo"])
    set_rng_state(state["rng"])
    first = (random.random(), float(torch.rand(1)))
    set_rng_state(state["rng"])
    assert (random.random(), float(torch.rand(1))) == first


def test_init_from_a_checkpoint_or_a_run_dir_loads_its_weights_and_tokenizer(tmp_path):
    import dataclasses

    import pytest

    from toolrl.models import ModelLoadError, load_model, load_tokenizer

    cfg = ModelConfig(name="tiny")
    tok = load_tokenizer(cfg)
    trained = load_model(cfg, tok, seed=5)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01)
    path = save_checkpoint(tmp_path, 3, trained, tok, {})
    for start in (str(path), str(tmp_path)):  # the checkpoint itself, or the run dir (its latest)
        init = dataclasses.replace(cfg, init_from=start)
        model = load_model(init, load_tokenizer(init), seed=0)
        for a, b in zip(trained.state_dict().values(), model.state_dict().values()):
            assert torch.equal(a, b)
    with pytest.raises(ModelLoadError, match="model.init_from="):
        load_model(dataclasses.replace(cfg, init_from=str(tmp_path / "nope")), tok, seed=0)


# ----------------------------------------------------------------------------- kill safety


def _tiny():
    from toolrl.models import load_model, load_tokenizer

    cfg = ModelConfig(name="tiny")
    tok = load_tokenizer(cfg)
    return load_model(cfg, tok, seed=0), tok


def test_a_kill_while_saving_leaves_the_previous_checkpoint_as_latest(tmp_path, monkeypatch):
    import pytest

    from toolrl import checkpoint

    model, tok = _tiny()
    good = save_checkpoint(tmp_path, 2, model, tok, {"v": 2})
    real_save = torch.save

    def killed_mid_write(obj, f, *args, **kwargs):  # half a file, then the process "dies"
        real_save(obj, f, *args, **kwargs)
        path = tmp_path / "checkpoints" / ".tmp_step_000004" / checkpoint.STATE_FILE
        path.write_bytes(path.read_bytes()[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 4, model, tok, {"v": 4})
    monkeypatch.undo()
    assert (tmp_path / "checkpoints" / ".tmp_step_000004" / "model.safetensors").exists()
    assert not checkpoint.is_complete(tmp_path / "checkpoints" / ".tmp_step_000004")
    assert latest_checkpoint(tmp_path) == good
    assert checkpoint.complete_checkpoints(tmp_path) == [good]


def test_latest_falls_back_to_the_newest_complete_checkpoint(tmp_path, caplog):
    from toolrl import checkpoint

    model, tok = _tiny()
    first = save_checkpoint(tmp_path, 1, model, tok, {})
    second = save_checkpoint(tmp_path, 2, model, tok, {})
    root = tmp_path / "checkpoints"
    # a step_* folder with a truncated state (copied by hand, or a disk that filled up) is not complete
    third = root / "step_000003"
    third.mkdir()
    (third / "model.safetensors").write_bytes((second / "model.safetensors").read_bytes())
    (third / checkpoint.STATE_FILE).write_bytes((second / checkpoint.STATE_FILE).read_bytes()[:-200])
    (root / "latest").write_text("step_000003\n")
    assert latest_checkpoint(tmp_path) == second
    assert "missing or incomplete" in caplog.text
    (root / "latest").write_text("step_000009\n")  # names a folder that is gone
    assert latest_checkpoint(tmp_path) == second
    (root / "latest").unlink()
    assert latest_checkpoint(tmp_path) == second
    (second / "model.safetensors").unlink()  # no weights: incomplete too
    assert latest_checkpoint(tmp_path) == first
    assert latest_checkpoint(tmp_path / "nothing") is None


def test_saving_the_same_step_again_replaces_it_whole(tmp_path):
    model, tok = _tiny()
    save_checkpoint(tmp_path, 3, model, tok, {"v": 1})
    path = save_checkpoint(tmp_path, 3, model, tok, {"v": 2})
    assert load_trainer_state(path)["algo"] == {"v": 2}
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step_000003"]


def test_restore_weights_loads_a_full_model_with_tied_embeddings_in_place(tmp_path):
    import pytest

    from toolrl.checkpoint import restore_weights
    from toolrl.models import load_model, load_tokenizer

    trained, tok = _tiny()
    assert trained.config.tie_word_embeddings
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01)
    path = save_checkpoint(tmp_path, 1, trained, tok, {})
    fresh = load_model(ModelConfig(name="tiny"), load_tokenizer(ModelConfig(name="tiny")), seed=1)
    restore_weights(fresh, path)
    for (name, a), b in zip(trained.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    assert fresh.lm_head.weight.data_ptr() == fresh.model.embed_tokens.weight.data_ptr()  # still tied
    other = load_model(ModelConfig(name="tiny", tiny=type(ModelConfig().tiny)(num_layers=1)), tok, seed=0)
    with pytest.raises(RuntimeError, match="does not have"):
        restore_weights(other, path)


def test_restore_weights_loads_a_lora_adapter(tmp_path):
    from peft import LoraConfig, get_peft_model

    from toolrl.checkpoint import ADAPTER_FILE, restore_weights

    def peft_model():
        base, _ = _tiny()
        return get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))

    _, tok = _tiny()
    trained = peft_model()
    with torch.no_grad():
        for name, p in trained.named_parameters():
            if "lora_" in name:
                p.add_(0.05)
    path = save_checkpoint(tmp_path, 1, trained, tok, {})
    assert (path / ADAPTER_FILE).exists() and not (path / "model.safetensors").exists()
    fresh = peft_model()
    restore_weights(fresh, path)
    for (name, a), b in zip(trained.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
