"""The dissertation's networks. ``forward`` returns (logits, hidden activations per layer)."""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}


class MLP(nn.Module):
    """784 -> hidden[0] -> ... -> hidden[-1] -> 10, sigmoid (or ReLU) after each hidden layer.

    Raw logits out (CrossEntropyLoss applies the softmax). PyTorch default init.
    """

    def __init__(self, hidden=(256,), activation="sigmoid", inputs=784, classes=10):
        super().__init__()
        sizes = [inputs, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = ACTIVATIONS[activation]()
        self.out = nn.Linear(sizes[-1], classes)

    def forward(self, x):
        """``x``: [B, 784]. Returns logits [B, 10] and a list of [B, width] activations."""
        acts = []
        for layer in self.hidden:
            x = self.act(layer(x))
            acts.append(x)
        return self.out(x), acts


class CNN(nn.Module):
    """Section 5.10's network: two conv/ReLU/pool blocks, then a 256-unit sigmoid layer.

    The metrics are taken on the 256-unit fully connected layer only.
    """

    def __init__(self, hidden=(256,), activation="sigmoid"):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc = nn.Linear(64 * 7 * 7, hidden[0])
        self.act = ACTIVATIONS[activation]()
        self.out = nn.Linear(hidden[0], 10)

    def forward(self, x):
        """``x``: [B, 784] (flat images). Returns logits [B, 10] and [[B, 256]]."""
        h = self.features(x.view(-1, 1, 28, 28)).flatten(1)
        a = self.act(self.fc(h))
        return self.out(a), [a]


def build_model(spec) -> nn.Module:
    """The spec's network with the spec's seed: the same spec always starts from the same weights.

    Built on the CPU (so initial weights do not depend on the device) under a private RNG.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        cls = CNN if spec.model == "cnn" else MLP
        return cls(hidden=spec.hidden, activation=spec.activation)


def describe(spec) -> list[dict]:
    """The layers of ``spec``'s network with their output shapes and parameter counts (the
    dissertation's Fig 5.16 and Table 5.8), traced on one image: [{layer, output, parameters}]."""
    model = build_model(spec)
    rows, x = [], torch.zeros(1, 784)

    def add(name, module, out):
        n = sum(p.numel() for p in module.parameters())
        rows.append(dict(layer=name, output=" x ".join(map(str, out.shape[1:])), parameters=n))
    with torch.no_grad():
        if isinstance(model, CNN):
            x = x.view(-1, 1, 28, 28)
            rows.append(dict(layer="input", output="1 x 28 x 28", parameters=0))
            for m in model.features:
                x = m(x)
                add(type(m).__name__, m, x)
            x = model.act(model.fc(x.flatten(1)))
            add(f"Linear + {type(model.act).__name__} (FC{x.shape[1]}, measured)", model.fc, x)
        else:
            rows.append(dict(layer="input", output="784", parameters=0))
            for i, layer in enumerate(model.hidden, 1):
                x = model.act(layer(x))
                add(f"Linear + {type(model.act).__name__} (HL{i}, measured)", layer, x)
        add("Linear (output logits)", model.out, model.out(x))
    rows.append(dict(layer="total", output="", parameters=sum(r["parameters"] for r in rows)))
    return rows
