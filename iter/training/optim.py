"""AdamW with separate groups for the encoder and the heads, each with its own warm-up."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from iter.modeling.model import ITERForRelationExtraction


def _no_decay(name: str, parameter: torch.nn.Parameter) -> bool:
    # Biases and normalisation gains are not weights to shrink.
    return parameter.ndim < 2 or "norm" in name.lower()


def build_optimizer(
    model: ITERForRelationExtraction,
    encoder_lr: float,
    head_lr: float,
    encoder_weight_decay: float,
    head_weight_decay: float,
) -> torch.optim.AdamW:
    """Four groups: encoder / heads, each with and without weight decay (in that order),
    named ``encoder``, ``encoder_no_decay``, ``heads`` and ``heads_no_decay``."""
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {
        ("encoder", True): [],
        ("encoder", False): [],
        ("heads", True): [],
        ("heads", False): [],
    }
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        part = "encoder" if name.startswith("encoder.") else "heads"
        groups[(part, not _no_decay(name, parameter))].append(parameter)
    settings = {
        "encoder": (encoder_lr, encoder_weight_decay),
        "heads": (head_lr, head_weight_decay),
    }
    param_groups = [
        {
            "params": params,
            "lr": settings[part][0],
            "weight_decay": settings[part][1] if decay else 0.0,
            "name": f"{part}{'' if decay else '_no_decay'}",
            "part": part,
        }
        for (part, decay), params in groups.items()
    ]
    return torch.optim.AdamW(param_groups)


def linear_warmup_decay(warmup_steps: int, total_steps: int):
    """Linear warm-up to the group's rate, then linear decay to zero at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def constant_after_warmup(warmup_steps: int, total_steps: int):
    """Linear warm-up to the group's rate, then constant (the authors' ADE encoder)."""

    def factor(step: int) -> float:
        return (step + 1) / max(1, warmup_steps) if step < warmup_steps else 1.0

    return factor


SCHEDULES = {"linear": linear_warmup_decay, "constant": constant_after_warmup}


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    encoder_warmup: float,
    head_warmup: float,
    encoder_schedule: str = "linear",
    head_schedule: str = "linear",
) -> LambdaLR:
    """One schedule per part (encoder, heads): ``linear`` or ``constant`` after warm-up."""
    warmups = {"encoder": encoder_warmup, "heads": head_warmup}
    schedules = {"encoder": encoder_schedule, "heads": head_schedule}
    lambdas = [
        SCHEDULES[schedules[group["part"]]](int(warmups[group["part"]] * total_steps), total_steps)
        for group in optimizer.param_groups
    ]
    return LambdaLR(optimizer, lambdas)


def current_lr(scheduler: LRScheduler, name: str) -> float:
    """The learning rate ``scheduler`` last set for the parameter group called ``name``."""
    groups = scheduler.optimizer.param_groups
    (index,) = [i for i, group in enumerate(groups) if group.get("name") == name]
    return scheduler.get_last_lr()[index]
