"""What fails, what the customer sees, what is lost (docs/operating.md has the table):

- Redis killed and restarted during traffic: answers are late, nothing is lost.
- The action server killed and restarted: every message is still answered from the domain
  and stored; what the actions add (the routing analysis, a handoff) is skipped until it is
  back, so a request for a person made in between must be repeated.
- A corrupt or missing model at start-up: `lingodesk run` exits with a clear error and leaves
  nothing running; the transformer component refuses a broken model unless told otherwise.
- A full disk while a model is saved: training fails saying why, and the previous model stays
  the one served; a half-written model is never picked up.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
import requests
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message
from safetensors import SafetensorError

from benchmarks.assistant import prepare_shipped_assistant
from benchmarks.load_checks import check_and_summarize, stored_events
from benchmarks.load_client import drive, plan
from bot import training
from bot.stores import RETRY_SECONDS_ENV, RedisTrackerStore
from bot.supervisor import RedisServer, single_core_environment
from nlu_components.core.nlu import ADAPTER_FILE, ModelFilesError, MultitaskNLU
from nlu_components.multitask_nlu import ModelLoadError, MultitaskTransformerNLU
from tests.deployments import LINGODESK, LingodeskRun, OperatedStack, listening_addresses
from tests.test_core_model import _examples, _model

pytest_plugins = ["tests.redis_server", "tests.operations"]

DEV_FULL = Path("/dev/full")  # every write fails with ENOSPC: a disk that is full


def say(stack: OperatedStack, sender: str, text: str) -> list[str]:
    answer = requests.post(
        f"{stack.url}/webhooks/rest/webhook",
        json={"sender": stack.session(sender), "message": text},
        timeout=120,
    )
    assert answer.status_code == 200
    return [m["text"] for m in answer.json() if "text" in m]


# -- Redis ----------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.redis
def test_redis_killed_and_restarted_during_traffic_loses_nothing(
    shipped_stack: OperatedStack,
) -> None:
    scripts, _ = plan(
        conversations=6, turns=6, double_send=0, seed=11, sender_prefix="redis-fault-"
    )
    outage: dict[str, float] = {}

    def kill_and_restart() -> None:
        time.sleep(1.5)
        shipped_stack.kill_redis()
        outage["killed"] = time.monotonic()
        time.sleep(2.0)
        shipped_stack.redis.start()
        outage["restarted"] = time.monotonic()

    fault = threading.Thread(target=kill_and_restart)
    fault.start()
    tokens = {sender: shipped_stack.session(sender) for sender in scripts}
    conversations, wall = asyncio.run(
        drive([shipped_stack.url], scripts, tokens, set(), 6, timeout=120)
    )
    finished = time.monotonic()
    fault.join()
    assert outage["restarted"] < finished, "the traffic ended before Redis came back"
    check, summary = check_and_summarize(shipped_stack.redis.port, conversations, wall)
    # The customer sees late answers (the outage, plus Redis reloading its data), never none.
    assert summary["errors"] == 0 and summary["unanswered"] == 0, summary
    assert summary["latency_ms"]["max"] >= 1000, summary
    assert check.problems == {}  # and every message and answer is in the stored conversation


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_commands_wait_out_a_restart_then_give_up(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RETRY_SECONDS_ENV, "5")
    store = RedisTrackerStore(Domain.empty(), port=redis_server.port, db=6)
    await store.save(DialogueStateTracker("patient", []))
    assert redis_server.process is not None
    redis_server.process.kill()
    redis_server.process.wait()
    restart = threading.Timer(1.0, redis_server.start)
    restart.start()
    started = time.monotonic()
    assert await store.retrieve("patient") is not None  # waited for the restart
    assert 0.8 < time.monotonic() - started < 5
    restart.join()
    redis_server.stop()
    store.red.retry_seconds = 0.5
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        await store.retrieve("patient")
    assert time.monotonic() - started < 3  # a longer outage fails the message, not the server
    redis_server.start()


# -- the action server ----------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.redis
def test_action_server_killed_and_restarted(shipped_stack: OperatedStack) -> None:
    sender = "actions-fault"
    assert say(shipped_stack, sender, "Hello there!")
    shipped_stack.kill_action_server()
    try:
        # The bot still answers from its domain ...
        assert say(shipped_stack, sender, "Where is my order LD-482913?")
        # ... but without the actions there is no handoff: this request is answered, not met.
        during = say(shipped_stack, sender, "I want to talk to a human")
        assert during and not any("agents_en" in text for text in during)
    finally:
        shipped_stack.start_action_server()
    after = say(shipped_stack, sender, "I want to talk to a human")
    assert any("agents_en" in text for text in after), after
    with redis.Redis(port=shipped_stack.redis.port) as client:
        stored = [e["text"] for e in stored_events(client, sender) if e["event"] == "user"]
    assert stored == [
        "Hello there!",
        "Where is my order LD-482913?",
        "I want to talk to a human",
        "I want to talk to a human",
    ]


# -- the model at start-up ------------------------------------------------------------------


@pytest.mark.e2e
def test_a_corrupt_model_stops_lingodesk_run_with_nothing_left_running(
    shipped_model: Path, tmp_path: Path
) -> None:
    project = prepare_shipped_assistant(tmp_path / "corrupt")
    data = shipped_model.read_bytes()
    (project / "models" / "model.tar.gz").write_bytes(data[: len(data) // 2])
    run = LingodeskRun(project).start()
    try:
        assert run.wait_for_exit(timeout=300) == 1
    finally:
        run.stop()
    output = run.output()
    assert "Could not load model" in output  # Rasa's reason ...
    assert "lingodesk: Rasa could not load the latest model" in output  # ... and what to do
    assert "lingodesk is up" not in output
    for port in (run.port, run.actions_port, run.redis_port):
        assert not listening_addresses(port), port


def test_no_model_stops_lingodesk_run_before_any_server_starts(tmp_path: Path) -> None:
    run = LingodeskRun(prepare_shipped_assistant(tmp_path / "untrained")).start()
    try:
        assert run.wait_for_exit(timeout=120) == 1
    finally:
        run.stop()
    assert "No trained model in models/: run `lingodesk train` first." in run.output()
    for port in (run.port, run.actions_port, run.redis_port):
        assert not listening_addresses(port), port


def test_the_transformer_refuses_a_broken_model_unless_told_otherwise(tmp_path: Path) -> None:
    storage = LocalModelStorage(tmp_path)
    resource = Resource("nlu")
    with storage.write_to(resource):
        pass  # the component's files are gone
    context = ExecutionContext(GraphSchema({}), node_name="nlu")
    with pytest.raises(ModelLoadError, match=r"lingodesk_nlu\.json missing.*Retrain"):
        MultitaskTransformerNLU.load({}, storage, resource, context)
    degraded = MultitaskTransformerNLU.load(
        {"fail_on_load_error": False}, storage, resource, context
    )
    message = Message(data={"text": "where is my order"})
    degraded.process([message])
    assert message.get("intent") is None  # served, unannotated, with a warning in the log


# -- a full disk ----------------------------------------------------------------------------

TINY_PROJECT = {
    "config.yml": """
