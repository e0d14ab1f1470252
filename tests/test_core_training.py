"""Loss details and batching of the training loop."""

import torch

from nlu_components.core.batching import epoch_batches
from nlu_components.core.features import IGNORE_INDEX
from nlu_components.core.losses import TaskLoss, class_weights
from nlu_components.core.settings import TrainingSettings


def testclass_weights_favour_rare_classes_and_average_one():
    weights = class_weights([0] * 100 + [1] * 4 + [IGNORE_INDEX] * 7, 3, balanced=True)
    assert weights[2] == 0  # never seen
    assert torch.isclose(weights[1], weights[0] * 5)  # sqrt(100 / 4)
    assert abs(weights[:2].mean().item() - 1.0) < 1e-6
    assert class_weights([0, 1], 2, balanced=False) is None


def test_smoothing_is_not_inflated_by_the_weights_of_other_classes():
    # A confident, correct "O" among heavily weighted rare tags: the loss must stay small.
    logits = torch.tensor([[8.0, -4.0, -4.0]])
    target = torch.tensor([0])
    weight = torch.tensor([0.1, 5.0, 5.0])
    ours = TaskLoss(weight, smoothing=0.1)(logits, target)
    unweighted = TaskLoss(None, smoothing=0.1)(logits, target)
    torch_version = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1)(logits, target)
    assert torch.isclose(ours, unweighted)
    assert ours < 1.0 < torch_version


def test_unlabelled_rows_are_masked_and_an_all_unlabelled_batch_has_no_loss():
    loss = TaskLoss(None, smoothing=0.0)
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    both = loss(logits, torch.tensor([0, 1]))
    one = loss(logits, torch.tensor([0, IGNORE_INDEX]))
    assert torch.isclose(both, one)  # both rows are equally right
    assert loss(logits, torch.tensor([IGNORE_INDEX, IGNORE_INDEX])) is None


def _lengths_and_settings(group_by_length: bool):
    lengths = [
        int(n) for n in torch.randint(3, 80, (2000,), generator=torch.Generator().manual_seed(1))
    ]
    return lengths, TrainingSettings(batch_size=16, group_by_length=group_by_length)


def _padded_tokens(batches, lengths):
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_length_grouped_batches_cover_every_example_once_with_little_padding():
    lengths, settings = _lengths_and_settings(group_by_length=True)
    batches = epoch_batches(lengths, settings, torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    # As many optimiser steps as plain batching, so the learning-rate schedule is unchanged.
    assert len(batches) == -(-len(lengths) // settings.batch_size)
    assert all(len(b) == settings.batch_size for b in batches)  # 2000 = 125 x 16
    grouped = _padded_tokens(batches, lengths)
    lengths, plain_settings = _lengths_and_settings(group_by_length=False)
    plain = _padded_tokens(
        epoch_batches(lengths, plain_settings, torch.Generator().manual_seed(0)), lengths
    )
    assert grouped < 0.7 * plain
    assert grouped < 1.1 * sum(lengths)


def test_length_grouped_batches_change_from_epoch_to_epoch():
    lengths, settings = _lengths_and_settings(group_by_length=True)
    generator = torch.Generator().manual_seed(0)
    first = {frozenset(b) for b in epoch_batches(lengths, settings, generator)}
    second = {frozenset(b) for b in epoch_batches(lengths, settings, generator)}
    assert len(first & second) < len(first) // 10
    # Batches are not served shortest to longest: the order of lengths is shuffled.
    means = [
        sum(lengths[i] for i in b) / len(b) for b in epoch_batches(lengths, settings, generator)
    ]
    assert means != sorted(means) and means != sorted(means, reverse=True)
