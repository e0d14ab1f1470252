"""The multi-task training loop: one encoder pass, four losses, masked where labels are missing."""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from nlu_components.core.batching import epoch_batches, validation_split
from nlu_components.core.bio import spans_to_tags
from nlu_components.core.examples import SENTIMENT_LABELS, Example
from nlu_components.core.features import IGNORE_INDEX, Encoded, encode_batch, word_tag_targets
from nlu_components.core.losses import TaskLoss, class_weights, signal_loss, weighted_total
from nlu_components.core.network import MultitaskNetwork
from nlu_components.core.settings import EncoderSettings, TrainingSettings

logger = logging.getLogger(__name__)

TASKS = ("intent", "sentiment", "entities", "signals")


@dataclass
class LabelMaps:
    """Label inventories, in the order of the heads' output units."""

    intents: list[str]
    tags: list[str]
    sentiments: list[str] = field(default_factory=lambda: list(SENTIMENT_LABELS))
    # The SIGNALS some training example has a target for (a saved model without: none).
    signals: list[str] = field(default_factory=list)


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
    signals: torch.Tensor  # [N, S], NaN where unknown

    def select(self, indices: list[int]) -> _Targets:
        return _Targets(
            self.intent[indices],
            self.sentiment[indices],
            [self.tag_ids[i] for i in indices],
            self.signals[indices],
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
        signals=torch.tensor(
            [[e.signals.get(name, math.nan) for name in labels.signals] for e in examples],
            dtype=torch.float32,
        ).reshape(len(examples), len(labels.signals)),
    )


def _task_losses(targets: _Targets, labels: LabelMaps, settings: TrainingSettings) -> dict:
    """One loss per task, class-weighted by the training targets' frequencies."""
    balanced = settings.class_weighting == "balanced"
    all_tags = [t for tags in targets.tag_ids if tags for t in tags]
    smoothing = settings.label_smoothing
    return {
        "intent": TaskLoss(
            class_weights(targets.intent.tolist(), len(labels.intents), balanced), smoothing
        ),
        "sentiment": TaskLoss(
            class_weights(targets.sentiment.tolist(), len(labels.sentiments), balanced),
            smoothing,
        ),
        "entities": TaskLoss(class_weights(all_tags, len(labels.tags), balanced), smoothing),
    }


@dataclass
class _Objective:
    """What one batch costs: encode it, run the network, and each task's masked loss."""

    model: MultitaskNetwork
    tokenizer: PreTrainedTokenizerBase
    text_prefix: str
    encoder_settings: EncoderSettings
    losses: dict[str, TaskLoss]

    def encode(self, batch: Sequence[Example]) -> Encoded:
        return encode_batch(
            self.tokenizer,
            [e.text for e in batch],
            [e.words for e in batch],
            self.text_prefix,
            self.encoder_settings.max_length,
            self.encoder_settings.max_chars,
        )

    def task_losses(
        self, logits: tuple[torch.Tensor, ...], encoded: Encoded, targets: _Targets
    ) -> dict[str, torch.Tensor]:
        """Each task's loss; a task without labels in the batch is left out."""
        intent_logits, sentiment_logits, tag_logits, signal_logits = logits
        candidates = {
            "intent": self.losses["intent"](intent_logits, targets.intent),
            "sentiment": self.losses["sentiment"](sentiment_logits, targets.sentiment),
            "entities": self.losses["entities"](
                tag_logits, word_tag_targets(encoded, targets.tag_ids)
            ),
            "signals": signal_loss(signal_logits, targets.signals),
        }
        return {task: value for task, value in candidates.items() if value is not None}

    def token_lengths(self, examples: Sequence[Example]) -> list[int]:
        """Each example's length in encoder tokens (prefix and special tokens included)."""
        return self.encode(examples).attention_mask.sum(dim=1).tolist()

    def batch_losses(self, batch: Sequence[Example], targets: _Targets) -> dict[str, torch.Tensor]:
        encoded = self.encode(batch)
        logits = self.model(encoded.input_ids, encoded.attention_mask)
        return self.task_losses(logits, encoded, targets)