recipe: default.v1
assistant_id: disk-full
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: KeywordIntentClassifier
policies:
  - name: RulePolicy
""",
    "domain.yml": """
version: "3.1"
intents: [greet, goodbye]
responses:
  utter_greet:
  - text: "Hello!"
""",
    "data/nlu.yml": """
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
- intent: goodbye
  examples: |
    - bye
""",
    "data/rules.yml": """
version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
""",
}


@pytest.mark.e2e
@pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full")
def test_a_full_disk_while_saving_keeps_the_previous_model(tmp_path: Path) -> None:
    for name, text in TINY_PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    models = tmp_path / "models"
    previous = models / "20260101-000000.tar.gz"
    staging = models / training.TRAINING_DIR
    staging.mkdir(parents=True)
    previous.write_bytes(b"the model being served")
    (staging / "model.tar.gz").symlink_to(DEV_FULL)  # where `rasa train` writes the archive

    def train() -> subprocess.CompletedProcess:
        return subprocess.run(
            [LINGODESK, "--project", str(tmp_path), "train", "--force"],
            env=single_core_environment(),
            capture_output=True,
            text=True,
            timeout=600,
        )

    full = train()
    assert full.returncode != 0
    assert "No space left on device" in full.stdout + full.stderr
    assert f"training failed (see above); the latest model is still {previous}" in full.stderr
    assert sorted(os.listdir(models)) == [previous.name]  # nothing half-written left behind
    assert training.latest_model(models) == previous

    freed = train()  # the disk has room again
    assert freed.returncode == 0, freed.stdout[-2000:] + freed.stderr[-2000:]
    assert training.latest_model(models) != previous and len(os.listdir(models)) == 2


@pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full")
def test_a_model_saved_onto_a_full_disk_is_never_loaded(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    model = _model(tiny_encoder_dir, epochs=1)
    model.fit(_examples())
    (tmp_path / ADAPTER_FILE).symlink_to(DEV_FULL)
    with pytest.raises(SafetensorError, match="No space left on device"):
        model.save(tmp_path)
    # The manifest is written last, so what did get written is refused as a model.
    with pytest.raises(ModelFilesError, match=r"lingodesk_nlu\.json missing"):
        MultitaskNLU.load(tmp_path)
