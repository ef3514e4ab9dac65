import pytest
import torch

from gankit.data.sampler import InfiniteSampler
from gankit.errors import DataError


def test_epochs_are_permutations_and_drop_the_ragged_tail():
    sampler = InfiniteSampler(10, 3, seed=1)
    first = torch.cat([sampler.next() for _ in range(3)])
    assert len(set(first.tolist())) == 9 and sampler.batches_per_epoch == 3
    sampler.next()
    assert sampler.epoch == 1


def test_state_round_trip_continues_identically():
    a = InfiniteSampler(50, 8, seed=3)
    for _ in range(9):
        a.next()
    b = InfiniteSampler(50, 8, seed=99)
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(a.next(), b.next()) for _ in range(20))


def test_weighted_sampling_follows_the_weights():
    weights = torch.zeros(100)
    weights[:10] = 3.0
    weights[10:20] = 1.0
    sampler = InfiniteSampler(100, 50, seed=0, weights=weights)
    drawn = torch.cat([sampler.next() for _ in range(200)])
    assert drawn.max() < 20  # zero-weight items never drawn
    share = (drawn < 10).double().mean().item()
    assert share == pytest.approx(0.75, abs=0.02)
    again = InfiniteSampler(100, 50, seed=0, weights=weights)
    assert torch.equal(torch.cat([again.next() for _ in range(200)]), drawn)


def test_bad_inputs():
    with pytest.raises(DataError, match="fewer than train.batch_size"):
        InfiniteSampler(3, 4)
    with pytest.raises(DataError, match="non-negative"):
        InfiniteSampler(4, 2, weights=torch.tensor([1.0, -1.0, 1.0, 1.0]))
