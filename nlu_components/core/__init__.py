"""lingodesk's ML core: plain Python + torch/transformers/peft, no Rasa.

The public surface is small on purpose:

- :class:`~nlu_components.core.examples.Example` / :class:`EntitySpan`: what training takes.
- :class:`~nlu_components.core.nlu.MultitaskNLU`: create, ``fit``, ``predict``, ``save``,
  ``load``. The Rasa component and the benchmarks both call exactly this.
- :mod:`~nlu_components.core.settings`: the dataclasses that configure it.
"""
