"""Typed schemas of every config group, registered in Hydra's ConfigStore.

Each YAML file under ``conf/<group>/`` opts into its schema through its defaults list
(``- /schema_<group>_<option>@_here_``), so a typo or a wrong type fails while Hydra composes the
config, before anything heavy is imported. Choices that are plain strings (``loss_agg``,
``granularity`` ...) carry their allowed values in the field's metadata; :func:`validate` checks
them, and the cross-field rules, right after composition and names the full key of any culprit.

Group nodes are typed ``Any`` in :class:`Config` so that a user's own option (a reward or tool class
of theirs, with its own keys) composes without editing this file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf


class ConfigError(ValueError):
    """A composed config that cannot run; the message names the key and what is allowed."""


def choice(default: str, *others: str) -> Any:
    """A string field that must be one of ``(default, *others)``."""
    return field(default=default, metadata={"choices": (default, *others)})


# ----------------------------------------------------------------------------- model


@dataclass
class TinyModelConfig:
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 512
    max_position_embeddings: int = 4096
    tokenizer: Optional[str] = None  # tokenizer dir; None = the one shipped in toolrl/assets


@dataclass
class LoraConfig:
    enabled: bool = False  # train LoRA adapters (PEFT) instead of every weight; the reference is the adapter disabled
    r: int = 16  # rank of each adapter
    alpha: float = 32.0  # scale of the update is alpha / r
    dropout: float = 0.0  # on the adapter's input; keep 0 for RL (old and new log-probs must match on-policy)
    target_modules: List[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )  # module names that get an adapter: attention and MLP projections of Qwen2 / Llama
    bias: str = choice("none", "all", "lora_only")  # which biases train along with the adapters


@dataclass
class WarmStartConfig:
    """SFT of the config-built tiny model on a synthetic task, trained on first use and cached (toolrl/models/warmstart.py)."""

    source: str = "synthetic:tools?n=2000&seed=0"  # rows it trains on (their training split only, as data= splits them)
    val_fraction: float = 0.1  # held out exactly as data=synthetic_tools holds them out; never trained on
    split_seed: int = 31415  # the split's shuffle seed (data.split_seed)
    steps: int = 60  # optimizer steps taken
    schedule_steps: Optional[int] = None  # length of the LR schedule; None = steps (stopping before its end keeps the LR high)
    batch_size: int = 16  # examples per step
    lr: float = 1e-2  # AdamW learning rate (a 1M-parameter model from scratch takes a large one)
    lr_scheduler: str = choice("cosine", "constant", "linear")
    warmup_ratio: float = 0.05  # share of the steps warming up the LR
    seed: int = 0  # initial weights and example order (independent of the run's seed)
    threads: Optional[int] = None  # torch CPU threads while it trains; None = torch's default (not part of the recipe)
    cache_dir: str = "outputs/cache/tiny_warm"  # <cache_dir>/<recipe hash>/ holds the checkpoint (not part of the recipe)


@dataclass
class ModelConfig:
    name: str = MISSING
    path: Optional[str] = None  # hub id or local dir; None builds the tiny model from `tiny`
    revision: Optional[str] = None
    dtype: str = choice("float32", "bfloat16", "float16", "auto")
    attn_implementation: str = choice("sdpa", "eager", "flash_attention_2")
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    init_from: Optional[str] = None  # a checkpoint dir or a finished run dir (its latest checkpoint): SFT -> RL
    init_stage: Optional[List[str]] = None  # train.py overrides of a first stage (e.g. an SFT run), trained and cached, then init_from it
    lora: LoraConfig = field(default_factory=LoraConfig)
    warm_start: Optional[WarmStartConfig] = None  # tiny model only: start from its cached SFT warm start; None = random init


# ----------------------------------------------------------------------------- algorithm


@dataclass
class GRPOConfig:
    _target_: str = "toolrl.algos.grpo.GRPO"
    name: str = "grpo"
    group_size: int = 4
    prompts_per_step: int = 4
    mini_batch_size: int = 16
    micro_batch_size: int = 4
    epochs: int = 1
    lr: float = 1e-6
    weight_decay: float = 0.0
    adam_betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    lr_scheduler: str = choice("constant", "linear", "cosine")
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    clip_low: float = 0.2
    clip_high: float = 0.2
    adv_eps: float = 1e-6
    scale_by_std: bool = True
    loss_agg: str = choice("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")
    kl_coef: float = 0.0
    kl_estimator: str = choice("k1", "k3")
    kl_in: str = choice("loss", "reward")
    entropy_coef: float = 0.0
    adv_estimator: str = choice("grpo", "rloo", "reinforce_pp")  # group-normalised | leave-one-out | batch-whitened returns
    overlong: str = choice("none", "filter", "penalty")  # DAPO: truncated responses out of the loss | soft length penalty
    overlong_buffer: Optional[int] = None  # penalty: ramp over the last N tokens before the cap; None = a fifth of rollout.max_new_tokens
    overlong_penalty_factor: float = 1.0  # penalty: reward subtracted at rollout.max_new_tokens
    dynamic_sampling: str = choice("none", "drop", "resample")  # DAPO: drop groups whose rewards are all equal | and draw more
    max_resample_rounds: int = 0  # resample: extra generation rounds per step at most


@dataclass
class PPOConfig:
    _target_: str = "toolrl.algos.ppo.PPO"
    name: str = "ppo"
    group_size: int = 1  # samples per prompt (ToolRL's PPO: 1)
    prompts_per_step: int = 16
    mini_batch_size: int = 16
    micro_batch_size: int = 4
    epochs: int = 1
    lr: float = 1e-6  # actor
    weight_decay: float = 0.0
    adam_betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    lr_scheduler: str = choice("constant", "linear", "cosine")
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    clip_low: float = 0.2
    clip_high: float = 0.2
    loss_agg: str = choice("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")
    kl_coef: float = 0.001  # in-reward KL coefficient (initial value of an adaptive controller); 0 = no reference
    kl_estimator: str = choice("k1", "k3")
    kl_ctrl: str = choice("fixed", "adaptive")
    target_kl: float = 0.1  # adaptive: KL per token the controller steers to
    kl_horizon: int = 10000  # adaptive: sequences over which the coefficient may move by 20%
    entropy_coef: float = 0.0
    critic: str = choice("separate", "shared")  # value head on a copy of the backbone | on the policy's backbone
    critic_lr: float = 1e-5
    critic_warmup_steps: int = 0  # trainer steps that update only the critic
    vf_coef: float = 0.5  # critic=shared: weight of the value loss in the policy loss
    cliprange_value: float = 0.5
    gamma: float = 1.0
    lam: float = 1.0
    whiten_advantages: bool = True


@dataclass
class SFTConfig:
    _target_: str = "toolrl.algos.sft.SFT"
    name: str = "sft"
    batch_size: int = 8  # examples per optimizer step
    micro_batch_size: int = 8  # examples per forward/backward (gradient accumulation)
    lr: float = 1e-5
    weight_decay: float = 0.0
    adam_betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    lr_scheduler: str = choice("cosine", "constant", "linear")
    warmup_ratio: float = 0.1  # share of the optimizer steps spent warming up the LR
    max_grad_norm: float = 1.0
    max_length: int = 4096  # prompt + gold tokens; longer examples are dropped with a count


# ----------------------------------------------------------------------------- reward


@dataclass
class FormatRewardConfig:
    max: float = 1.0
    min: float = 0.0


@dataclass
class CorrectnessRewardConfig:
    max: float = 3.0  # the range is [-max, max]


@dataclass
class ScheduleConfig:
    name: str = choice("static", "dynamic", "two_stage")
    horizon: Optional[int] = 150  # dynamic: steps to reach the final scales; None = trainer's total steps
    switch_step: int = 30  # two_stage: first step of the second stage
    stage1_correctness_max: float = 1.0  # two_stage: correctness range [-x, x] before the switch
    stage2_format_max: float = 0.5  # two_stage: format range [0, x] from the switch on


@dataclass
class LengthRewardConfig:
    name: str = choice("none", "fixed", "dynamic")
    target_words: float = 512.0  # fixed: words of <think> that earn the full length reward
    dynamic_start: float = 384.0  # dynamic: target at step 0
    dynamic_growth: float = 256.0  # dynamic: target grows by this much every `dynamic_horizon` steps
    dynamic_horizon: float = 105.0
    max: float = 1.0  # cap of the length reward


@dataclass
class RewardConfig:
    _target_: str = "toolrl.rewards.ToolRLReward"
    name: str = MISSING
    granularity: str = choice("finegrained", "finegrained_strict", "intermediate", "coarse")
    matching: str = choice("greedy", "optimal")
    format: FormatRewardConfig = field(default_factory=FormatRewardConfig)
    correctness: CorrectnessRewardConfig = field(default_factory=CorrectnessRewardConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    length: LengthRewardConfig = field(default_factory=LengthRewardConfig)


# ----------------------------------------------------------------------------- tool backend


@dataclass
class FunctionCallToolConfig:
    _target_: str = "toolrl.tools.function_call.FunctionCallBackend"
    name: str = "function_call"


# ----------------------------------------------------------------------------- data


@dataclass
class DataConfig:
    name: str = MISSING
    source: str = MISSING  # URL, local file, `hf:<dataset id>`, or `builtin:<file>` in toolrl/assets/data
    hf_split: str = "train"  # split to read when `source` is a hub dataset
    split_seed: int = 31415  # numpy seed of the official shuffle
    val_fraction: float = 0.02  # the last fraction of the shuffled rows is the validation split
    max_train_rows: Optional[int] = None
    max_val_rows: Optional[int] = None
    skip_bad_rows: bool = False  # drop malformed rows with a warning instead of failing


# ----------------------------------------------------------------------------- ToRL: python tool, outcome reward, math data


@dataclass
class SandboxLimitsConfig:
    wall_seconds: float = 10.0  # per call (ToRL: 10 s)
    cpu_seconds: float = 10.0  # RLIMIT_CPU per call
    memory_mb: int = 2048  # RLIMIT_AS of each process of a call
    output_bytes: int = 65536  # stdout + stderr kept; the call is stopped past it
    max_processes: int = 16  # RLIMIT_NPROC inside the sandbox
    file_size_mb: int = 16  # RLIMIT_FSIZE
    max_open_files: int = 256  # RLIMIT_NOFILE
    tmp_size_mb: int = 256  # the sandbox's private /tmp (bubblewrap)


@dataclass
class PythonToolConfig:
    _target_: str = "toolrl.tools.python.PythonToolBackend"
    name: str = "python"
    max_calls: int = 1  # C: rounds per response that may stop at ```output
    persistent: bool = False  # keep names between a trajectory's calls (replays its earlier programs)
    workers: int = 2  # sandboxes running at once
    warm: bool = True  # fork a pre-started interpreter per call (False: a new interpreter per call)
    preload: List[str] = field(default_factory=lambda: ["numpy", "sympy"])  # imported once by warm workers
    isolation: str = choice("auto", "bwrap", "unshare", "none")
    limits: SandboxLimitsConfig = field(default_factory=SandboxLimitsConfig)


@dataclass
class FunctionExecToolConfig:
    _target_: str = "toolrl.tools.function_exec.FunctionExecBackend"
    name: str = "function_exec"
    registry: str = "toolrl.tools.registry:EXAMPLE_TOOLS"  # "module:attribute" of a ToolRegistry
    format: str = choice("toolrl", "qwen")  # observation framing: <obs> (ToolRL) or <tool_response> (Qwen chat)
    max_calls: int = 1  # rounds per response that may stop at </tool_call>
    timeout_seconds: float = 10.0  # per function call
    workers: int = 4  # function calls running at once


@dataclass
class OutcomeRewardConfig:
    _target_: str = "toolrl.rewards.outcome.OutcomeReward"
    name: str = "outcome"
    correct: float = 1.0  # reward of an answer equivalent to the gold
    wrong: float = -1.0  # reward of a wrong or missing answer
    code_failure_penalty: float = 0.0  # added when an observation reports a failed program (ToRL ablation: -0.5)


@dataclass
class MathDataConfig(DataConfig):
    prompt_style: str = choice("torl", "chat")  # torl: ToRL's base-model prompt, no chat template
    val_source: Optional[str] = None  # validation from this source instead of a split of `source`
    datasets: Optional[List[str]] = None  # keep rows whose `dataset` is one of these (rows without one are kept)


# ----------------------------------------------------------------------------- rollout


@dataclass
class HFRolloutConfig:
    _target_: str = "toolrl.rollout.hf.HFRollout"
    name: str = "hf"
    max_prompt_length: int = 2048
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 32  # sequences per generate() call
    progress: bool = True


@dataclass
class VllmRolloutConfig:
    _target_: str = "toolrl.rollout.vllm.VllmRollout"
    name: str = "vllm"
    max_prompt_length: int = 2048
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 0  # prompts per engine call; 0 = the whole batch in one call
    progress: bool = False
    dtype: str = choice("auto", "float32", "bfloat16", "float16")  # engine dtype; auto = the model's
    max_model_len: Optional[int] = None  # None = max_prompt_length + max_new_tokens
    gpu_memory_utilization: float = 0.5  # share of GPU memory for weights + KV cache (ignored on CPU)
    kv_cache_memory_bytes: Optional[int] = None  # explicit KV cache size; needed on CPU (else ~12 GiB)
    enforce_eager: bool = True  # no CUDA graphs / compilation
    tensor_parallel_size: int = 1
    sleep_between_steps: bool = False  # free engine memory during the update (CUDA only)
    enable_prefix_caching: bool = True
    seed: int = 0
    is_cap: float = 0.0  # truncated importance-sampling correction cap; 0 = off


# ----------------------------------------------------------------------------- loggers


@dataclass
class MlflowConfig:
    tracking_uri: Optional[str] = None  # None = $MLFLOW_TRACKING_URI or sqlite under output_root
    experiment: str = "toolrl"


@dataclass
class WandbConfig:
    project: str = "toolrl"
    entity: Optional[str] = None
    mode: str = choice("auto", "online", "offline", "disabled")
    group: Optional[str] = None


@dataclass
class LoggerConfig:
    name: str = MISSING
    mlflow: Optional[MlflowConfig] = None
    wandb: Optional[WandbConfig] = None
    samples_every: int = 5  # log a table of sample completions every N steps (0 = never)
    num_samples: int = 8


# ----------------------------------------------------------------------------- trainer


@dataclass
class TrainerConfig:
    total_steps: Optional[int] = None  # None = epochs over the training split
    epochs: int = 1
    val_every: int = 5  # 0 = no validation during training
    val_at_start: bool = True
    val_batch_size: int = 16
    save_every: int = 0  # 0 = only at the end
    save_final: bool = True
    device: str = choice("auto", "cpu", "cuda")
    log_every: int = 1
    eval: List[Any] = field(default_factory=list)  # benchmarks run during training: conf/eval names or {name: ..., overrides}
    eval_every: Optional[int] = None  # benchmark evaluation every N steps; None = every val_every steps


@dataclass
class SweepConfig:
    name: Optional[str] = None  # the ablation a run belongs to: tag `sweep`, W&B group; None in a multirun = its folder name
    factors: List[str] = field(default_factory=list)  # config keys it varies (`reward`, `reward.correctness.max`); tagged with their values


@dataclass
class Config:
    model: Any = MISSING
    algo: Any = MISSING
    reward: Any = MISSING
    tool: Any = MISSING
    data: Any = MISSING
    rollout: Any = MISSING
    logger: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    experiment: Any = None
    sweep: SweepConfig = field(default_factory=SweepConfig)
    seed: int = 0
    run_name: Optional[str] = None
    output_root: str = "outputs"
    output_dir: str = MISSING
    resume: Optional[str] = None  # null | auto | a run dir or checkpoint dir: continue a killed run (toolrl.resume)


# ----------------------------------------------------------------------------- evaluation (conf/eval, evaluate.py)


@dataclass
class BfclEvalConfig:
    _target_: str = "toolrl.evaluation.bfcl.BFCL"
    name: str = "bfcl"
    categories: List[str] = field(default_factory=lambda: ["all"])  # categories or groups (all, non_live, live, multi_turn, single_turn)
    ids: Optional[List[str]] = None  # only these entry ids
    max_per_category: Optional[int] = None  # first N entries of each category
    prompt_style: str = choice("toolrl", "native")
    decoder: str = choice("toolrl", "strict")  # prompt_style=toolrl only; native always decodes Hermes <tool_call> blocks
    instructions: bool = True  # toolrl style: ToolRL's extra user instructions
    max_steps: int = 20  # multi-turn: executed steps per turn before a forced stop (bfcl-eval: 20)
    python: Optional[str] = None  # python of the bfcl-eval environment; None = $TOOLRL_BFCL_PYTHON or .venv-bfcl
    max_new_tokens: Optional[int] = None  # per model turn; None = rollout.max_new_tokens
    max_prompt_length: Optional[int] = None  # None = rollout.max_prompt_length


@dataclass
class ApiBankEvalConfig:
    _target_: str = "toolrl.evaluation.apibank.APIBank"
    name: str = "apibank"
    data_dir: Optional[str] = None  # folder with level-{1,2,3}-api_processed.json; None = the shipped sample
    levels: List[int] = field(default_factory=lambda: [1, 2, 3])
    max_items: Optional[int] = None  # first N items of each level
    decoder: str = choice("toolrl", "strict")
    match: str = choice("any", "only")  # a hit: any decoded call equals the gold | the only decoded call does
    max_new_tokens: Optional[int] = None
    max_prompt_length: Optional[int] = None


@dataclass
class SearchConfig:
    backend: str = choice("bm25", "serper")
    corpus: Optional[str] = None  # bm25: a .jsonl/.json/.tsv/.txt corpus file
    index_dir: Optional[str] = None  # bm25: a bm25s index folder (loaded if present, else built from corpus and saved)
    top_k: int = 3
    max_chars: int = 600  # per passage shown to the model
    endpoint: str = "https://google.serper.dev/search"
    api_key_env: str = "SERPER_API_KEY"
    timeout: float = 20.0


@dataclass
class JudgeConfig:
    enabled: bool = False
    base_url: str = "https://api.openai.com/v1"  # any OpenAI-compatible endpoint
    model: str = "gpt-4o"
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0


@dataclass
class BamboogleEvalConfig:
    _target_: str = "toolrl.evaluation.bamboogle.Bamboogle"
    name: str = "bamboogle"
    source: str = "builtin:bamboogle.json"  # a .json list of {Question, Answer}, or builtin:<file> in toolrl/assets/eval
    max_items: Optional[int] = None
    prompt_style: str = choice("toolrl", "native")
    decoder: str = choice("toolrl", "strict")
    max_searches: int = 5  # search rounds before the model must answer
    search: SearchConfig = field(default_factory=SearchConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    max_new_tokens: Optional[int] = None
    max_prompt_length: Optional[int] = None


@dataclass
class MathEvalConfig:
    _target_: str = "toolrl.evaluation.math.MathBench"
    name: str = "math"
    datasets: List[str] = field(default_factory=lambda: ["aime24", "aime25", "amc23", "math500"])
    source: str = "builtin:torl_eval.jsonl"  # {question|problem, answer[, dataset]} rows or veRL parquet (data.source forms)
    max_items: Optional[int] = None  # first N problems of each data set
    max_tool_calls: int = 1  # C: code executions per response (0 = no tool)
    samples: int = 1  # k of avg@k (sampled at rollout.temperature); greedy accuracy is always reported
    max_new_tokens: Optional[int] = None
    max_prompt_length: Optional[int] = None


@dataclass
class EvaluateConfig:
    model: Any = MISSING
    rollout: Any = MISSING
    logger: Any = MISSING
    eval: Any = None  # required: the runner names the options when it is missing
    seed: int = 0
    device: str = choice("auto", "cpu", "cuda")
    run_name: Optional[str] = None  # None = eval-<benchmark>-<model>
    progress: bool = True
    output_root: str = "outputs"
    output_dir: str = MISSING


SCHEMAS = {
    "schema_config": (Config, None),
    "schema_model": (ModelConfig, "model"),
    "schema_algo_grpo": (GRPOConfig, "algo"),
    "schema_algo_sft": (SFTConfig, "algo"),
    "schema_algo_ppo": (PPOConfig, "algo"),
    "schema_reward_toolrl": (RewardConfig, "reward"),
    "schema_tool_function_call": (FunctionCallToolConfig, "tool"),
    "schema_tool_python": (PythonToolConfig, "tool"),
    "schema_tool_function_exec": (FunctionExecToolConfig, "tool"),
    "schema_reward_outcome": (OutcomeRewardConfig, "reward"),
    "schema_data_math": (MathDataConfig, "data"),
    "schema_data": (DataConfig, "data"),
    "schema_rollout_hf": (HFRolloutConfig, "rollout"),
    "schema_rollout_vllm": (VllmRolloutConfig, "rollout"),
    "schema_logger": (LoggerConfig, "logger"),
    "schema_evaluate": (EvaluateConfig, None),
    "schema_eval_bfcl": (BfclEvalConfig, "eval"),
    "schema_eval_apibank": (ApiBankEvalConfig, "eval"),
    "schema_eval_bamboogle": (BamboogleEvalConfig, "eval"),
    "schema_eval_math": (MathEvalConfig, "eval"),
}


def _required(key: str, what: str = "") -> Any:
    """``${required:model.init_from,the SFT run}``: a preset's value the user must give on the command line."""
    raise ConfigError(f"{key} is required by this preset: give {key}=<{what or 'value'}> on the command line")


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    if not OmegaConf.has_resolver("required"):
        OmegaConf.register_new_resolver("required", _required)
    cs = ConfigStore.instance()
    for name, (node, package) in SCHEMAS.items():
        cs.store(name=name, node=node, package=package)


