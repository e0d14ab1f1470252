"""The multi-task training loop: one encoder pass, three losses, masked where labels are missing."""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from nlu_components.core.bio import spans_to_tags
from nlu_components.core.examples import SENTIMENT_LABELS, Example
from nlu_components.core.features import IGNORE_INDEX, Encoded, encode_batch, word_tag_targets
from nlu_components.core.network import MultitaskNetwork
from nlu_components.core.settings import EncoderSettings, TrainingSettings

logger = logging.getLogger(__name__)

TASKS = ("intent", "sentiment", "entities")


@dataclass
class LabelMaps:
    """Label inventories, in the order of the heads' output units."""

    intents: list[str]
    tags: list[str]
    sentiments: list[str] = field(default_factory=lambda: list(SENTIMENT_LABELS))


@dataclass
class TrainingReport:
    """Mean loss per task per epoch (training data), and what early stopping decided."""

    epoch_losses: list[dict[str, float]] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    seconds: float = 0.0


@dataclass
class _Targets:
    intent: torch.Tensor  # IGNORE_INDEX where unknown
    sentiment: torch.Tensor
    tag_ids: list[list[int] | None]

    def select(self, indices: list[int]) -> _Targets:
        return _Targets(
            self.intent[indices], self.sentiment[indices], [self.tag_ids[i] for i in indices]
        )


def seed_everything(seed: int) -> None:
    """Seed every RNG training touches, so two runs on a CPU give the same model."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _targets(examples: Sequence[Example], labels: LabelMaps) -> _Targets:
    intent_index = {name: i for i, name in enumerate(labels.intents)}
    tag_index = {name: i for i, name in enumerate(labels.tags)}
    return _Targets(
        intent=torch.tensor(
            [
                intent_index.get(e.intent, IGNORE_INDEX) if e.intent else IGNORE_INDEX
                for e in examples
            ]
        ),
        sentiment=torch.tensor(
            [
                labels.sentiments.index(e.sentiment) if e.sentiment else IGNORE_INDEX
                for e in examples
            ]
        ),
        tag_ids=[
            None
            if e.entities is None
            else [tag_index.get(tag, 0) for tag in spans_to_tags(e.words, e.entities)]
            for e in examples
        ],
    )


def _class_weights(ids: Sequence[int], n_classes: int, balanced: bool) -> torch.Tensor | None:
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
class _TaskLoss:
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


def _weighted_total(
    step_losses: dict[str, torch.Tensor], settings: TrainingSettings
) -> torch.Tensor:
    """The loss one optimizer step minimises: each task's loss times its weight."""
    return sum(settings.loss_weights.get(t, 1.0) * v for t, v in step_losses.items())


def train_multitask(
    model: MultitaskNetwork,
    tokenizer: PreTrainedTokenizerBase,
    text_prefix: str,
    examples: Sequence[Example],
    labels: LabelMaps,
    encoder_settings: EncoderSettings,
    settings: TrainingSettings,
) -> TrainingReport:
    """Fine-tune the trainable parameters of ``model`` (LoRA adapters and heads) in place."""
    started = time.perf_counter()
    seed_everything(settings.seed)
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)

    order = list(range(len(examples)))
    random.Random(settings.seed).shuffle(order)
    n_validation = (
        int(len(examples) * settings.validation_fraction)
        if len(examples) >= settings.min_examples_for_validation
        else 0
    )
    validation = [examples[i] for i in order[:n_validation]]
    training = [examples[i] for i in order[n_validation:]]

    targets = _targets(training, labels)
    balanced = settings.class_weighting == "balanced"
    all_tags = [t for tags in targets.tag_ids if tags for t in tags]
    smoothing = settings.label_smoothing
    losses = {
        "intent": _TaskLoss(
            _class_weights(targets.intent.tolist(), len(labels.intents), balanced), smoothing
        ),
        "sentiment": _TaskLoss(
            _class_weights(targets.sentiment.tolist(), len(labels.sentiments), balanced),
            smoothing,
        ),
        "entities": _TaskLoss(_class_weights(all_tags, len(labels.tags), balanced), smoothing),
    }

    head_params = list(model.heads.parameters())
    adapter_params = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": adapter_params, "lr": settings.learning_rate},
            {"params": head_params, "lr": settings.head_learning_rate},
        ],
        weight_decay=settings.weight_decay,
    )
    steps_per_epoch = math.ceil(len(training) / settings.batch_size)
    total_steps = max(1, steps_per_epoch * settings.epochs)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(total_steps * settings.warmup_ratio), total_steps
    )

    def encode(batch: Sequence[Example]) -> Encoded:
        return encode_batch(
            tokenizer,
            [e.text for e in batch],
            [e.words for e in batch],
            text_prefix,
            encoder_settings.max_length,
            encoder_settings.max_chars,
        )

    def task_losses(
        logits: tuple[torch.Tensor, ...], encoded: Encoded, batch_targets: _Targets
    ) -> dict[str, torch.Tensor]:
        intent_logits, sentiment_logits, tag_logits = logits
        candidates = {
            "intent": losses["intent"](intent_logits, batch_targets.intent),
            "sentiment": losses["sentiment"](sentiment_logits, batch_targets.sentiment),
            "entities": losses["entities"](
                tag_logits, word_tag_targets(encoded, batch_targets.tag_ids)
            ),
        }
        return {task: value for task, value in candidates.items() if value is not None}

    def batch_losses(batch: Sequence[Example], batch_targets: _Targets) -> dict[str, torch.Tensor]:
        encoded = encode(batch)
        return task_losses(model(encoded.input_ids, encoded.attention_mask), encoded, batch_targets)

    generator = torch.Generator().manual_seed(settings.seed)
    if settings.head_warmup_epochs:
        _warm_up_heads(model, training, targets, encode, task_losses, settings, generator)

    report = TrainingReport()
    best_loss = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    stale_epochs = 0
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}

    for epoch in range(settings.epochs):
        model.train()
        permutation = torch.randperm(len(training), generator=generator).tolist()
        sums: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        bar = tqdm(
            range(0, len(training), settings.batch_size),
            desc=f"epoch {epoch + 1}/{settings.epochs}",
            # None: only on a terminal. Redirected to a file (CI, a service's log) the bar's
            # redraws would flood it; the per-epoch log line below reports progress there.
            disable=None if settings.progress_bar else True,
            leave=False,
        )
        for start in bar:
            indices = permutation[start : start + settings.batch_size]
            batch = [training[i] for i in indices]
            step_losses = batch_losses(batch, targets.select(indices))
            if not step_losses:
                continue
            total = _weighted_total(step_losses, settings)
            optimizer.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(adapter_params + head_params, 1.0)
            optimizer.step()
            scheduler.step()
            for task, value in step_losses.items():
                sums[task] += value.item()
                counts[task] += 1
            bar.set_postfix({t: f"{sums[t] / counts[t]:.3f}" for t in counts})
        epoch_losses = {t: sums[t] / counts[t] for t in counts}
        report.epoch_losses.append(epoch_losses)
        logger.info("epoch %d: %s", epoch + 1, epoch_losses)

        if validation:
            validation_loss = _validation_loss(model, validation, labels, batch_losses, settings)
            report.validation_losses.append(validation_loss)
            if validation_loss < best_loss - 1e-4:
                best_loss, stale_epochs = validation_loss, 0
                report.best_epoch = epoch + 1
                best_state = {
                    n: p.detach().clone() for n, p in model.named_parameters() if n in trainable
                }
            else:
                stale_epochs += 1
                if stale_epochs >= settings.early_stopping_patience:
                    logger.info("early stopping after epoch %d", epoch + 1)
                    break

    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.eval()
    report.seconds = time.perf_counter() - started
    return report


