"""An exponential moving average of the weights (``trainer.ema_decay``).

Dev scoring, selection and the saved checkpoint use the averaged weights; the optimiser keeps
stepping the raw ones. On a small corpus (CoNLL04 has 922 training sentences) the dev score
jumps by a point or two from one epoch to the next, so selecting on it picks lucky epochs;
averaging the last few hundred steps' weights smooths those jumps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class WeightAverage:
    """Keeps ``shadow = decay * shadow + (1 - decay) * weight`` after every optimiser step.

    The decay is warmed up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the
    first steps' random-head weights do not linger in the average.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self._names = [name for name, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        self.shadow = [params[name].detach().clone() for name in self._names]

    def _parameters(self, model: torch.nn.Module) -> list[torch.Tensor]:
        params = dict(model.named_parameters())
        return [params[name] for name in self._names]

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        weight = 1.0 - self.current_decay()
        params = [p.detach() for p in self._parameters(model)]
        torch._foreach_lerp_(self.shadow, params, weight)
        self.updates += 1

    @contextmanager
    @torch.no_grad()
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """The model carries the averaged weights inside the block, its own ones after."""
        params = self._parameters(model)
        backup = [p.detach().clone() for p in params]
        for p, s in zip(params, self.shadow, strict=True):
            p.copy_(s)
        try:
            yield
        finally:
            for p, b in zip(params, backup, strict=True):
                p.copy_(b)

    def state_dict(self) -> dict:
        return {
            "decay": self.decay,
            "updates": self.updates,
            "shadow": dict(zip(self._names, self.shadow, strict=True)),
        }

    def load_state_dict(self, state: dict) -> None:
        missing = set(self._names) - set(state["shadow"])
        if missing:
            raise KeyError(f"weight average state lacks {sorted(missing)[:3]}")
        self.updates = int(state["updates"])
        for i, name in enumerate(self._names):
            self.shadow[i].copy_(state["shadow"][name])
