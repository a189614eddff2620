"""Data-parallel training across processes started by ``torchrun`` (DistributedDataParallel).

    torchrun --standalone --nproc_per_node=4 train.py dataset=conll04 seed=1

Every rank trains on its share of each epoch's batches and decodes its share of the dev and
test documents; the predictions are gathered, so every rank computes the same metrics over
all documents and takes the same decisions (best epoch, early stop). Rank 0 alone saves
checkpoints and state, and logs, so the run folder and metrics are exactly those of a
one-process run. Backend: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from iter.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (any picklable object)."""
        if not self.enabled:
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean of each value over the ranks."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return dict(zip(keys, (tensor / self.world_size).tolist(), strict=True))

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on at least one rank (every rank gets the same answer)."""
        if not self.enabled:
            return flag
        tensor = torch.tensor([1 if flag else 0], dtype=torch.int32)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def gather(self, value: T) -> list[T]:
        """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
        if not self.enabled:
            return [value]
        gathered: list = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def owns(self, index: int) -> bool:
        """Whether this rank handles item ``index`` of a list split across ranks."""
        return index % self.world_size == self.rank

    def shard(self, batches: Sequence[T]) -> list[T]:
        """This rank's share of an epoch's batches, the same count on every rank.

        The list is topped up from its start so that it divides evenly: a rank with one batch
        fewer would leave the others waiting in the gradient all-reduce.
        """
        if not self.enabled:
            return list(batches)
        if not batches:
            return []
        total = -(-len(batches) // self.world_size) * self.world_size
        padded = [batches[i % len(batches)] for i in range(total)]
        return padded[self.rank :: self.world_size]


def init_distributed(device_setting: str) -> DistributedContext:
    """Join the process group when started by torchrun; a plain context otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    # trainer.device=cuda without CUDA is reported by resolve_device, like in one process.
    use_cuda = device_setting != "cpu" and torch.cuda.is_available()
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"rank {rank}: LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs"
            )
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistributedContext(rank, world_size, local_rank)


def device_for(distributed: DistributedContext, device: torch.device) -> torch.device:
    """One GPU per process: rank-local CUDA devices; CPU stays CPU."""
    if distributed.enabled and device.type == "cuda":
        return torch.device("cuda", distributed.local_rank)
    return device


def shutdown(distributed: DistributedContext) -> None:
    if distributed.enabled and dist.is_initialized():
        dist.destroy_process_group()
