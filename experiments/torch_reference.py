"""Plain PyTorch reference of the EG-NAS chain network and the NAS-Bench-201 network.

Used by ``experiments/bench_population.py`` as the "train one network at a time, the normal
PyTorch way" baseline (issue 8). Architectures are exactly those of ``jaxnas.nn.egnas`` and
``jaxnas.nn.nb201`` (the authors' ``NetworkMix.py`` and xautodl's ``TinyNetwork``); running
this file checks that parameter counts agree with ``jaxnas.nn.count_params`` and times a few
training steps:

    python experiments/torch_reference.py [--steps 5]

Training step: random crop (pad 4) -> flip -> normalise -> cutout 16 on the batch tensor,
forward, cross-entropy, backward, ``clip_grad_norm_(5)``, ``SGD(lr=0.025, momentum=0.9,
weight_decay=3e-4)``: the EG-NAS recipe (docs/algorithms.md). torch is used only here, never in
``jaxnas/``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------- EG-NAS


def egnas_plan(depth: int, width: int, ops: Sequence[int], kernels: Sequence[int]):
    """Per layer ``(op, kernel, stride, c_in, c_out)``: the same rule as
    ``jaxnas.nn.egnas.egnas_layer_plan`` (reductions at L // 3 and 2L // 3 double C)."""
    plan, c_prev, c = [], 2 * width, width
    reductions = (depth // 3, (2 * depth) // 3)
    for i, (op, k) in enumerate(zip(ops, kernels)):
        stride = 1
        if i in reductions:
            c, stride = 2 * c, 2
        plan.append((int(op), int(k), stride, c_prev, c))
        c_prev = c
    return plan


class EgnasNet(nn.Module):
    """``NetworkMix``: stem conv3x3 + BN (2C), a chain of sep-conv / conv layers, GAP, Linear."""

    def __init__(self, depth: int, width: int, ops: Sequence[int], kernels: Sequence[int],
                 in_channels: int, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width))
        layers = []
        for op, k, s, c_in, c_out in egnas_plan(depth, width, ops, kernels):
            if op == 0:  # ReLU -> depthwise kxk -> pointwise 1x1 -> BN
                layers.append(nn.Sequential(
                    nn.ReLU(inplace=False),
                    nn.Conv2d(c_in, c_in, k, stride=s, padding=k // 2, groups=c_in, bias=False),
                    nn.Conv2d(c_in, c_out, 1, bias=False),
                    nn.BatchNorm2d(c_out)))
            else:  # ReLU -> conv kxk -> BN
                layers.append(nn.Sequential(
                    nn.ReLU(inplace=False),
                    nn.Conv2d(c_in, c_out, k, stride=s, padding=k // 2, bias=False),
                    nn.BatchNorm2d(c_out)))
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(layers[-1][-1].num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


# --------------------------------------------------------------------------- NAS-Bench-201

NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)  # xautodl's Zero at stride 1


class NB201Cell(nn.Module):
    def __init__(self, ops: Sequence[str], c: int):
        super().__init__()
        self.edges = nn.ModuleList()
        for op in ops:
            if op == "none":
                self.edges.append(Zero())
            elif op == "skip_connect":
                self.edges.append(nn.Identity())
            elif op == "nor_conv_1x1":
                self.edges.append(ReLUConvBN(c, c, 1))
            elif op == "nor_conv_3x3":
                self.edges.append(ReLUConvBN(c, c, 3))
            elif op == "avg_pool_3x3":
                self.edges.append(nn.AvgPool2d(3, 1, 1, count_include_pad=False))
            else:
                raise ValueError(f"unknown NB201 op {op!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            nodes.append(sum(self.edges[e](nodes[src])
                             for e, (src, dst) in enumerate(NB201_EDGES) if dst == target))
        return nodes[3]


class ResNetBasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.down = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x) + self.conv_b(self.conv_a(x))


class NB201Net(nn.Module):
    """xautodl ``TinyNetwork(C=16, N=5)``."""

    def __init__(self, ops: Sequence[str], in_channels: int, num_classes: int,
                 channels: int = 16, cells_per_stage: int = 5):
        super().__init__()
        c = channels
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, c, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(c)]
        for stage in range(3):
            if stage > 0:
                blocks.append(ResNetBasicBlock(c, 2 * c))
                c *= 2
            blocks.extend(NB201Cell(ops, c) for _ in range(cells_per_stage))
        blocks.extend([nn.BatchNorm2d(c), nn.ReLU(inplace=False)])
        self.body = nn.Sequential(*blocks)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.adaptive_avg_pool2d(self.body(x), 1).flatten(1))


# --------------------------------------------------------------------------- building / training


