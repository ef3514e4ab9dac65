"""Generator/discriminator pairs by name (`model.arch`). G(z, c=None) -> samples; D(x, c=None) -> logits (N,)
(a family's own architectures register here from its package: improved_gan's ssl_mlp/ssl_conv give class logits
(N, K), stargan's D gives patch scores and attribute logits).

`build_network` is the one way a network is made from a config: the architecture's constructor, then the
initialization (`model.init_std`), the batch-norm settings (`model.bn_decay`, `model.bn_eps`) and a weight
normalization if `model.g_norm`/`model.d_norm` names one, so every architecture takes every option."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gankit.data.base import DataInfo
from gankit.errors import ConfigError
from gankit.models import dcgan, resnet_cifar, sndcgan, toy
from gankit.models.latent import sample_latent
from gankit.nn.layers import VirtualBatchGenerator
from gankit.nn.norms import apply_weight_norm, set_batch_norm
from gankit.registry import Registry


@dataclass(frozen=True)
class Architecture:
    generator: Callable[..., nn.Module]  # (ModelConfig, DataInfo) -> G
    discriminator: Callable[..., nn.Module]  # (ModelConfig, DataInfo) -> D
    data_kind: str  # 'image' or 'points'
    fits: str = "gan"  # the family whose D this is: gan (one logit), improved_gan (K class logits), stargan
    min_size: int = 1  # the smallest image side it builds for (a smaller one: a one-line ConfigError, nothing built)


ARCHITECTURES: Registry[Architecture] = Registry("architecture")
ARCHITECTURES.register("dcgan")(Architecture(dcgan.dcgan_generator, dcgan.dcgan_critic, "image"))
ARCHITECTURES.register("toy_mlp")(Architecture(toy.toy_generator, toy.toy_discriminator, "points"))
ARCHITECTURES.register("resnet_cifar")(Architecture(resnet_cifar.resnet_generator, resnet_cifar.resnet_discriminator, "image"))
ARCHITECTURES.register("sndcgan")(Architecture(sndcgan.sndcgan_generator, sndcgan.sndcgan_discriminator, "image"))
# a family's own networks are registered by its package (gankit.families.improved_gan, gankit.families.stargan)


def get_architecture(name: str, info: DataInfo) -> Architecture:
    arch = ARCHITECTURES.get(name)
    if arch.data_kind != info.kind:
        raise ConfigError(f"model.arch '{name}' is for {arch.data_kind} data, but the dataset gives {info.kind}")
    if info.kind == "image" and min(info.shape[1:]) < arch.min_size:
        raise ConfigError(f"model.arch '{name}' needs images of at least {arch.min_size} px, got "
                          f"{'x'.join(map(str, info.shape[1:]))} (data.size)")
    return arch


def init_normal(module: nn.Module, std: float | None) -> nn.Module:
    """Conv and linear weights ~ N(0, std^2), biases 0 (compare_gan: 0.02; AdaGAN's toy nets: 0.8);
    None keeps PyTorch's initialization."""
    if std is not None:
        for layer in module.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(layer.weight, 0.0, std)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
    return module


def build_network(model_cfg, info: DataInfo, role: str) -> nn.Module:
    """The generator (`role` 'generator') or discriminator of `model_cfg.arch` with every model option applied."""
    arch = get_architecture(model_cfg.arch, info)
    if role == "generator":
        net, norm = arch.generator(model_cfg, info), model_cfg.g_norm
    else:
        if model_cfg.d_norm == "virtual_batch":
            raise ValueError("virtual_batch is a generator normalization (model.g_norm); D has no reference batch")
        net, norm = arch.discriminator(model_cfg, info), model_cfg.d_norm
    init_normal(net, model_cfg.init_std)
    set_batch_norm(net, model_cfg.bn_decay, model_cfg.bn_eps)
    net = apply_weight_norm(net, norm)
    if role == "generator" and norm == "virtual_batch":  # fixed reference latents, the same for every seed
        if arch.fits == "stargan":
            raise ValueError("virtual_batch needs a generator fed by latents; a StarGAN generator translates images")
        reference = sample_latent(model_cfg.vbn_reference_size, model_cfg.z_dim, model_cfg.z_dist, "cpu",
                                  torch.Generator().manual_seed(20160610))
        net = VirtualBatchGenerator(net, reference)
    return net
