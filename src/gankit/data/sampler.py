"""Index sampler with a resumable position: epochs of seeded permutations (or, with data weights, of
indices drawn with replacement in proportion to the weights, as AdaGAN's reweighted data), whole
batches only."""
from __future__ import annotations

import torch

from gankit.errors import DataError


class InfiniteSampler:
    """Yields index batches (int64, CPU) forever; `state_dict()` captures the exact position."""

    def __init__(self, num_items: int, batch_size: int, seed: int = 0, shuffle: bool = True,
                 weights: torch.Tensor | None = None):
        if num_items < batch_size:
            raise DataError(f"the dataset has {num_items} items, fewer than train.batch_size {batch_size}")
        if weights is not None and (len(weights) != num_items or not torch.all(weights >= 0) or weights.sum() <= 0):
            raise DataError(f"data weights must be {num_items} non-negative numbers with a positive sum")
        self.num_items, self.batch_size, self.shuffle = num_items, batch_size, shuffle
        self.weights = None if weights is None else weights.double().cpu()
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch, self.position = 0, 0
        self.order = self._new_order()

    @property
    def batches_per_epoch(self) -> int:
        return self.num_items // self.batch_size

    def _new_order(self) -> torch.Tensor:
        if self.weights is not None:  # one epoch's draws at once: a single multinomial call per epoch
            return torch.multinomial(self.weights, self.num_items, replacement=True, generator=self.generator)
        if self.shuffle:
            return torch.randperm(self.num_items, generator=self.generator)
        return torch.arange(self.num_items)

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.num_items:  # drop the ragged tail of an epoch
            self.epoch += 1
            self.position = 0
            self.order = self._new_order()
        batch = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "order": self.order.clone(),
                "generator": self.generator.get_state(), "num_items": self.num_items}

    def load_state_dict(self, state: dict) -> None:
        if state["num_items"] != self.num_items:
            raise DataError(f"the checkpoint's sampler covers {state['num_items']} items, the dataset has {self.num_items}")
        self.epoch, self.position = state["epoch"], state["position"]
        self.order = state["order"].clone()
        self.generator.set_state(state["generator"])
