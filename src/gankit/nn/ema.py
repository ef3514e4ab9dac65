"""Exponential moving average of a module's weights (buffers such as BN statistics are copied).

The decay warms up as in TensorFlow's ExponentialMovingAverage with num_updates:
decay_t = min(decay, (1 + t) / (10 + t)), so early averages are not dominated by the initial weights.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        decay = self.current_decay()
        ema_params = list(self.module.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in source.parameters()], 1.0 - decay)
        for ema_buf, buf in zip(self.module.buffers(), source.buffers()):
            ema_buf.copy_(buf)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = state["updates"]