# ----------------------------------------------------------------------------- validation


def _check_choices(obj: Any, path: str, errors: List[str]) -> None:
    if not dataclasses.is_dataclass(obj):
        return
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{path}.{f.name}" if path else f.name
        allowed = f.metadata.get("choices")
        if allowed is not None and value not in allowed:
            errors.append(f"{key}={value!r} is not allowed; choose one of: {', '.join(allowed)}")
        _check_choices(value, key, errors)


def _positive(errors: List[str], **values: Any) -> None:
    for key, value in values.items():
        if value is not None and value <= 0:
            errors.append(f"{key}={value} must be > 0")


def validate(cfg: DictConfig) -> Config:
    """Turn a composed config into typed objects and check it; raise ConfigError naming every culprit."""
    try:
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ConfigError("required values not set (give them on the command line): " + ", ".join(missing))
        obj = OmegaConf.to_object(cfg)
    except ConfigError as exc:
        raise ConfigError(f"invalid config: {exc}") from None
    except Exception as exc:  # omegaconf's own message names the key
        cause = exc.__cause__ if isinstance(exc.__cause__, ConfigError) else exc
        raise ConfigError(f"invalid config: {cause}") from None
    errors: List[str] = []
    for name in ("model", "algo", "reward", "tool", "data", "rollout", "logger", "trainer"):
        _check_choices(getattr(obj, name), name, errors)
    algo = obj.algo
    if isinstance(algo, GRPOConfig):
        _check_policy_batches(algo, errors)
        if algo.group_size < 2:
            errors.append("algo.group_size must be >= 2: GRPO normalises rewards within a group")
        _check_grpo_variants(obj, errors)
    if isinstance(algo, PPOConfig):
        _check_ppo(algo, errors)
    if isinstance(algo, SFTConfig):
        _positive(errors, **{"algo.batch_size": algo.batch_size, "algo.micro_batch_size": algo.micro_batch_size, "algo.lr": algo.lr})
        if algo.micro_batch_size > 0 and algo.batch_size % algo.micro_batch_size:
            errors.append(f"algo.micro_batch_size={algo.micro_batch_size} must divide algo.batch_size={algo.batch_size}")
        if not 0.0 <= algo.warmup_ratio < 1.0:
            errors.append(f"algo.warmup_ratio={algo.warmup_ratio} must be in [0, 1)")
    if isinstance(obj.model, ModelConfig) and obj.model.lora.enabled:
        lora = obj.model.lora
        _positive(errors, **{"model.lora.r": lora.r, "model.lora.alpha": lora.alpha})
        if not 0.0 <= lora.dropout < 1.0:
            errors.append(f"model.lora.dropout={lora.dropout} must be in [0, 1)")
        if not lora.target_modules:
            errors.append("model.lora.target_modules=[] adapts nothing; name modules such as q_proj, v_proj")
    if isinstance(obj.data, DataConfig) and not 0.0 <= obj.data.val_fraction < 1.0:
        errors.append(f"data.val_fraction={obj.data.val_fraction} must be in [0, 1)")
    if isinstance(obj.rollout, HFRolloutConfig):
        _positive(
            errors,
            **{
                "rollout.max_new_tokens": obj.rollout.max_new_tokens,
                "rollout.max_prompt_length": obj.rollout.max_prompt_length,
                "rollout.batch_size": obj.rollout.batch_size,
            },
        )
        if not 0.0 < obj.rollout.top_p <= 1.0:
            errors.append(f"rollout.top_p={obj.rollout.top_p} must be in (0, 1]")
    if isinstance(obj.rollout, VllmRolloutConfig):
        _check_vllm(obj.rollout, errors)
    _positive(errors, **{"trainer.total_steps": obj.trainer.total_steps, "trainer.epochs": obj.trainer.epochs})
    _check_torl(obj, errors)
    _check_warm_start(obj.model, errors)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
    return obj


