"""lingodesk's rasa-sdk action server: routing and human handoff."""
