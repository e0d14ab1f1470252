"""lingodesk's action server: rasa-sdk's own, listening on loopback unless told otherwise.

``rasa run actions`` has no interface option and listens on every interface (rasa-sdk reads
the address from ``SANIC_HOST``, default 0.0.0.0), which exposes the actions, and the
conversations Rasa posts to them, to the network. Only the Rasa server needs to reach this
server, so by default it binds 127.0.0.1; an action server on another machine than Rasa (scaled
out, docs/operating.md) sets ``--host`` or ``LINGODESK_ACTIONS_HOST``.

Everything else is rasa-sdk's server and command line (``--port``, ``--actions``, ``--cors``,
TLS, log levels), with two lingodesk defaults: the ``actions`` package, and the logging
configuration ``bot/logging.yml``, whose filter keeps personal data out of the log.

    python -m bot.action_server [--host 127.0.0.1] [--port 5055]
"""

from __future__ import annotations

import argparse
import os
import sys

from rasa_sdk.__main__ import main_from_args
from rasa_sdk.endpoint import create_argument_parser

from bot.logs import LOGGING_CONFIG

HOST_ENV = "LINGODESK_ACTIONS_HOST"
DEFAULT_HOST = "127.0.0.1"


def build_parser() -> argparse.ArgumentParser:
    """rasa-sdk's argument parser plus ``--host``, with lingodesk's defaults."""
    parser = create_argument_parser()
    parser.prog = "python -m bot.action_server"
    parser.add_argument(
        "--host",
        default=os.environ.get(HOST_ENV, DEFAULT_HOST),
        help=f"interface to listen on (default: ${HOST_ENV} or {DEFAULT_HOST})",
    )
    parser.set_defaults(actions="actions", logging_config_file=str(LOGGING_CONFIG))
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    # rasa_sdk.endpoint.run takes its interface from the environment only.
    os.environ["SANIC_HOST"] = args.host
    main_from_args(args)


if __name__ == "__main__":
    sys.exit(main())