def _check_grpo_variants(obj: Any, errors: List[str]) -> None:
    """Rules of the advantage estimators, overlong handling and dynamic sampling."""
    algo = obj.algo
    if algo.overlong_buffer is not None and algo.overlong_buffer < 0:
        errors.append(f"algo.overlong_buffer={algo.overlong_buffer} must be >= 0")
    if algo.overlong_penalty_factor < 0:
        errors.append(f"algo.overlong_penalty_factor={algo.overlong_penalty_factor} must be >= 0")
    cap = getattr(obj.rollout, "max_new_tokens", None)
    if algo.overlong == "penalty" and None not in (cap, algo.overlong_buffer) and algo.overlong_buffer > cap:
        errors.append(f"algo.overlong_buffer={algo.overlong_buffer} must be <= rollout.max_new_tokens={cap}")
    if algo.max_resample_rounds < 0:
        errors.append(f"algo.max_resample_rounds={algo.max_resample_rounds} must be >= 0")
    if algo.dynamic_sampling == "resample" and algo.max_resample_rounds == 0:
        errors.append("algo.dynamic_sampling=resample needs algo.max_resample_rounds > 0 (else use dynamic_sampling=drop)")


def _check_policy_batches(algo: Any, errors: List[str]) -> None:
    """Rules GRPO and PPO share: positive sizes and LR, batch / mini-batch / micro-batch divisibility, clip ranges."""
    _positive(
        errors,
        **{
            "algo.group_size": algo.group_size,
            "algo.prompts_per_step": algo.prompts_per_step,
            "algo.mini_batch_size": algo.mini_batch_size,
            "algo.micro_batch_size": algo.micro_batch_size,
            "algo.epochs": algo.epochs,
            "algo.lr": algo.lr,
        },
    )
    batch = algo.group_size * algo.prompts_per_step
    if algo.mini_batch_size > 0 and batch % algo.mini_batch_size:
        errors.append(
            f"algo.mini_batch_size={algo.mini_batch_size} must divide the batch "
            f"algo.prompts_per_step*algo.group_size={batch}"
        )
    if algo.micro_batch_size > 0 and algo.mini_batch_size % algo.micro_batch_size:
        errors.append(f"algo.micro_batch_size={algo.micro_batch_size} must divide algo.mini_batch_size={algo.mini_batch_size}")
    if algo.clip_low < 0 or algo.clip_high < 0:
        errors.append("algo.clip_low and algo.clip_high must be >= 0")


