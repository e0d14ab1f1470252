"""lingodesk's rasa-sdk action server: routing and human handoff.

`rasa run actions` imports every module of this package (rasa-sdk walks it), which registers
the actions in actions/actions.py; nothing is imported here so that actions.routing and
actions.queues stay importable without rasa-sdk.
"""
