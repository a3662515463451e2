"""Training presets of the ``train`` evaluator: how much data, how many epochs, how big a
network, which schedule (:class:`TrainPreset`).

=========  ============  =====  ===============================  ==============================
preset     images        E      networks                         meant for
=========  ============  =====  ===============================  ==============================
``smoke``  4,000 train,   3     reduced: nb201 C=8 N=1, nb101    a 2-core CPU, 8 cells in
           1,000 val,           C=16 1x1 stacks, darts C=8 5     minutes; it must learn (mean
           2,000 test           layers; egnas as the genome      validation >= 60 % on
                                                                 Fashion-MNIST)
``cpu``    10,000 train,  4     reduced as ``smoke`` but nb201   ~50 cells in tens of minutes
           2,000 val,           C=16, darts C=16 8 layers        on a 2-core CPU
           5,000 test
``paper``  full train     12    full size: nb201 C=16 N=5,       accelerators; 12 epochs is
           (5,000 val),         nb101 C=128 3x3, darts C=36 20   NB201's search-time proxy
           full test            layers, egnas as the genome
=========  ============  =====  ===============================  ==============================

``E`` is the epochs per candidate of the ``uniform`` budget policy, so ``E x n`` is the total
candidate-epoch budget of a batch of n candidates that the ``aware`` policy shares out
(:mod:`jaxnas.train.allocation`). Every preset trains with :class:`TrainRecipe`'s SGD
(momentum 0.9, weight decay 3e-4, clip 5, batch 64, cutout 16) at learning rate 0.1 (as
NAS-Bench-201's proxy; at 0.025 a 3-epoch smoke proxy stayed at 45-55 % on Fashion-MNIST)
with the per-step cosine schedule (a short proxy needs its learning rate to decay within the
run); ``smoke`` and ``cpu`` crop training images back to their stored size after 4 px padding
(28 px for Fashion-MNIST) instead of 32 px, which costs less and tests at the trained size;
validation images are split off the training set with a fixed seed, so every search seed sees
the same data. Results files record the preset by name and value.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Mapping

from jaxnas.errors import UnknownNameError
from jaxnas.train.recipe import TrainRecipe


@dataclass(frozen=True)
class TrainPreset:
    """Data sizes, epochs, recipe and per-space network options of the ``train`` evaluator.

    ``train_images``/``val_images``/``test_images``: ``None`` means all that the split has
    (validation then takes ``val_fraction`` of the training set)."""

    name: str
    epochs: int
    train_images: int | None
    val_images: int | None
    test_images: int | None
    recipe: TrainRecipe = TrainRecipe(epochs=1, learning_rate=0.1, schedule="cosine_per_step")
    network_options: Mapping[str, tuple[tuple[str, Any], ...]] = field(default_factory=dict)
    val_fraction: float = 0.1
    split_seed: int = 0
    native_crop: bool = False  # crop training images back to their stored size (28 px MNIST)

    def recipe_for(self, image_size: int, epochs: int) -> TrainRecipe:
        """The preset's recipe for a dataset of ``image_size`` px images and ``epochs``."""
        if self.native_crop:
            return self.recipe.with_(epochs=epochs, crop_size=image_size)
        return self.recipe.with_(epochs=epochs)

    def options_for(self, space_name: str) -> tuple[tuple[str, Any], ...]:
        """``build_network`` options of ``space_name`` under this preset."""
        return tuple(self.network_options.get(space_name, ()))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "epochs": self.epochs, "train_images": self.train_images,
                "val_images": self.val_images, "test_images": self.test_images,
                "recipe": {k: getattr(self.recipe, k) for k in self.recipe.__dataclass_fields__
                           if k != "epochs"},
                "network_options": {k: dict(v) for k, v in self.network_options.items()},
                "val_fraction": self.val_fraction, "split_seed": self.split_seed,
                "native_crop": self.native_crop}


_SMOKE_NETS = {"nb201": (("channels", 8), ("cells_per_stage", 1)),
               "nb101": (("stem_channels", 16), ("num_stacks", 1), ("cells_per_stack", 1)),
               "darts": (("channels", 8), ("layers", 5))}
_CPU_NETS = {**_SMOKE_NETS,
             "nb201": (("channels", 16), ("cells_per_stage", 1)),
             "darts": (("channels", 16), ("layers", 8))}

PRESETS: Mapping[str, TrainPreset] = types.MappingProxyType({
    "smoke": TrainPreset("smoke", epochs=3, train_images=4_000, val_images=1_000,
                         test_images=2_000, network_options=_SMOKE_NETS, native_crop=True),
    "cpu": TrainPreset("cpu", epochs=4, train_images=10_000, val_images=2_000,
                       test_images=5_000, network_options=_CPU_NETS, native_crop=True),
    "paper": TrainPreset("paper", epochs=12, train_images=None, val_images=5_000,
                         test_images=None),
})


def get_preset(name: str) -> TrainPreset:
    """The preset called ``name`` (UnknownNameError naming the known ones)."""
    if name not in PRESETS:
        raise UnknownNameError(f"unknown train preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]


__all__ = ["PRESETS", "TrainPreset", "get_preset"]
