"""Anger scores that mean the same in every language.

The signals head learns anger intensity from every language's examples at once, but a score
of 0.75 need not mean the same for a Japanese message as for a Spanish one: languages differ
in how directly anger is written, and in how much of it the training data shows. Routing uses
one threshold for all (``handoff/routing.yml``), so each language's raw scores are mapped
onto one scale first: Platt scaling (a slope and an offset on the score's logit, a
temperature with a shift), fitted per language on examples the model never trained on, to
the labelled intensity (calm 0, frustrated 0.5, angry 1).

A language with too few tuning examples uses the map fitted on all languages together; each
language's fit is pulled towards that shared map (:data:`SHRINKAGE`), which keeps a language
with few examples near it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A language gets its own map from this many tuning examples, with at least this many on each
# side of "upset" (frustrated or angry vs calm).
MIN_LANGUAGE_EXAMPLES = 15
MIN_PER_SIDE = 3
# Weight of the pull towards the shared map (and of the shared map towards no change): the
# squared distance in (slope, offset) costs as much as this many nats of cross-entropy.
SHRINKAGE = 1.0
_CLIP = 1e-4
IDENTITY = (1.0, 0.0)


def _logit(scores: np.ndarray) -> np.ndarray:
    clipped = np.clip(scores, _CLIP, 1 - _CLIP)
    return np.log(clipped / (1 - clipped))


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-values))


def _fit_platt(
    scores: np.ndarray, targets: np.ndarray, prior: tuple[float, float]
) -> tuple[float, float]:
    """Slope and offset minimising the cross-entropy to the (soft) targets plus
    :data:`SHRINKAGE` x the squared distance from ``prior``."""
    from scipy.optimize import minimize

    logits = _logit(scores)
    prior_vector = np.array(prior)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        probabilities = np.clip(_sigmoid(params[0] * logits + params[1]), 1e-9, 1 - 1e-9)
        cross_entropy = -np.sum(
            targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities)
        )
        residual = probabilities - targets
        gradient = np.array([np.sum(residual * logits), np.sum(residual)])
        distance = params - prior_vector
        return (
            float(cross_entropy + SHRINKAGE * distance @ distance),
            gradient + 2 * SHRINKAGE * distance,
        )

    result = minimize(loss, prior_vector, jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])


@dataclass(frozen=True)
class AngerCalibration:
    """Per-language Platt maps from the raw anger score to the shared scale."""

    shared: tuple[float, float] = IDENTITY
    per_language: dict[str, tuple[float, float]] = field(default_factory=dict)

    def apply(self, score: float, language: str | None) -> float:
        """The calibrated score of a raw ``score`` for a message in ``language``."""
        slope, offset = self.per_language.get(language or "", self.shared)
        # Per message, so plain floats: what _logit and _sigmoid do to arrays.
        clipped = min(max(score, _CLIP), 1 - _CLIP)
        return 1 / (1 + math.exp(-(slope * math.log(clipped / (1 - clipped)) + offset)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "platt",
            "shared": list(self.shared),
            "per_language": {code: list(p) for code, p in sorted(self.per_language.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AngerCalibration:
        shared = data["shared"]
        return cls(
            (float(shared[0]), float(shared[1])),
            {code: (float(p[0]), float(p[1])) for code, p in data["per_language"].items()},
        )


def fit_anger_calibration(
    scores: Sequence[float], targets: Sequence[float], languages: Sequence[str | None]
) -> AngerCalibration:
    """The maps for raw ``scores`` of tuning examples with labelled intensity ``targets``
    (0, 0.5, 1) written in ``languages``."""
    if not scores:
        return AngerCalibration()
    all_scores, all_targets = np.asarray(scores, float), np.asarray(targets, float)
    shared = _fit_platt(all_scores, all_targets, IDENTITY)
    by_language: dict[str, list[int]] = defaultdict(list)
    for index, language in enumerate(languages):
        if language:
            by_language[language].append(index)
    per_language = {}
    for language, indices in by_language.items():
        language_targets = all_targets[indices]
        upset = int(np.sum(language_targets >= 0.5))
        if len(indices) >= MIN_LANGUAGE_EXAMPLES and min(upset, len(indices) - upset) >= (
            MIN_PER_SIDE
        ):
            per_language[language] = _fit_platt(all_scores[indices], language_targets, shared)
    return AngerCalibration(shared, per_language)
