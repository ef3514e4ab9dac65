"""The unconditional GAN family's G step: which batch D's loss for G is computed on."""
import pytest
import torch

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.families.gan import GAN


def _family(d_norm: str, loss: str = "non_saturating"):
    over = [f"model.d_norm={d_norm}", f"loss.name={loss}", "model.arch=sndcgan", "model.z_dim=4", "model.g_dim=8",
            "model.d_dim=8", "train.batch_size=8", "train.device=cpu", "data.size=8"]
    cfg = load_config("wgan_gp_digits", over)
    data = load_dataset(cfg.data, "train")
    torch.manual_seed(0)
    family = GAN(cfg, data.info, torch.device("cpu"))
    family.attach_data(data)
    return family, data.get(torch.arange(8))


def _g_loss_by_hand(family, real, joint: bool):
    """G's loss, recomputed from the same latent draw, on D(real + fake) or on D(fake) alone."""
    torch.manual_seed(1)
    fake = family.G(family.latent(8))
    logits = family.D(torch.cat([real["x"], fake]))[8:] if joint else family.D(fake)
    return family.losses.g_loss(logits)


def test_with_batch_norm_in_d_the_g_step_scores_fakes_beside_a_real_batch():
    family, real = _family("batch")
    g = family.steps()[1]
    assert g.name == "G" and g.uses_data
    torch.manual_seed(1)
    loss, _ = g.loss(real)
    joint, alone = _g_loss_by_hand(family, real, True), _g_loss_by_hand(family, real, False)
    assert torch.allclose(loss, joint)
    assert not torch.allclose(loss, alone, atol=1e-4)  # batch statistics of fakes alone give another loss


@pytest.mark.parametrize("d_norm", ["none", "spectral", "layer"])
def test_without_batch_norm_the_g_step_needs_no_real_batch(d_norm):
    family, real = _family(d_norm)
    g = family.steps()[1]
    assert not g.uses_data
    torch.manual_seed(1)
    loss, _ = g.loss({})
    assert torch.allclose(loss, _g_loss_by_hand(family, real, False))
