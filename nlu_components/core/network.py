"""One shared encoder pass, four task heads."""

from __future__ import annotations

import torch
from torch import nn

from nlu_components.core.examples import SENTIMENT_LABELS


class TaskHeads(nn.Module):
    """Intent, sentiment and the signals (anger, wants_human, threat: independent sigmoids)
    from the pooled sentence vector; entity tags from each sub-token."""

    def __init__(
        self, hidden_size: int, n_intents: int, n_tags: int, dropout: float, n_signals: int = 0
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.intent = nn.Linear(hidden_size, n_intents)
        self.sentiment = nn.Linear(hidden_size, len(SENTIMENT_LABELS))
        self.entities = nn.Linear(hidden_size, n_tags)
        # Drawn from a forked RNG: the other heads' weights, and every later random draw of
        # a training run, are those of a model without signals.
        with torch.random.fork_rng(devices=[]):
            self.signals = nn.Linear(hidden_size, n_signals)

    def forward(
        self, pooled: torch.Tensor, token_states: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = self.dropout(pooled)
        return (
            self.intent(pooled),
            self.sentiment(pooled),
            self.entities(self.dropout(token_states)),
            self.signals(pooled),
        )


class MultitaskNetwork(nn.Module):
    """Encoder + heads as one module, so training, inference and ONNX export share a forward."""

    def __init__(self, encoder: nn.Module, heads: TaskHeads, pooling: str) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.encoder = encoder
        self.heads = heads
        self.pooling = pooling

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (intent logits [B, I], sentiment logits [B, 3], tag logits [B, T, K],
        signal logits [B, S])."""
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.heads(self.pool(states, attention_mask), states)

    def pool(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The sentence vector [B, H] of token states [B, T, H]."""
        if self.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return states[:, 0]
