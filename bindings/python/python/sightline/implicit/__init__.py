"""implicit's API on sightline's core: the honest one-line change.

``from sightline.implicit.als import AlternatingLeastSquares`` (instead of
``from implicit.als import ...``) keeps implicit 0.7.3's defaults (100
factors, ``regularization=0.01`` unscaled, ``alpha=1.0`` with implicit's
confidence ``c = alpha * w``), call signatures, shapes, dtypes, padding,
warnings and exception types, and gives implicit's answers: with the same
factors loaded into both, identical ids and scores; trained on the same data,
the same held-out quality. ``sightline.implicit.evaluation`` holds
implicit's splits and metrics (``AUC_at_k`` included) with its formulas.
``docs/implicit-parity.md`` lists every implicit API item and its status.

``sightline.ALS`` stays sightline's own tuned model (64 factors, scaled
regularisation, ``alpha=4``); this package is for code written for implicit.
"""

from . import als, evaluation, recommender_base, utils

__all__ = ["als", "evaluation", "recommender_base", "utils"]
