import torch
from torch import nn
from torch.testing import assert_close

from gankit.nn.ema import EMA


def test_ema_follows_the_warmed_up_decay():
    source = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        source.weight.fill_(0.0)
    ema = EMA(source, decay=0.9)
    expected = 0.0
    for t in range(30):
        with torch.no_grad():
            source.weight.fill_(float(t + 1))
        decay = min(0.9, (1 + t) / (10 + t))
        expected = decay * expected + (1 - decay) * (t + 1)
        ema.update(source)
    assert_close(ema.module.weight.item(), expected)
    assert ema.updates == 30 and not ema.module.weight.requires_grad


def test_ema_copies_buffers_and_round_trips():
    source = nn.BatchNorm1d(3)
    source(torch.randn(8, 3))
    ema = EMA(nn.BatchNorm1d(3), decay=0.99)
    ema.update(source)
    assert torch.equal(ema.module.running_mean, source.running_mean)
    other = EMA(nn.BatchNorm1d(3), decay=0.99)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 1 and torch.equal(other.module.running_var, source.running_var)