def _check_ppo(algo: "PPOConfig", errors: List[str]) -> None:
    """Rules of PPO: batch divisibility as GRPO (any group size), GAE and critic ranges."""
    _check_policy_batches(algo, errors)
    _positive(errors, **{"algo.critic_lr": algo.critic_lr, "algo.cliprange_value": algo.cliprange_value})
    for key in ("gamma", "lam"):
        if not 0.0 <= getattr(algo, key) <= 1.0:
            errors.append(f"algo.{key}={getattr(algo, key)} must be in [0, 1]")
    if algo.kl_coef < 0 or algo.vf_coef < 0 or algo.critic_warmup_steps < 0:
        errors.append("algo.kl_coef, algo.vf_coef and algo.critic_warmup_steps must be >= 0")
    if algo.kl_ctrl == "adaptive":
        if algo.kl_coef <= 0:
            errors.append("algo.kl_ctrl=adaptive needs algo.kl_coef > 0 (its starting value; 0 loads no reference model)")
        _positive(errors, **{"algo.target_kl": algo.target_kl, "algo.kl_horizon": algo.kl_horizon})


def _check_vllm(r: VllmRolloutConfig, errors: List[str]) -> None:
    _positive(
        errors,
        **{
            "rollout.max_new_tokens": r.max_new_tokens,
            "rollout.max_prompt_length": r.max_prompt_length,
            "rollout.tensor_parallel_size": r.tensor_parallel_size,
            "rollout.kv_cache_memory_bytes": r.kv_cache_memory_bytes,
            "rollout.max_model_len": r.max_model_len,
        },
    )
    if r.batch_size < 0:
        errors.append(f"rollout.batch_size={r.batch_size} must be >= 0 (0 = the whole batch in one engine call)")
    if not 0.0 < r.top_p <= 1.0:
        errors.append(f"rollout.top_p={r.top_p} must be in (0, 1]")
    if not 0.0 < r.gpu_memory_utilization <= 1.0:
        errors.append(f"rollout.gpu_memory_utilization={r.gpu_memory_utilization} must be in (0, 1]")
    if r.is_cap < 0:
        errors.append(f"rollout.is_cap={r.is_cap} must be >= 0 (0 = no importance-sampling correction)")
    if r.max_model_len is not None and r.max_model_len < r.max_prompt_length + r.max_new_tokens:
        errors.append(
            f"rollout.max_model_len={r.max_model_len} must be >= rollout.max_prompt_length + rollout.max_new_tokens "
            f"({r.max_prompt_length + r.max_new_tokens})"
        )