def build(space: str, genome, in_channels: int, num_classes: int) -> nn.Module:
    """The torch network of a jaxnas genome (``EgnasGenome`` or ``NB201Genome``)."""
    if space == "egnas":
        return EgnasNet(genome.depth, genome.width, genome.ops, genome.kernels, in_channels,
                        num_classes)
    if space == "nb201":
        return NB201Net(genome.ops, in_channels, num_classes)
    raise ValueError(f"space {space!r}: torch reference has egnas and nb201")


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def augment(x: torch.Tensor, gen: torch.Generator, crop: int = 32, pad: int = 4,
            flip: bool = True, cutout: int = 16, mean: Sequence[float] = (0.5,),
            std: Sequence[float] = (0.5,)) -> torch.Tensor:
    """uint8 NCHW batch -> float32: random crop (zero pad), flip, normalise, cutout (the
    EG-NAS order), on the whole batch with tensor ops."""
    n = x.shape[0]
    x = x.float().div_(255.0)
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, xp.shape[2] - crop + 1, (n,), generator=gen)
    ox = torch.randint(0, xp.shape[3] - crop + 1, (n,), generator=gen)
    rows = (oy[:, None] + torch.arange(crop)[None])  # (n, crop)
    cols = (ox[:, None] + torch.arange(crop)[None])
    x = xp[torch.arange(n)[:, None, None, None], torch.arange(xp.shape[1])[None, :, None, None],
           rows[:, None, :, None], cols[:, None, None, :]]
    if flip:
        f = torch.rand(n, generator=gen) < 0.5
        x = torch.where(f[:, None, None, None], x.flip(3), x)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    x = (x - m) / s
    if cutout:
        cy = torch.randint(0, crop, (n,), generator=gen)
        cx = torch.randint(0, crop, (n,), generator=gen)
        r = torch.arange(crop)
        iny = (r[None] >= (cy[:, None] - cutout // 2)) & (r[None] < (cy[:, None] + cutout // 2))
        inx = (r[None] >= (cx[:, None] - cutout // 2)) & (r[None] < (cx[:, None] + cutout // 2))
        hole = iny[:, :, None] & inx[:, None, :]
        x = x.masked_fill(hole[:, None], 0.0)
    return x


@dataclass
class TorchTiming:
    build_s: float  # construct the model + optimiser
    first_step_s: float  # first step (allocator warm-up)
    step_s: float  # median steady-state step
    steps: int


def time_training(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                  batch_size: int = 64, steps: int = 5, seed: int = 0, lr: float = 0.025,
                  flip: bool = True) -> tuple[float, float, list[float]]:
    """Train ``model`` for ``1 + steps`` SGD steps on random batches of (uint8 NCHW) ``images``;
    returns ``(first_step_s, median_step_s, losses)``."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4)
    model.train()
    times, losses = [], []
    for _ in range(1 + steps):
        t0 = time.perf_counter()
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=gen)
        x = augment(images[idx], gen, flip=flip)
        y = labels[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - t0)
    return times[0], float(np.median(times[1:])) if steps else times[0], losses


def check_params() -> list[tuple[str, int, int]]:
    """(genome, torch params, jaxnas params) for a few genomes of each space."""
    from jaxnas.nn import count_params as jax_count
    from jaxnas.spaces import get_space
    from jaxnas.spaces.egnas import EgnasGenome

    rows = []
    cases = [("egnas", EgnasGenome(10, 64, (0,) * 10, (3,) * 10), 3, 10),
             ("egnas", EgnasGenome(26, 46, (0,) * 3 + (1,) + (0,) * 20 + (1, 0),
                                   (3,) * 5 + (5,) + (3,) * 18 + (5, 3)), 3, 10),
             ("egnas", EgnasGenome(13, 20, (1, 0) * 6 + (1,), (5, 3, 7) * 4 + (3,)), 1, 47)]
    nb = get_space("nb201")
    rng = np.random.default_rng(0)
    cases += [("nb201", nb.sample(rng), 3, 10) for _ in range(3)]
    for space, g, ch, nc in cases:
        tp = count_params(build(space, g, ch, nc))
        jp = jax_count(space, g, nc, (32, 32, ch))
        rows.append((get_space(space).to_string(g), tp, jp))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    ok = True
    print(f"{'genome':<62}{'torch':>10}{'jaxnas':>10}")
    for name, tp, jp in check_params():
        ok &= tp == jp
        print(f"{name:<62}{tp:>10}{jp:>10}{'' if tp == jp else '  MISMATCH'}")
    from jaxnas.spaces.egnas import EgnasGenome
    g = EgnasGenome(12, 32, (0,) * 12, (3,) * 12)
    model = EgnasNet(g.depth, g.width, g.ops, g.kernels, 1, 10)
    imgs = torch.randint(0, 256, (512, 1, 32, 32), dtype=torch.uint8)
    labs = torch.randint(0, 10, (512,))
    first, step, losses = time_training(model, imgs, labs, steps=args.steps)
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}: egnas L12-C32 sep3x3, "
          f"batch 64, 32x32x1: first step {first:.3f} s, median step {step:.3f} s")
    if not ok:
        raise SystemExit("parameter counts differ")


if __name__ == "__main__":
    main()
