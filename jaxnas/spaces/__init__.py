"""Search spaces: genomes, validation, strings, sampling, mutation and the AG-Net encoding.

``get_space(name, **limits)`` returns a frozen, hashable space object following
:class:`jaxnas.spaces.base.SearchSpace`.
"""

from __future__ import annotations

from typing import Any

from jaxnas.errors import ConfigError, UnknownNameError
from jaxnas.spaces._common import graphs_to_batch
from jaxnas.spaces.base import GraphSpec, SearchSpace
from jaxnas.spaces.darts import DARTS_OPS, DartsGenome, DartsSpace
from jaxnas.spaces.egnas import SEPARABLE, STANDARD, EgnasGenome, EgnasSpace
from jaxnas.spaces.nb101 import NB101_OPS, NB101Genome, NB101Space
from jaxnas.spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Genome, NB201Space

SPACE_NAMES = ("egnas", "nb101", "nb201", "darts")

_SPACES = {"egnas": EgnasSpace, "nb101": NB101Space, "nb201": NB201Space, "darts": DartsSpace}


def get_space(name: str, **limits: Any) -> SearchSpace:
    """The space called ``name`` (one of ``SPACE_NAMES``) with optional limits, e.g.
    ``get_space("egnas", max_width=64)``."""
    if name not in _SPACES:
        raise UnknownNameError(f"unknown search space {name!r}; choose one of {list(SPACE_NAMES)}")
    cls = _SPACES[name]
    try:
        return cls(**limits)
    except TypeError as exc:
        import dataclasses

        allowed = [f.name for f in dataclasses.fields(cls)]
        raise ConfigError(
            f"bad limits {sorted(limits)} for space {name!r}: {exc}; allowed limits: {allowed}"
        ) from None


def parse_genome(space_name: str, text: str, **limits: Any) -> Any:
    """The genome of ``space_name`` written as ``text`` (the space's canonical string form,
    e.g. ``"L10-C64-o0000000000-k3333333333"`` for egnas), validated against the limits of
    ``get_space(space_name, **limits)``; an :class:`~jaxnas.errors.InvalidGenomeError` (one
    line) says what is wrong. ``get_space(...).to_string(genome)`` writes it back."""
    return get_space(space_name, **limits).parse(text)


__all__ = [
    "DARTS_OPS",
    "NB101_OPS",
    "NB201_EDGES",
    "NB201_OPS",
    "SEPARABLE",
    "SPACE_NAMES",
    "STANDARD",
    "DartsGenome",
    "DartsSpace",
    "EgnasGenome",
    "EgnasSpace",
    "GraphSpec",
    "NB101Genome",
    "NB101Space",
    "NB201Genome",
    "NB201Space",
    "SearchSpace",
    "get_space",
    "parse_genome",
    "graphs_to_batch",
]
