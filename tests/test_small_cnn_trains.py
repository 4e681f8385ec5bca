"""A small CNN (conv-relu-pool-LRN-conv-BN-relu-global pool-linear) learns a generated task."""

from __future__ import annotations

import numpy as np

import minicnn
import minicnn.functional as F
from minicnn import optim
from minicnn.commands.demo import build_model, make_batch


def test_small_cnn_loss_drops_tenfold(kernel_set: str) -> None:
    minicnn.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = make_batch(rng, 128)
    model = build_model()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    xt = minicnn.Tensor(x)
    first = None
    losses = []
    for step in range(300):
        idx = rng.choice(len(x), 32, replace=False)
        loss = F.cross_entropy(model(xt[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if first is None:
            first = loss.item()
        losses.append(loss.item())
        if step > 20 and np.mean(losses[-10:]) < first / 10:
            break
    assert np.mean(losses[-10:]) < first / 10, (first, losses[-10:])
    with minicnn.no_grad():  # batch statistics: the running ones still lag after few steps
        acc = (model(xt).numpy().argmax(1) == y).mean()
    assert acc > 0.95
