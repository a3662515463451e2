"""The project's own exception types.

Every error a user can trigger with bad input is one of these, with a message that names the
bad value and what is allowed, so nothing surfaces as a bare traceback from deep inside JAX.
"""

from __future__ import annotations


class JaxnasError(Exception):
    """Base class of every error raised on purpose by jaxnas."""


class InvalidGenomeError(JaxnasError, ValueError):
    """A genome (or its string form) is malformed or violates its space's constraints."""


class ConfigError(JaxnasError, ValueError):
    """A configuration value (flag, config field, argument) is outside what is allowed."""


class DataNotFoundError(JaxnasError, FileNotFoundError):
    """A dataset or data file is missing; the message says which files to put where."""


class UnknownNameError(JaxnasError, KeyError):
    """A name (space, strategy, dataset, device, executor) is not one of the known ones."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


def check_choice(field: str, value, allowed) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{field}={value!r} is not allowed; choose one of {allowed}")
