"""lingodesk's NLU components for Rasa 3.

The Rasa components in this package are thin adapters; the machine learning
lives in :mod:`nlu_components.core`, which knows nothing of Rasa.
"""
