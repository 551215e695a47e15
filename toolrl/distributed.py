"""Data parallelism over ``torchrun`` ranks: process group, prompt shards, gradient and metric reductions.

``torchrun --nproc_per_node=N train.py ...`` starts N copies of the trainer. Each rank:

- joins the process group from torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR``/``MASTER_PORT``); NCCL on CUDA (one GPU per rank, ``cuda:LOCAL_RANK``), gloo on CPU;
- starts from rank 0's weights (:func:`broadcast_params`) and samples with its own seed (``seed + rank``);
- draws the same global prompt list per step and keeps its contiguous slice of whole prompts
  (:func:`shard`), so each rank generates whole groups and group statistics never span ranks;
- sums its gradients with every other rank's before clipping (:func:`all_reduce_grads`), the loss
  denominators being global (:func:`sum_across`): one step on N ranks equals one step of one process
  on the whole batch, up to float summation order;
- reduces its step metrics (:func:`reduce_metrics`); only rank 0 logs, validates and writes checkpoints.

Without torchrun (``WORLD_SIZE`` unset or 1) every function here is a no-op on one process, so the
single-process code path is unchanged. Simplifications: explicit gradient all-reduce rather than the
DDP wrapper (exactness is easy to see and to test); every rank holds the whole model (no FSDP); metric
reductions are per key by name (mean, ``*/min`` min, ``*/max`` and ``timing/*`` max, ``perf/*`` sum), so
a std over ranks is the mean of the ranks' stds, not the std of the union.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar

import torch

log = logging.getLogger("toolrl")

T = TypeVar("T")
_BUCKET_ELEMENTS = 1 << 24  # gradients are summed in flat buckets of at most this many elements (64 MB in fp32)


def _dist():
    import torch.distributed as dist

    return dist


def launched() -> bool:
    """True when this process was started by torchrun (or another launcher) with more than one rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True once the process group is initialised with more than one rank."""
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return _dist().get_rank() if active() else 0


def world_size() -> int:
    return _dist().get_world_size() if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """The rank that logs, validates and writes checkpoints (rank 0; the only rank of a single process)."""
    return rank() == 0


def backend_for(device: str) -> str:
    """``nccl`` when ranks train on CUDA (``trainer.device`` cuda, or auto with a GPU), else ``gloo``."""
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    return "nccl" if cuda else "gloo"


def init(device: str = "auto") -> Tuple[int, int]:
    """Join the process group when launched by torchrun; returns ``(rank, world_size)``. Idempotent.

    On NCCL the rank's GPU (``LOCAL_RANK``) becomes the current CUDA device, so ``cuda`` means it.
    Ranks other than 0 log warnings and errors only.
    """
    if not launched() or active():
        return rank(), world_size()
    dist = _dist()
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend)
    if not is_main():
        logging.getLogger("toolrl").setLevel(logging.WARNING)
    log.info("data parallel: %d ranks (%s backend)", world_size(), backend)
    return rank(), world_size()


def teardown(wait: bool = True) -> None:
    """Leave the process group; ``wait``: after a barrier, so no rank exits while another still communicates."""
    if active():
        if wait:
            barrier()
        _dist().destroy_process_group()


def barrier() -> None:
    if active():
        _dist().barrier()


def _device() -> torch.device:
    """Where collective buffers live: the current GPU on NCCL, the CPU on gloo."""
    if active() and _dist().get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# ----------------------------------------------------------------------------- data


def check_config(count: int, key: str, algo: object, world: Optional[int] = None) -> None:
    """Before training: the step's examples (config value ``key``) split evenly over the ranks, and the
    algorithm object supports data parallelism with its options (refused rather than silently inexact)."""
    n = world_size() if world is None else world
    check_divisible(count, key, n)
    if n == 1:
        return
    from toolrl.config import ConfigError

    if not vars(type(algo)).get("data_parallel", False):  # declared by the class itself, not inherited
        raise ConfigError(
            f"algo={getattr(algo, 'name', type(algo).__name__)} does not support {n} data-parallel ranks yet "
            "(its update does not sum gradients over ranks); train it with one process"
        )
    for option, ok in (("dynamic_sampling", "none"), ("adv_estimator", "grpo|rloo")):
        value = getattr(algo, option, None)
        if value is not None and value not in ok.split("|"):
            raise ConfigError(
                f"algo.{option}={value} is not supported with {n} data-parallel ranks "
                f"(it needs statistics of the whole batch or rounds decided together); use {ok} or one process"
            )


def check_divisible(count: int, key: str, world: Optional[int] = None) -> None:
    """Raise unless ``count`` (the config value ``key``) splits evenly over ``world`` ranks (default: the ranks)."""
    from toolrl.config import ConfigError

    n = world_size() if world is None else world
    if count % n:
        raise ConfigError(
            f"{key}={count} does not split over {n} data-parallel ranks (torchrun --nproc_per_node * nodes = {n}): "
            f"set {key} to a multiple of {n}"
        )


def shard(items: Sequence[T], key: str = "algo.prompts_per_step", *, rank_: Optional[int] = None,
          world: Optional[int] = None) -> List[T]:
    """Rank ``rank_``'s contiguous slice of ``items`` (the step's global prompt list, equal on every rank);
    by default this process's rank and world size.

    Slicing whole prompts means every group of completions is generated, scored and normalised on
    one rank. An uneven split raises, naming ``key`` and the world size.
    """
    world = world_size() if world is None else world
    check_divisible(len(items), key, world)
    per = len(items) // world
    start = (rank() if rank_ is None else rank_) * per
    return list(items[start : start + per])


def row_offsets(local_rows: int) -> Tuple[int, int]:
    """``(first global row of this rank, global rows)`` of a batch whose rows are split over the ranks in rank order."""
    if not active():
        return 0, local_rows
    sizes = torch.zeros(world_size(), dtype=torch.long, device=_device())
    sizes[rank()] = local_rows
    _dist().all_reduce(sizes)
    sizes = sizes.tolist()
    return sum(sizes[: rank()]), sum(sizes)


def local_rows(global_rows: Iterable[int], offset: int, local: int) -> List[int]:
    """The rows of a global mini-batch that this rank holds, as indices into its local batch."""
    return [i - offset for i in global_rows if offset <= i < offset + local]


# ----------------------------------------------------------------------------- tensors


def broadcast_params(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (the same initial policy everywhere)."""
    if not active():
        return
    dist = _dist()
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def broadcast_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``tensor`` on every rank (same shape and dtype everywhere)."""
    if not active():
        return tensor
    buf = tensor.to(_device()).contiguous()
    _dist().broadcast(buf, src=0)
    return buf.to(tensor.device)


def sum_across(value: float) -> float:
    """``value`` summed over the ranks (a global token or sequence count)."""
    if not active():
        return value
    buf = torch.tensor([value], dtype=torch.float64, device=_device())
    _dist().all_reduce(buf)
    return float(buf.item())


def sum_dict(values: Mapping[str, float]) -> Dict[str, float]:
    """Every value summed over the ranks; every rank must hold the same keys."""
    if not active() or not values:
        return dict(values)
    keys = sorted(values)
    buf = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=_device())
    _dist().all_reduce(buf)
    return dict(zip(keys, buf.tolist()))


def all_reduce_grads(params: Iterable[torch.nn.Parameter]) -> None:
    """Sum each trainable parameter's gradient over the ranks, in place.

    A rank that holds no rows of a mini-batch (or whose rows did not reach a parameter) contributes
    zeros; a parameter no rank has a gradient for keeps ``grad=None`` (as on one process).
    """
    if not active():
        return
    dist = _dist()
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.int32, device=_device())
    dist.all_reduce(has, op=dist.ReduceOp.MAX)
    groups: Dict[Tuple[torch.dtype, torch.device], List[torch.Tensor]] = defaultdict(list)
    for p, flag in zip(params, has.tolist()):
        if flag:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            groups[(p.grad.dtype, p.grad.device)].append(p.grad)
    for grads in groups.values():
        for bucket in _buckets(grads):
            flat = torch.cat([g.reshape(-1) for g in bucket])
            dist.all_reduce(flat)
            start = 0
            for g in bucket:
                g.copy_(flat[start : start + g.numel()].view_as(g))
                start += g.numel()


def _buckets(tensors: List[torch.Tensor]) -> Iterable[List[torch.Tensor]]:
    bucket: List[torch.Tensor] = []
    size = 0
    for t in tensors:
        if bucket and size + t.numel() > _BUCKET_ELEMENTS:
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += t.numel()
    if bucket:
        yield bucket


# ----------------------------------------------------------------------------- metrics


def combine(key: str, values: Sequence[float]) -> float:
    """How one metric of several ranks becomes one number: ``*/min`` min; ``*/max`` and ``timing/*`` max
    (the slowest rank sets the pace); ``perf/*`` sum (throughput of all ranks); anything else the mean."""
    if key.endswith("/min"):
        return min(values)
    if key.endswith("/max") or key.startswith("timing/"):
        return max(values)
    if key.startswith("perf/"):
        return sum(values)
    return sum(values) / len(values)


def reduce_metrics(metrics: Mapping[str, float]) -> Dict[str, float]:
    """Step metrics of every rank combined per key (see :func:`combine`); call on every rank.

    A key only some ranks report is combined over those ranks.
    """
    if not active():
        return dict(metrics)
    gathered: List[Dict[str, float]] = [{} for _ in range(world_size())]
    _dist().all_gather_object(gathered, {k: float(v) for k, v in metrics.items()})
    keys = sorted({k for m in gathered for k in m})
    return {k: combine(k, [m[k] for m in gathered if k in m]) for k in keys}