def _check_warm_start(model: Any, errors: List[str]) -> None:
    """``model.warm_start`` trains the config-built tiny model: it needs ``model.path: null`` and a positive recipe."""
    warm = getattr(model, "warm_start", None)
    if not isinstance(warm, WarmStartConfig):
        return
    if model.path is not None:
        errors.append(f"model.warm_start applies to the config-built tiny model only (model.path={model.path}); "
                      "set model.warm_start=null")
    _positive(errors, **{"model.warm_start.steps": warm.steps, "model.warm_start.batch_size": warm.batch_size,
                         "model.warm_start.lr": warm.lr})
    if warm.schedule_steps is not None and warm.schedule_steps < warm.steps:
        errors.append(f"model.warm_start.schedule_steps={warm.schedule_steps} must be >= model.warm_start.steps={warm.steps} "
                      "(or null: the schedule spans the steps taken)")
    if not 0.0 <= warm.warmup_ratio < 1.0:
        errors.append(f"model.warm_start.warmup_ratio={warm.warmup_ratio} must be in [0, 1)")


def _check_torl(obj: Any, errors: List[str]) -> None:
    """Rules of the python tool, the outcome reward and math data."""
    tool = obj.tool
    if isinstance(tool, (PythonToolConfig, FunctionExecToolConfig)):
        if tool.max_calls < 0:
            errors.append(f"tool.max_calls={tool.max_calls} must be >= 0")
        _positive(errors, **{"tool.workers": tool.workers})
    if isinstance(tool, PythonToolConfig):
        limits = dataclasses.asdict(tool.limits)
        _positive(errors, **{f"tool.limits.{k}": v for k, v in limits.items()})
    reward = obj.reward
    if isinstance(reward, OutcomeRewardConfig):
        if reward.correct < reward.wrong:
            errors.append(f"reward.correct={reward.correct} must be >= reward.wrong={reward.wrong}")
        if reward.code_failure_penalty > 0:
            errors.append(f"reward.code_failure_penalty={reward.code_failure_penalty} must be <= 0")
    data = obj.data
    if isinstance(data, MathDataConfig) and data.datasets is not None and not data.datasets:
        errors.append("data.datasets=[] keeps nothing; use null for every data set")
