"""Exception root shared by every adstream package.

Callers catch `AdstreamError` for anything raised on purpose by adstream code, and read its
`retriable` flag to decide whether to try again rather than matching lists of classes.
Subclasses also derive from the built-in exception they refine (`ValueError` for bad input), so
generic handlers keep working.

Examples
--------
>>> from learners.errors import AdstreamError, InvalidWeightsError
>>> err = InvalidWeightsError("alpha must be finite, got nan")
>>> isinstance(err, AdstreamError), isinstance(err, ValueError), err.retriable
(True, True, False)

"""

from __future__ import annotations

__all__ = ["AdstreamError", "ConfigError", "InvalidWeightsError", "MissingObjectiveError"]


class AdstreamError(Exception):
    """Root of every exception adstream raises on purpose.

    Attributes
    ----------
    retriable
        Whether repeating the same operation may succeed (a broker hiccup) or cannot (bad input).

    """

    retriable: bool = False


class InvalidWeightsError(AdstreamError, ValueError):
    """Combiner weights are not finite, negative, or all zero."""


class MissingObjectiveError(AdstreamError, ValueError):
    """A score needed by a positive combiner weight is missing.

    Parameters
    ----------
    objective
        Name of the missing objective (for example ``"quality"``).

    """

    def __init__(self, objective: str) -> None:
        super().__init__(f"no {objective!r} scores given, but its combiner weight is positive")
        self.objective = objective


class ConfigError(AdstreamError, ValueError):
    """A configuration that cannot be used, named by its field and the reason.

    Parameters
    ----------
    field
        Dotted path of the field in the configuration (for example ``"models.click.model"``).
    reason
        Why it cannot be used.

    Examples
    --------
    >>> error = ConfigError("models.click.label", "unknown label 'clicks'; known: click, rating")
    >>> str(error)
    "models.click.label: unknown label 'clicks'; known: click, rating"
    >>> error.field
    'models.click.label'

    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
