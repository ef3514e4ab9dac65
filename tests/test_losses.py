import math

import pytest
import torch
from torch.testing import assert_close

from gankit.losses import LOSSES

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-0.5, 1.5, 0.0])
sig = lambda v: 1 / (1 + math.exp(-v))


def mean(values):
    return sum(values) / len(values)


def test_hand_computed_values():
    r, f = REAL.tolist(), FAKE.tolist()
    expected = {
        "non_saturating": (mean([-math.log(sig(v)) for v in r]) + mean([-math.log(1 - sig(v)) for v in f]),
                           mean([-math.log(sig(v)) for v in f])),
        "wasserstein": (-mean(r) + mean(f), -mean(f)),
        "hinge": (mean([max(0, 1 - v) for v in r]) + mean([max(0, 1 + v) for v in f]), -mean(f)),
        "least_squares": (0.5 * (mean([(sig(v) - 1) ** 2 for v in r]) + mean([sig(v) ** 2 for v in f])),
                          0.5 * mean([(sig(v) - 1) ** 2 for v in f])),
        "minimax": (mean([-math.log(sig(v)) for v in r]) + mean([-math.log(1 - sig(v)) for v in f]),
                    mean([math.log(1 - sig(v)) for v in f])),
        # RaGAN: compare each logit with the other side's mean logit
        "relativistic_average": (mean([-math.log(sig(v - mean(f))) for v in r]) + mean([-math.log(1 - sig(v - mean(r))) for v in f]),
                                 mean([-math.log(sig(v - mean(r))) for v in f]) + mean([-math.log(1 - sig(v - mean(f))) for v in r])),
    }
    assert set(expected) == set(LOSSES.names())
    for name, (d_value, g_value) in expected.items():
        pair = LOSSES.get(name)
        assert_close(pair.d_loss(REAL, FAKE), torch.tensor(d_value), msg=name)
        g = pair.g_loss(FAKE, REAL) if pair.g_needs_real else pair.g_loss(FAKE)
        assert_close(g, torch.tensor(g_value), msg=name)


@pytest.mark.parametrize("name", LOSSES.names())
def test_generator_gains_when_fakes_look_real(name):
    pair = LOSSES.get(name)
    low, high = torch.full((4,), -2.0), torch.full((4,), 2.0)
    if pair.g_needs_real:
        assert pair.g_loss(high, low) < pair.g_loss(low, high)
    else:
        assert pair.g_loss(high) < pair.g_loss(low)
    assert pair.d_loss(high, low) < pair.d_loss(low, high)
