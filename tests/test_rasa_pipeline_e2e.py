"""The shipped NLU pipeline (config.yml) trained by Rasa's own CLI, with the tiny encoder in
place of the real one, then parsing German and Chinese through Rasa's Agent."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rasa.shared.importers.rasa import RasaFileImporter

from tests.conftest import REPO_ROOT

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (REPO_ROOT / "models" / "lid.176.ftz").is_file(),
        reason="models/lid.176.ftz is absent: run scripts/setup",
    ),
]

MULTITASK = "nlu_components.multitask_nlu.MultitaskTransformerNLU"


def _rasa(*args: str) -> None:
    """Run Rasa's CLI from the repo root; fail the test with its output when it fails."""
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("rasa")), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def shipped_config_with(encoder_dir: Path, destination: Path, keep_policies: bool = False) -> Path:
    """config.yml exactly as shipped, but with the tiny encoder and few epochs."""
    config = yaml.safe_load((REPO_ROOT / "config.yml").read_text())
    for component in config["pipeline"]:
        if component["name"] == MULTITASK:
            component.update(
                model_name_or_path=str(encoder_dir),
                epochs=3,
                learning_rate=1e-2,
                head_learning_rate=0.1,
                label_smoothing=0.0,
                progress_bar=False,
            )
    if not keep_policies:
        config["policies"] = []
    destination.write_text(yaml.safe_dump(config, allow_unicode=True))
    return destination


@pytest.fixture(scope="module")
def trained_model(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("rasa-train")
    config = shipped_config_with(tiny_encoder_dir, workdir / "config.yml")
    _rasa(
        *("train", "nlu", "--config", str(config), "--nlu", "data/nlu"),
        *("--out", str(workdir / "models"), "--fixed-model-name", "nlu"),
    )
    return workdir / "models" / "nlu.tar.gz"


@pytest.fixture(scope="module")
def parse(trained_model: Path):
    from rasa.core.agent import Agent

    agent = Agent.load(str(trained_model))

    def parse_text(text: str, metadata: dict | None = None) -> dict:
        from rasa.core.channels.channel import UserMessage

        message = UserMessage(text, metadata=metadata)
        return asyncio.run(agent.processor.parse_message(message))

    return parse_text


def test_trained_artifacts_are_small(trained_model: Path):
    assert trained_model.stat().st_size < 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("text", "language", "order_number"),
    [
        ("Wo ist meine Bestellung LD-482913? Ich warte seit einer Woche", "de", "LD-482913"),
        ("我的订单LD-551204到哪里了？已经等了一个星期", "zh", "LD-551204"),
    ],
)
def test_parse_sets_intent_entities_sentiment_and_language(parse, text, language, order_number):
    result = parse(text)
    assert result["language"]["code"] == language
    assert result["language"]["source"] == "model"
    assert result["intent"]["name"]  # the tiny model's guess; real accuracy is a benchmark
    assert 0.0 <= result["intent"]["confidence"] <= 1.0
    assert result["intent_ranking"]
    assert result["sentiment"]["label"] in {"negative", "neutral", "positive"}
    assert abs(sum(result["sentiment"]["scores"].values()) - 1.0) < 1e-4
    values = {(e["entity"], e["value"]) for e in result["entities"]}
    assert ("order_number", order_number) in values  # the regex extractor, exact characters
    for entity in result["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["value"] or entity.get("processors")


@pytest.fixture(scope="module")
def assistant_model(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole assistant (NLU with the tiny encoder, the shipped policies) via `rasa train`."""
    workdir = tmp_path_factory.mktemp("rasa-assistant")
    config = shipped_config_with(tiny_encoder_dir, workdir / "config.yml", keep_policies=True)
    _rasa("train", "--config", str(config), "--out", str(workdir), "--fixed-model-name", "all")
    return workdir / "all.tar.gz"


def test_rasa_test_runs_the_stories_and_the_held_out_nlu_data(
    assistant_model: Path, tmp_path: Path
):
    """`rasa test` on the tiny model: every test story's bot actions are right (dialogue does
    not depend on the tiny model's intent guesses, which Rasa reports separately) and the
    NLU report covers all 12 languages' held-out data."""
    import json

    _rasa("test", "core", "--model", str(assistant_model), "--stories", "tests/stories",
          "--out", str(tmp_path / "core"))  # fmt: skip
    story_report = json.loads((tmp_path / "core" / "story_report.json").read_text())
    assert story_report["accuracy"] == 1.0, story_report

    _rasa("test", "nlu", "--model", str(assistant_model), "--nlu", "data/test",
          "--out", str(tmp_path / "nlu"), "--no-plot")  # fmt: skip
    intent_report = json.loads((tmp_path / "nlu" / "intent_report.json").read_text())
    held_out = RasaFileImporter(training_data_paths=[str(REPO_ROOT / "data" / "test")])
    assert intent_report["weighted avg"]["support"] == len(held_out.get_nlu_data().intent_examples)
