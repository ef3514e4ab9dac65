"""The training batches' augmentations: where the content goes, what they leave alone, their RNG."""
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.transforms import augment, random_hflip, random_shift
from gankit.errors import ConfigError


def _dot(n: int = 20, side: int = 8) -> torch.Tensor:
    image = -torch.ones(n, 1, side, side)
    image[:, 0, 4, 4] = 1.0
    return image


def test_random_shift_moves_content_within_bounds():
    torch.manual_seed(0)
    shifted = random_shift(_dot(), max_shift=2)
    positions = {tuple((s[0] == 1).nonzero()[0].tolist()) for s in shifted}
    assert len(positions) > 3 and all(2 <= r <= 6 and 2 <= c <= 6 for r, c in positions)
    assert ((shifted == 1).sum((1, 2, 3)) == 1).all()  # the dot is moved, never lost or copied
    assert set(shifted.unique().tolist()) == {-1.0, 1.0}  # padding is black


def test_augment_off_is_identity_and_on_follows_the_global_rng():
    images = torch.randn(16, 3, 8, 8)
    assert augment(images, hflip=False, shift=0) is images
    torch.manual_seed(3)
    first = augment(images, hflip=True, shift=2)
    torch.manual_seed(3)
    again = augment(images, hflip=True, shift=2)
    assert torch.equal(first, again) and not torch.equal(first, images)
    torch.manual_seed(3)
    flipped = augment(images, hflip=True, shift=0)
    torch.manual_seed(3)
    assert torch.equal(flipped, random_hflip(images))  # hflip alone draws what it drew before data.shift existed


@pytest.mark.parametrize("augmentation", [{"hflip": True}, {"shift": 1}])
def test_augmentations_refuse_data_that_are_not_images(augmentation):
    """Any dataset whose items are points (DataInfo.kind), not only toy2d by name: a flip of (N, 2) points
    broadcast to (N, 1, N, 2)."""
    with pytest.raises(ConfigError, match="data.hflip and data.shift move image pixels; data 'toy2d' gives points"):
        load_dataset(DataConfig(name="toy2d", num_train=64, num_test=64, **augmentation))
    assert load_dataset(DataConfig(name="digits", size=8, **augmentation)).info.kind == "image"
