"""Train a tool-using policy with RL: `python train.py reward=finegrained algo=grpo`.

`python train.py --help` lists the config groups; `--cfg job` prints the composed config.
"""

import sys

import hydra

from toolrl.config import register_configs

register_configs()


def _fast_help() -> None:
    """Hydra 1.3 deep-copies its whole config repository (every registered schema) for each group it lists,
    ~120 times for one ``--help`` page (3.5 s of 4); the listing reads the same repository each time, so
    build it once per (config, overrides) and reuse it. Installed only for ``--help`` / ``--hydra-help``."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.object_type import ObjectType

    repos: dict = {}

    def get_group_options(self, group_name, results_filter=ObjectType.CONFIG, config_name=None, overrides=None):
        key = (id(self), config_name, tuple(overrides or ()))
        if key not in repos:
            repos[key] = self._parse_overrides_and_create_caching_repo(config_name, list(overrides or ()))[1]
        return repos[key].get_group_options(group_name, results_filter)

    ConfigLoaderImpl.get_group_options = get_group_options


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg) -> float | None:
    from toolrl.trainer import run  # heavy imports (torch, transformers) only once a run starts
    from toolrl.config import ConfigError

    try:
        return run(cfg)
    except ConfigError as exc:  # a config mistake: the message says which key and what is allowed
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    if "--help" in sys.argv or "-h" in sys.argv or "--hydra-help" in sys.argv:
        _fast_help()
    main()
