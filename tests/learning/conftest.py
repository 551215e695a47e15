"""Learning tests (marked slow): real training runs whose metric curves must move the right way.

    def test_x(warm_tiny, tmp_path):
        h = run_train(tmp_path, "algo=ppo", "trainer.total_steps=20")   # python train.py ... in a subprocess
        first, last = h["eval/synthetic_tools/correctness/mean"][0][1], ...[-1][1]

``learning_runs.run_train`` runs ``python train.py`` (the embedded default: warm-started tiny model, synthetic tool task,
GRPO) with MLflow writing to ``<tmp_path>/mlflow.db`` and returns every metric's history read back from that
store: ``{key: [(step, value), ...]}`` sorted by step. ``warm_tiny`` makes sure model=tiny's warm start is in
the shared cache (tests/conftest.py points TOOLRL_WARM_START_CACHE at one) before any run needs it, so it is
trained at most once per checkout and its time is not charged to the first test.
"""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def warm_tiny() -> Path:
    """The checkpoint directory of model=tiny's warm start (trained here if the cache lacks it)."""
    from toolrl.cli import compose
    from toolrl.config import validate
    from toolrl.models.warmstart import ensure_warm_start

    conf = validate(compose(["model=tiny", "output_dir=unused"]))
    return ensure_warm_start(conf.model)
