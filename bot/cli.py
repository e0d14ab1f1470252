"""`lingodesk`: the command-line entry point.

lingodesk run      train if needed, start Redis (if none), the action server, Rasa, the
                   agents' API and the demo shop page with the chat widget
lingodesk train    train the assistant when its data or config changed
lingodesk evaluate per-language NLU report of a trained model (after `rasa test nlu`)
lingodesk agents   agents' accounts, API tokens and the audit log (bot/agent/accounts_cli.py)
lingodesk desk     work the handoff queues from a terminal (bot/agent/cli.py)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bot import evaluate_command as evaluate
from bot.agent import accounts_cli
from bot.agent import cli as desk_cli
from bot.agent.api import DEFAULT_PORT, RASA_TOKEN_ENV, DevelopmentAccountError
from bot.agent.startup import agent_api_service, prepare_accounts, wait_for_agent_api
from bot.environment import is_production
from bot.logs import LOGGING_CONFIG
from bot.sessions import (
    SESSION_SECRET_ENV,
    SessionSecretError,
    SessionSigner,
    development_secret,
)
from bot.stores import redis_settings
from bot.supervisor import (
    RedisServer,
    Service,
    ServiceError,
    Supervisor,
    action_server_command,
    rasa_command,
    redis_is_up,
)
from bot.training import TrainingError, latest_model, needs_training
from bot.training import train as train_project
from bot.web import WidgetServer
from handoff.config_loader import load_config
from handoff.errors import QueueError

# Origins (space-separated) the browser may call Rasa from: the sites showing the chat widget.
CORS_ENV = "LINGODESK_CORS_ORIGINS"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# How long `lingodesk run` waits for each server to answer, in seconds.
ACTION_SERVER_STARTUP = 60
RASA_STARTUP = 300


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # Two small cores: OpenMP busy-waiting in one process starves the others.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if is_production(env):
        # Rasa pretty-prints its log (with tracebacks' local variables) when it writes to a
        # terminal; JSON is what handoff/redaction.py can strip of conversation content.
        env.setdefault("FORCE_JSON_LOGGING", "1")
    return env


def rasa_api_options(interface: str, env: dict[str, str]) -> list[str]:
    """``--auth-token`` for Rasa's HTTP API from ``LINGODESK_RASA_TOKEN`` (the variable the
    agent API calls Rasa with).

    The API reads and rewrites any conversation, so outside local development (production,
    or Rasa listening beyond loopback) it must not run open: no token, no start. The REST and
    socket.io channels the customers use never need the token.
    """
    token = env.get(RASA_TOKEN_ENV, "")
    if token:
        return ["--auth-token", token]
    if is_production(env) or interface not in LOOPBACK:
        where = "LINGODESK_ENV=production" if is_production(env) else f"listening on {interface}"
        raise ServiceError(
            f"{where} needs a token for Rasa's HTTP API: set {RASA_TOKEN_ENV} (for example "
            "to the output of `openssl rand -hex 32`) and give the same value to the agent API."
        )
    return []


def cors_origins(args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    """Origins allowed to call Rasa from a browser: --cors, else LINGODESK_CORS_ORIGINS, else
    the demo shop page `lingodesk run` serves."""
    return args.cors or env.get(CORS_ENV, "").split() or [f"http://127.0.0.1:{args.web_port}"]


def train(args: argparse.Namespace) -> int:
    project = Path(args.project)
    models = project / "models"
    if not args.force and not needs_training(project, models):
        print(f"Model is up to date: {latest_model(models)}")
        return 0
    print("Training the assistant (rasa train) ...", flush=True)
    try:
        model = train_project(project, _environment())
    except TrainingError as error:
        previous = latest_model(models)
        kept = f"the latest model is still {previous}" if previous else "there is no model"
        print(f"lingodesk: training failed (see above); {kept}.", file=sys.stderr)
        return error.code
    print(f"Trained {model}")
    return 0


def _local_address(interface: str) -> str:
    """Where this machine reaches a server listening on ``interface``."""
    return "127.0.0.1" if interface in ("0.0.0.0", "::", *LOOPBACK) else interface


def _require_model(rasa_url: str, env: dict[str, str]) -> None:
    """Refuse a half-started server: Rasa that cannot load its model (a corrupt archive, a
    component's missing files) logs "Could not load model" and serves on without one,
    answering no customer."""
    token = env.get(RASA_TOKEN_ENV)
    query = f"?{urllib.parse.urlencode({'token': token})}" if token else ""
    try:
        with urllib.request.urlopen(f"{rasa_url}/status{query}", timeout=10):
            return
    except urllib.error.HTTPError as error:
        if error.code != 409:  # 409: Rasa runs without a model
            raise ServiceError(f"Rasa's /status answered {error.code}: {error.reason}") from error
    raise ServiceError(
        "Rasa could not load the latest model in models/ (its log above says why, after "
        "'Could not load model'); retrain with `lingodesk train --force`."
    )


def _require_session_secret(env: dict[str, str], project: Path) -> None:
    """The REST channel's signing secret (bot/sessions.py): generated once into .run/ for local
    development; production must set it, and is refused here, before anything starts."""
    if not is_production(env):
        env.setdefault(SESSION_SECRET_ENV, development_secret(project / ".run"))
    try:
        SessionSigner.from_environment(env)
    except SessionSecretError as error:
        raise ServiceError(str(error)) from error


def _start_redis_unless_running(services: Supervisor, project: Path) -> None:
    """A local Redis (data in .run/redis, append-only) when none answers where the stores
    look; a remote one that does not answer is an error, not something to replace."""
    settings = redis_settings("LINGODESK_REDIS_TRACKER_DB", 0)
    if redis_is_up(settings["host"], settings["port"], settings["password"]):
        return
    if settings["host"] not in ("127.0.0.1", "localhost"):
        raise ServiceError(f"Redis at {settings['host']}:{settings['port']} does not answer.")
    redis = RedisServer(project / ".run" / "redis", port=settings["port"], persistent=True)
    # Not watched: the stores ride out a Redis restart, so its exit stops nothing else.
    services.start(redis, watched=False)
    print(f"Started Redis on 127.0.0.1:{settings['port']} (data in .run/redis)")


def _require_trained_model(args: argparse.Namespace) -> None:
    if not args.no_train and train(argparse.Namespace(project=args.project, force=False)):
        raise ServiceError("Training failed; see the output above.")
    if latest_model(Path(args.project) / "models") is None:
        raise ServiceError("No trained model in models/: run `lingodesk train` first.")


def _prepare_accounts(env: dict[str, str]) -> tuple[str, str] | None:
    """The agents' accounts before their API starts (bot/agent/startup.py)."""
    try:
        return prepare_accounts(load_config(environ=env), is_production(env))
    except DevelopmentAccountError as error:
        raise ServiceError(str(error)) from error
    except QueueError as error:
        raise ServiceError(f"cannot read the agents' accounts: {error}") from error


def _start_servers(
    services: Supervisor, args: argparse.Namespace, env: dict[str, str], api_options: list[str]
) -> None:
    """The action server, Rasa and the agent API (started together: Rasa takes the longest),
    once all answer and Rasa has loaded its model. Their output goes to this terminal."""
    project = Path(args.project)
    actions = services.start(
        Service("action server", action_server_command(args.actions_port), cwd=project, env=env)
    )
    rasa_command_line = rasa_command(
        "run", "--enable-api", "--interface", args.interface, "--port", str(args.port),
        "--cors", *cors_origins(args, env), "--model", "models",
        "--logging-config-file", str(LOGGING_CONFIG), *api_options,
    )  # fmt: skip
    # The widget's socket.io channel refuses pages of any other origin (bot/channels.py).
    rasa_env = {**env, CORS_ENV: " ".join(cors_origins(args, env))}
    rasa = services.start(Service("Rasa server", rasa_command_line, cwd=project, env=rasa_env))
    rasa_url = f"http://{_local_address(args.interface)}:{args.port}"
    agent_api = services.start(agent_api_service(args.agent_port, env, rasa_url, project))
    actions.wait_for_url(f"http://127.0.0.1:{args.actions_port}/health", ACTION_SERVER_STARTUP)
    wait_for_agent_api(agent_api, args.agent_port)
    rasa.wait_for_url(f"{rasa_url}/", RASA_STARTUP)
    _require_model(rasa_url, env)


def _serve_demo_page(port: int) -> WidgetServer:
    try:
        return WidgetServer(port=port).start()
    except OSError as error:
        raise ServiceError(
            f"cannot serve the demo page on 127.0.0.1:{port} ({error.strerror}); "
            "pick another port with --web-port"
        ) from error


def _announce(account: tuple[str, str] | None) -> None:
    """Show a just-created development account's password, once, before anything else can
    fail (training takes minutes)."""
    if account:
        print(
            f"Created the development account {account[0]} with the password {account[1]}\n"
            "  (shown once; an admin. Add real accounts with `lingodesk agents add NAME --role "
            "agent --team agents_de`,\n  then remove this one: production refuses to start "
            "while it exists.)",
            flush=True,
        )


def _print_where_to_talk(web: WidgetServer, port: int, agent_port: int) -> None:
    print(
        "\nlingodesk is up.\n"
        f"  Demo shop with the chat widget: {web.demo_url(f'http://127.0.0.1:{port}')}\n"
        f"  Agents' console: http://127.0.0.1:{agent_port}/  (sign in with an agent's account)\n"
        f"  Agents' API: http://127.0.0.1:{agent_port}  (a token: `lingodesk agents token "
        "NAME`; then LINGODESK_AGENT_TOKEN=... lingodesk desk queues)\n"
        f"  Rasa REST channel: http://127.0.0.1:{port}/webhooks/rest/webhook\n"
        f"  Try: curl -s http://127.0.0.1:{port}/webhooks/rest/webhook "
        '-d \'{"sender": "me", "message": "wo ist meine Bestellung?"}\'\n'
        f"  Parse only: curl -s http://127.0.0.1:{port}/model/parse "
        '-d \'{"text": "where is my order"}\'\n'
        "Press Ctrl-C to stop everything.",
        flush=True,
    )


def _interrupt(*_: object) -> None:
    """SIGTERM stops `lingodesk run` the way Ctrl-C does."""
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    env = _environment()
    services = Supervisor()
    web: WidgetServer | None = None
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        api_options = rasa_api_options(args.interface, env)
        _require_session_secret(env, Path(args.project))
        _start_redis_unless_running(services, Path(args.project))
        _announce(_prepare_accounts(env))
        _require_trained_model(args)
        _start_servers(services, args, env, api_options)
        web = _serve_demo_page(args.web_port)
        _print_where_to_talk(web, args.port, args.agent_port)
        services.wait_for_exit()
        print("A service stopped unexpectedly; shutting down.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
        return 0
    except ServiceError as error:
        print(f"lingodesk: {error}", file=sys.stderr)
        return 1
    finally:
        if web is not None:
            web.stop()
        services.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["desk"]:  # its own options (--url) go to its own parser
        return desk_cli.main(argv[1:])
    parser = argparse.ArgumentParser(prog="lingodesk", description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=".", help="the assistant's directory (repo root)")
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="train if needed and start every service")
    run_parser.add_argument("--port", type=int, default=5005, help="Rasa HTTP port")
    run_parser.add_argument("--actions-port", type=int, default=5055)
    run_parser.add_argument(
        "--interface",
        default="127.0.0.1",
        help="interface Rasa listens on; beyond loopback $LINGODESK_RASA_TOKEN is required",
    )
    run_parser.add_argument(
        "--cors",
        nargs="+",
        help="origins allowed to call Rasa from a browser (default: $LINGODESK_CORS_ORIGINS, "
        "else the demo page's)",
    )
    run_parser.add_argument("--no-train", action="store_true", help="serve the latest model")
    run_parser.add_argument("--web-port", type=int, default=8080, help="demo shop page port")
    run_parser.add_argument("--agent-port", type=int, default=DEFAULT_PORT, help="agents' API port")
    run_parser.set_defaults(handler=run)

    train_parser = commands.add_parser("train", help="train when data or config changed")
    train_parser.add_argument("--force", action="store_true", help="train even if up to date")
    train_parser.set_defaults(handler=train)

    evaluate_parser = commands.add_parser(
        "evaluate", help="per-language intent, entity, sentiment, language-ID report"
    )
    evaluate.add_arguments(evaluate_parser)
    evaluate_parser.set_defaults(handler=evaluate.run)

    agents_parser = commands.add_parser("agents", help="agents' accounts, tokens, audit log")
    accounts_cli.add_arguments(agents_parser)
    agents_parser.set_defaults(handler=accounts_cli.run)

    desk_parser = commands.add_parser("desk", help="work the handoff queues (agent API client)")
    desk_parser.add_argument("desk_args", nargs=argparse.REMAINDER, help="see lingodesk desk -h")
    desk_parser.set_defaults(handler=lambda args: desk_cli.main(args.desk_args))

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
