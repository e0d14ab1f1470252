"""Offline model assets built into models/ at set-up: ``python -m nlu_components.assets``."""
