"""Shared helper: a small ReLU MLP trained on sklearn digits (8x8, flattened, x/16 ∈ [0,1])."""

from __future__ import annotations

import torch
from torch import nn


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(x), generator=g)
    tr, te = perm[:1300], perm[1300:]
    return x[tr], y[tr], x[te], y[te]


def train_digits_mlp(
    x: torch.Tensor, y: torch.Tensor, *, hidden: int = 128, epochs: int = 60, bn: bool = False
) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(64, hidden)]
    if bn:
        layers.append(nn.BatchNorm1d(hidden))
    layers += [nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 64), nn.ReLU(), nn.Linear(64, 10)]
    return _fit(nn.Sequential(*layers), x, y, epochs)


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> nn.Module:
    """Adam 3e-3, batches of 64 in a seeded order, cross-entropy; returns it in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(-1) == y).float().mean()) * 100.0


class ResidualBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + x)`` with one ReLU module called twice."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


class ResidualNet(nn.Module):
    """A small residual CNN for 1×8×8 digits: stem, two residual blocks, average pool, FC."""

    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.block1, self.block2 = ResidualBlock(c), ResidualBlock(c)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(c * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x.view(x.size(0), 1, 8, 8))))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def train_digits_resnet(x: torch.Tensor, y: torch.Tensor, *, epochs: int = 15) -> nn.Module:
    torch.manual_seed(0)
    return _fit(ResidualNet(), x, y, epochs)
