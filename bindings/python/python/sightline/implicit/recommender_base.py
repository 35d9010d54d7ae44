"""implicit's ``implicit.recommender_base`` error class."""

__all__ = ["ModelFitError"]


class ModelFitError(Exception):
    """Raised, as in implicit, when fitting produced NaN factors."""
