"""The opt-in compiled training iteration (`train.compile: true`).

Eager PyTorch pays a fixed cost per operator and per autograd call, which dominates for small networks
(AdaGAN's toy nets: ~0.1 ms of arithmetic in ~1.7 ms per iteration). Here one whole iteration — every step's
loss, its gradient and its Adam update, n_critic D steps included — is written as a function of tensors:
gradients come from `torch.func.grad` over the stepped module's parameters (the others are constants),
Adam is torch's update rule applied in place to the parameters and to the optimizer's own state tensors,
and `torch.compile(dynamic=False)` traces it into one graph. The family's step functions are reused as
they are (`torch.func.functional_call` swaps the tensors in), so any family that follows the loop's contract
runs compiled.

Random draws use eager PyTorch's generator (inductor's `fallback_random`), so a compiled run consumes the same
random numbers as an eager one: the two agree up to floating-point rounding, and resume stays exact. The
optimizers keep torch's Adam state layout, so checkpoints are interchangeable between the two modes.

A compiled iteration is cached per structure (family, model, loss, batch, betas, data shape, device): the
components of an AdaGAN mixture, which share their configuration, compile once per process.
"""
from __future__ import annotations

import json

import torch
from torch import Tensor, nn
from torch.func import functional_call

from gankit.families.base import Batch, TrainStep

_CACHE: dict[str, CompiledIteration] = {}
_IRRELEVANT = {"train": ("seed", "steps", "epochs", "log_every", "sample_every", "checkpoint_every",
                         "keep_checkpoints", "grid_size", "ema_decay", "threads"),
               "optim": ("lr_g", "lr_d")}


def structure_key(cfg, info, device) -> str:
    """What the traced graph depends on: the config less what only the loop around it reads."""
    tree = cfg.to_dict()
    for drop in ("name", "description", "eval", "boost"):
        tree.pop(drop, None)
    for section, keys in _IRRELEVANT.items():
        for key in keys:
            tree.get(section, {}).pop(key, None)
    return json.dumps([tree, info.to_dict(), str(device)], sort_keys=True, default=str)


class _Runner(nn.Module):
    """Holds the family's modules under one root so `functional_call` can swap all their tensors at once."""

    def __init__(self, modules: dict[str, nn.Module]):
        super().__init__()
        self.m = nn.ModuleDict(modules)

    def forward(self, loss_fn, batch: Batch):
        return loss_fn(batch)


def adam_state(opt: torch.optim.Adam) -> list[tuple[Tensor, Tensor, Tensor]]:
    """(exp_avg, exp_avg_sq, step) per parameter, created as torch's Adam would on its first step."""
    out = []
    for group in opt.param_groups:
        for p in group["params"]:
            if not p.requires_grad:  # frozen (e.g. ssl.fixed_hidden_scales): eager Adam skips it too
                continue
            state = opt.state[p]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            out.append((state["exp_avg"], state["exp_avg_sq"], state["step"]))
    return out


class CompiledIteration:
    def __init__(self, family, train_steps: list[TrainStep], betas: tuple[float, float], eps: float):
        self.runner = _Runner(family.modules)
        self._buffer_keys = [k for k, _ in self.runner.named_buffers()]
        self.steps = train_steps
        self.module_names = [next(n for n, m in family.modules.items() if m is s.module) for s in train_steps]
        self.betas, self.eps = betas, eps
        self.compiled = torch.compile(self._iteration, dynamic=False, options={"fallback_random": True})
        self._tensors: tuple[dict[str, nn.Module] | None, dict[str, Tensor]] = (None, {})
        self._lrs: dict[float, Tensor] = {}

    @classmethod
    def get(cls, family, train_steps, cfg, info, device) -> CompiledIteration:
        key = structure_key(cfg, info, device)
        if key not in _CACHE:
            _CACHE[key] = cls(family, train_steps, (cfg.optim.beta1, cfg.optim.beta2), cfg.optim.eps)
        return _CACHE[key]

    def __call__(self, modules: dict[str, nn.Module], optimizers: list[torch.optim.Adam],
                 batches: list[Batch]) -> list[dict[str, Tensor]]:
        """One iteration on `modules` (a family with this structure), `batches` = the data-using steps' batches."""
        if self._tensors[0] is not modules:  # parameters are updated in place: collect them once per family
            self._tensors = (modules, {f"m.{name}.{key}": t.detach() for name, m in modules.items()
                                       for key, t in [*m.named_parameters(), *m.named_buffers()]})
        states = [adam_state(opt) for opt in optimizers]  # loading a checkpoint replaces these: collect each time
        lrs = [self._lr(opt.param_groups[0]["lr"]) for opt in optimizers]
        return self.compiled(self._tensors[1], states, lrs, batches)

    def _lr(self, value: float) -> Tensor:
        """The learning rate as a graph input (a schedule does not recompile)."""
        if value not in self._lrs:
            if len(self._lrs) > 64:  # a decaying schedule: keep the cache small
                self._lrs.clear()
            self._lrs[value] = torch.tensor(value, dtype=torch.float64)
        return self._lrs[value]

    def _iteration(self, tensors: dict[str, Tensor], states, lrs, batches: list[Batch]) -> list[dict[str, Tensor]]:
        logs, data = [], iter(batches)
        for spec, name, state, lr in zip(self.steps, self.module_names, states, lrs):
            prefix = f"m.{name}."
            trainable = {k: t for k, t in tensors.items()
                         if k.startswith(prefix) and k.removeprefix(prefix) in self._param_names(spec.module)}
            for _ in range(spec.repeat):
                batch = next(data) if spec.uses_data else {}

                def loss_of(params, buffers, batch=batch, spec=spec):
                    loss, step_logs = functional_call(self.runner, {**tensors, **buffers, **params}, (spec.loss, batch))
                    return loss, step_logs

                # buffers (batch-norm statistics) are updated in place, so they enter as inputs, not as constants
                buffers = {k: tensors[k] for k in self._buffer_keys}
                grads, step_logs = torch.func.grad(loss_of, has_aux=True)(trainable, buffers)
                self._adam(list(trainable.values()), [grads[k] for k in trainable], state, lr)
                logs.append(step_logs)
        return logs

    @staticmethod
    def _param_names(module: nn.Module) -> set[str]:
        return {k for k, p in module.named_parameters() if p.requires_grad}

    def _adam(self, params: list[Tensor], grads: list[Tensor], state, lr: Tensor) -> None:
        """torch.optim.Adam's update (no weight decay, no amsgrad), in place."""
        beta1, beta2 = self.betas
        for p, g, (m, v, step) in zip(params, grads, state, strict=True):
            step.add_(1)
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            bias1 = 1 - torch.pow(beta1, step)
            bias2_sqrt = torch.sqrt(1 - torch.pow(beta2, step))
            p.sub_(lr * m / (bias1 * ((v.sqrt() / bias2_sqrt) + self.eps)))
