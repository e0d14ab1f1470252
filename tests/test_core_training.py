"""Loss details of the training loop."""

import torch

from nlu_components.core.features import IGNORE_INDEX
from nlu_components.core.losses import TaskLoss, class_weights


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
