"""lingodesk's rasa-sdk action server: thin adapters from Rasa's trackers to the handoff
package (policy, tickets, queues).

`rasa run actions` imports every module of this package (rasa-sdk walks it), which registers
the actions in actions/actions.py.
"""
