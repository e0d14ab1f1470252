"""Where lingodesk's server processes get their logging configuration."""

from __future__ import annotations

from pathlib import Path

# The logging configuration (logging.config.dictConfig schema) that installs
# handoff.redaction.RedactingFilter on the console handler: `rasa run --logging-config-file`
# and `python -m bot.action_server` read it.
LOGGING_CONFIG = Path(__file__).with_name("logging.yml")
