"""`lingodesk`: the command-line entry point.

lingodesk run      train if needed, start Redis (if none), the action server and Rasa
lingodesk train    train the assistant when its data or config changed
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.services import RedisServer, ServiceError, redis_is_up, stop_process
from bot.stores import redis_settings

PROJECT_FILES = ("config.yml", "domain.yml", "data")


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # Two small cores: OpenMP busy-waiting in one process starves the others.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def _rasa(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("rasa")), *args]


def latest_model(models_dir: Path) -> Path | None:
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def needs_training(project: Path, models_dir: Path) -> bool:
    """True when there is no trained model, or config/domain/data changed after the latest."""
    model = latest_model(models_dir)
    if model is None:
        return True
    built = model.stat().st_mtime
    for name in PROJECT_FILES:
        path = project / name
        files = path.rglob("*") if path.is_dir() else [path]
        if any(f.is_file() and f.stat().st_mtime > built for f in files):
            return True
    return False


def train(args: argparse.Namespace) -> int:
    project = Path(args.project)
    if not args.force and not needs_training(project, project / "models"):
        print(f"Model is up to date: {latest_model(project / 'models')}")
        return 0
    print("Training the assistant (rasa train) ...", flush=True)
    return subprocess.call(_rasa("train", "--out", "models"), cwd=project, env=_environment())


def _wait_for(url: str, process: subprocess.Popen, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(
                f"{name} exited with code {process.returncode}; see its output above."
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise ServiceError(f"{name} did not answer at {url} within {timeout:.0f} s")


def run(args: argparse.Namespace) -> int:
    project = Path(args.project)
    env = _environment()
    settings = redis_settings("LINGODESK_REDIS_TRACKER_DB", 0)
    redis_server: RedisServer | None = None
    children: list[subprocess.Popen] = []

    def shutdown(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    try:
        if not redis_is_up(settings["host"], settings["port"], settings["password"]):
            if settings["host"] not in ("127.0.0.1", "localhost"):
                raise ServiceError(
                    f"Redis at {settings['host']}:{settings['port']} does not answer."
                )
            redis_server = RedisServer(
                project / ".run" / "redis", port=settings["port"], persistent=True
            ).start()
            print(f"Started Redis on 127.0.0.1:{settings['port']} (data in .run/redis)")
        if not args.no_train and train(argparse.Namespace(project=args.project, force=False)):
            raise ServiceError("Training failed; see the output above.")

        actions = subprocess.Popen(
            _rasa("run", "actions", "--port", str(args.actions_port)),
            cwd=project,
            env=env,
            start_new_session=True,
        )
        children.append(actions)
        rasa = subprocess.Popen(
            _rasa(
                "run", "--enable-api", "--interface", "127.0.0.1", "--port", str(args.port),
                "--cors", args.cors, "--model", "models",
            ),
            cwd=project,
            env=env,
            start_new_session=True,
        )  # fmt: skip
        children.append(rasa)
        _wait_for(f"http://127.0.0.1:{args.actions_port}/health", actions, "action server", 60)
        _wait_for(f"http://127.0.0.1:{args.port}/", rasa, "Rasa server", 300)
        print(
            "\nlingodesk is up.\n"
            f"  Rasa REST channel: http://127.0.0.1:{args.port}/webhooks/rest/webhook\n"
            f"  Try: curl -s http://127.0.0.1:{args.port}/webhooks/rest/webhook "
            '-d \'{"sender": "me", "message": "wo ist meine Bestellung?"}\'\n'
            f"  Parse only: curl -s http://127.0.0.1:{args.port}/model/parse "
            '-d \'{"text": "where is my order"}\'\n'
            "Press Ctrl-C to stop everything.",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("A service stopped unexpectedly; shutting down.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
        return 0
    except ServiceError as error:
        print(f"lingodesk: {error}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            stop_process(child)
        if redis_server is not None:
            redis_server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lingodesk", description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=".", help="the assistant's directory (repo root)")
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="train if needed and start every service")
    run_parser.add_argument("--port", type=int, default=5005, help="Rasa HTTP port")
    run_parser.add_argument("--actions-port", type=int, default=5055)
    run_parser.add_argument(
        "--cors", default="http://127.0.0.1:8080", help="origins allowed to call Rasa"
    )
    run_parser.add_argument("--no-train", action="store_true", help="serve the latest model")
    run_parser.set_defaults(handler=run)

    train_parser = commands.add_parser("train", help="train when data or config changed")
    train_parser.add_argument("--force", action="store_true", help="train even if up to date")
    train_parser.set_defaults(handler=train)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
