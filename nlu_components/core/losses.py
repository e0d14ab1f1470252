"""The training losses: class-weighted, label-smoothed cross-entropy per task, masked where a
label is unknown, and the weighted sum one optimizer step minimises."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nlu_components.core.features import IGNORE_INDEX
from nlu_components.core.settings import TrainingSettings


def class_weights(ids: Sequence[int], n_classes: int, balanced: bool) -> torch.Tensor | None:
    """Inverse-square-root frequency weights, mean 1: rare intents and the rare entity tags
    (against a sea of ``O``) count more, without the instability of full inverse frequency."""
    if not balanced:
        return None
    counts = Counter(i for i in ids if i != IGNORE_INDEX)
    weights = torch.tensor(
        [1.0 / math.sqrt(counts[i]) if counts[i] else 0.0 for i in range(n_classes)]
    )
    present = weights > 0
    if present.any():
        weights[present] /= weights[present].mean()
    return weights


@dataclass
class TaskLoss:
    """Label-smoothed cross-entropy, each example weighted by its *gold* class's weight.

    PyTorch's ``CrossEntropyLoss(weight=..., label_smoothing=...)`` also weights the smoothing
    term by every class's weight: on a frequent, lightly weighted tag (``O``) the smoothing
    mass on rare, heavily weighted tags then dominates the loss and pushes probability towards
    rare tags on every ``O`` word. Weighting the whole smoothed loss by the gold class keeps
    what both mean: rare classes count more, and targets are softened uniformly.
    """

    weight: torch.Tensor | None
    smoothing: float

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        if logits.shape[-1] == 0:  # a task without labels (e.g. sentiment-only training)
            return None
        logits, target = logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
        labelled = target != IGNORE_INDEX
        if not labelled.any():
            return None
        logits, target = logits[labelled], target[labelled]
        per_example = nn.functional.cross_entropy(
            logits, target, reduction="none", label_smoothing=self.smoothing
        )
        if self.weight is None:
            return per_example.mean()
        weights = self.weight[target]
        return (per_example * weights).sum() / weights.sum().clamp(min=1e-8)


def weighted_total(
    step_losses: dict[str, torch.Tensor], settings: TrainingSettings
) -> torch.Tensor:
    """The loss one optimizer step minimises: each task's loss times its weight."""
    return sum(settings.loss_weights.get(t, 1.0) * v for t, v in step_losses.items())


def signal_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | None:
    """Binary cross-entropy of each signal against its soft target (anger 0 / 0.5 / 1), over
    the known targets only (NaN: unknown); None when the batch has none."""
    known = ~torch.isnan(targets)
    if logits.shape[-1] == 0 or not known.any():
        return None
    return nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])