@dataclass
class _Optimisation:
    """AdamW over the adapters and the heads (each its own learning rate), linear warm-up and
    decay over every step of every epoch."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    parameters: list[torch.nn.Parameter]

    @classmethod
    def create(
        cls, model: MultitaskNetwork, n_training: int, settings: TrainingSettings
    ) -> _Optimisation:
        head_params = list(model.heads.parameters())
        adapter_params = [p for p in model.encoder.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            [
                {"params": adapter_params, "lr": settings.learning_rate},
                {"params": head_params, "lr": settings.head_learning_rate},
            ],
            weight_decay=settings.weight_decay,
        )
        total_steps = max(1, math.ceil(n_training / settings.batch_size) * settings.epochs)
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(total_steps * settings.warmup_ratio), total_steps
        )
        return cls(optimizer, scheduler, adapter_params + head_params)

    def step(self, total: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
        self.optimizer.step()
        self.scheduler.step()


def _train_epoch(
    objective: _Objective,
    optimisation: _Optimisation,
    training: Sequence[Example],
    targets: _Targets,
    settings: TrainingSettings,
    batches: list[list[int]],
    description: str,
) -> dict[str, float]:
    """One pass over the training examples, batch by batch; mean loss per task."""
    objective.model.train()
    sums: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    bar = tqdm(
        batches,
        desc=description,
        # None: only on a terminal. Redirected to a file (CI, a service's log) the bar's
        # redraws would flood it; the per-epoch log line reports progress there.
        disable=None if settings.progress_bar else True,
        leave=False,
    )
    for indices in bar:
        step_losses = objective.batch_losses(
            [training[i] for i in indices], targets.select(indices)
        )
        if not step_losses:
            continue
        optimisation.step(weighted_total(step_losses, settings))
        for task, value in step_losses.items():
            sums[task] += value.item()
            counts[task] += 1
        bar.set_postfix({t: f"{sums[t] / counts[t]:.3f}" for t in counts})
    return {t: sums[t] / counts[t] for t in counts}


@dataclass
class _EarlyStopping:
    """Keeps the trainable weights of the epoch with the lowest validation loss, and says when
    ``patience`` epochs in a row brought no improvement."""

    model: MultitaskNetwork
    patience: int
    best_loss: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    stale_epochs: int = 0

    def should_stop(self, validation_loss: float, epoch: int, report: TrainingReport) -> bool:
        if validation_loss < self.best_loss - 1e-4:
            self.best_loss, self.stale_epochs = validation_loss, 0
            report.best_epoch = epoch
            self.best_state = {
                n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad
            }
            return False
        self.stale_epochs += 1
        return self.stale_epochs >= self.patience

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state, strict=False)


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
    training, validation = validation_split(examples, settings)
    targets = _targets(training, labels)
    objective = _Objective(
        model, tokenizer, text_prefix, encoder_settings, _task_losses(targets, labels, settings)
    )
    optimisation = _Optimisation.create(model, len(training), settings)
    generator = torch.Generator().manual_seed(settings.seed)
    lengths = objective.token_lengths(training)
    if settings.head_warmup_epochs:
        _warm_up_heads(
            objective,
            training,
            targets,
            settings,
            epoch_batches(lengths, settings, generator),
            generator,
        )

    report = TrainingReport()
    stopping = _EarlyStopping(model, settings.early_stopping_patience)
    for epoch in range(1, settings.epochs + 1):
        batches = epoch_batches(lengths, settings, generator)
        epoch_losses = _train_epoch(
            objective, optimisation, training, targets, settings, batches,
            f"epoch {epoch}/{settings.epochs}",
        )  # fmt: skip
        report.epoch_losses.append(epoch_losses)
        logger.info("epoch %d: %s", epoch, epoch_losses)
        if validation:
            validation_loss = _validation_loss(objective, validation, labels, settings)
            report.validation_losses.append(validation_loss)
            if stopping.should_stop(validation_loss, epoch, report):
                logger.info("early stopping after epoch %d", epoch)
                break
    stopping.restore_best()
    model.eval()
    report.seconds = time.perf_counter() - started
    return report


def _validation_loss(
    objective: _Objective,
    validation: Sequence[Example],
    labels: LabelMaps,
    settings: TrainingSettings,
) -> float:
    """Summed task losses on the held-out slice (no dropout, no gradients)."""
    objective.model.eval()
    targets = _targets(validation, labels)
    total, batches = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(validation), settings.batch_size):
            indices = list(range(start, min(start + settings.batch_size, len(validation))))
            batch = [validation[i] for i in indices]
            step_losses = objective.batch_losses(batch, targets.select(indices))
            total += sum(v.item() for v in step_losses.values())
            batches += 1
    return total / max(1, batches)


def _encoder_outputs(
    objective: _Objective,
    training: Sequence[Example],
    targets: _Targets,
    batches: list[list[int]],
) -> list[tuple[list[int], Encoded, torch.Tensor, torch.Tensor]]:
    """The frozen encoder's outputs per batch: (indices, encoded, pooled, token states)."""
    model = objective.model
    model.eval()  # the encoder's outputs are fixed; only the heads use dropout afterwards
    cached = []
    with torch.no_grad():
        for indices in batches:
            encoded = objective.encode([training[i] for i in indices])
            states = model.encoder(
                input_ids=encoded.input_ids, attention_mask=encoded.attention_mask
            ).last_hidden_state
            pooled = model.pool(states, encoded.attention_mask)
            has_tags = any(targets.tag_ids[i] is not None for i in indices)
            # Token states are kept only where the entity head learns from them (memory).
            cached.append((indices, encoded, pooled, states if has_tags else pooled[:, None]))
    return cached


def _warm_up_heads(
    objective: _Objective,
    training: Sequence[Example],
    targets: _Targets,
    settings: TrainingSettings,
    batches: list[list[int]],
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
    heads = objective.model.heads
    cached = _encoder_outputs(objective, training, targets, batches)
    optimizer = torch.optim.AdamW(
        heads.parameters(), lr=settings.head_learning_rate, weight_decay=settings.weight_decay
    )
    scheduler = get_linear_schedule_with_warmup(
        optimizer, 0, max(1, len(cached) * settings.head_warmup_epochs)
    )
    heads.train()
    for epoch in range(settings.head_warmup_epochs):
        sums: Counter[str] = Counter()
        for batch in torch.randperm(len(cached), generator=generator).tolist():
            indices, encoded, pooled, states = cached[batch]
            logits = heads(pooled, states)
            step_losses = objective.task_losses(logits, encoded, targets.select(indices))
            if not step_losses:
                continue
            total = weighted_total(step_losses, settings)
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            scheduler.step()
            sums.update({t: v.item() / len(cached) for t, v in step_losses.items()})
        logger.info("head warm-up epoch %d: %s", epoch + 1, dict(sums))