def _validation_loss(
    model: MultitaskNetwork,
    validation: Sequence[Example],
    labels: LabelMaps,
    batch_losses: Callable[[Sequence[Example], _Targets], dict[str, torch.Tensor]],
    settings: TrainingSettings,
) -> float:
    """Summed task losses on the held-out slice (no dropout, no gradients)."""
    model.eval()
    targets = _targets(validation, labels)
    total, batches = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(validation), settings.batch_size):
            indices = list(range(start, min(start + settings.batch_size, len(validation))))
            step_losses = batch_losses([validation[i] for i in indices], targets.select(indices))
            total += sum(v.item() for v in step_losses.values())
            batches += 1
    return total / max(1, batches)


def _warm_up_heads(
    model: MultitaskNetwork,
    training: Sequence[Example],
    targets: _Targets,
    encode: Callable[[Sequence[Example]], Encoded],
    task_losses: Callable[[tuple[torch.Tensor, ...], Encoded, _Targets], dict[str, torch.Tensor]],
    settings: TrainingSettings,
    generator: torch.Generator,
) -> None:
    """Train the heads alone on the frozen encoder's outputs before fine-tuning starts
    ("linear probing, then fine-tuning", Kumar et al., ICLR 2022).

    Fine-tuning from randomly initialised heads sends large, random gradients into the
    encoder in the first steps, and it has to start unlearning pretrained features to follow
    them; heads that already read the pretrained features well let fine-tuning adjust rather
    than distort them. The encoder runs once, without gradients, over the training data; the
    heads then train for ``head_warmup_epochs`` passes over its cached outputs (cheap: a
    linear layer per task).
    """
    model.eval()  # the encoder's outputs are fixed; only the heads use dropout below
    cached = []
    with torch.no_grad():
        for start in range(0, len(training), settings.batch_size):
            indices = list(range(start, min(start + settings.batch_size, len(training))))
            encoded = encode([training[i] for i in indices])
            states = model.encoder(
                input_ids=encoded.input_ids, attention_mask=encoded.attention_mask
            ).last_hidden_state
            pooled = model.pool(states, encoded.attention_mask)
            has_tags = any(targets.tag_ids[i] is not None for i in indices)
            # Token states are kept only where the entity head learns from them (memory).
            cached.append((indices, encoded, pooled, states if has_tags else pooled[:, None]))
    optimizer = torch.optim.AdamW(
        model.heads.parameters(), lr=settings.head_learning_rate, weight_decay=settings.weight_decay
    )
    scheduler = get_linear_schedule_with_warmup(
        optimizer, 0, max(1, len(cached) * settings.head_warmup_epochs)
    )
    model.heads.train()
    for epoch in range(settings.head_warmup_epochs):
        sums: Counter[str] = Counter()
        for batch in torch.randperm(len(cached), generator=generator).tolist():
            indices, encoded, pooled, states = cached[batch]
            step_losses = task_losses(model.heads(pooled, states), encoded, targets.select(indices))
            if not step_losses:
                continue
            total = _weighted_total(step_losses, settings)
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            scheduler.step()
            sums.update({t: v.item() / len(cached) for t, v in step_losses.items()})
        logger.info("head warm-up epoch %d: %s", epoch + 1, dict(sums))
