"""End to end through Rasa's REST channel: an angry Spanish customer, an agent, the bot back.

Real `rasa train`, `rasa run`, `rasa run actions` (the repo's actions), Redis and the agent
API. The assistant is the repo's domain and dialogue data with a small stock pipeline; a
keyword annotator stands in for lingodesk's language detector and sentiment head, so the test
needs no model assets and the customer's mood is exactly what the script says.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
import yaml
from aiohttp.test_utils import TestClient, TestServer

from benchmarks.assistant import prepare_project
from bot.agent.api import ApiSettings, create_app
from handoff.config_loader import load_config
from handoff.tickets import AGENT_METADATA_KEY
from tests.agents import add_account
from tests.conftest import REPO_ROOT
from tests.servers import RasaStack, train
from tests.test_queues import queue_length

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.anyio]

ANNOTATOR = '''
"""Stand-in for lingodesk's language detector and sentiment head: keyword rules."""
from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

SPANISH = re.compile(r"[¿¡ñ]|\\b(hola|pedido|gracias|estoy|esto|hay|alguien)\\b", re.IGNORECASE)
ANGRY = re.compile(r"vergüenza|harto|inaceptable", re.IGNORECASE)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class KeywordAnnotator(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KeywordAnnotator:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get("text") or ""
            code = "es" if SPANISH.search(text) else "en"
            message.set("language", {"code": code, "confidence": 0.97, "source": "model",
                                     "ranking": [{"code": code, "confidence": 0.97}]},
                        add_to_output=True)
            label = "negative" if ANGRY.search(text) else "neutral"
            scores = {"negative": 0.9 if label == "negative" else 0.05, "positive": 0.05}
            scores["neutral"] = 1 - scores["negative"] - scores["positive"]
            message.set("sentiment", {"label": label, "confidence": scores[label],
                                      "scores": scores}, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
'''

CONFIG = """
recipe: default.v1
language: xx
assistant_id: lingodesk-handoff-e2e
pipeline:
  - name: e2e_annotator.KeywordAnnotator
  - name: WhitespaceTokenizer
  - name: RegexEntityExtractor
    use_lookup_tables: false
    use_regexes: true
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 2
    max_ngram: 4
  - name: LogisticRegressionClassifier
policies:
  - name: RulePolicy
  - name: MemoizationPolicy
"""


def _project(directory: Path) -> Path:
    """The repo's assistant (domain, rules, stories, handoff rule, en+es NLU), small pipeline."""
    directory.mkdir(parents=True)
    (directory / "config.yml").write_text(textwrap.dedent(CONFIG))
    (directory / "e2e_annotator.py").write_text(ANNOTATOR)
    domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text())
    # the agent messages for REST customers go out through this action (docs/handoff.md)
    domain["actions"] = sorted({*domain["actions"], "action_validate_slot_mappings"})
    (directory / "domain.yml").write_text(yaml.safe_dump(domain, allow_unicode=True))
    data = REPO_ROOT / "data"
    return prepare_project(
        directory / "assistant",
        config=directory / "config.yml",
        domain=directory / "domain.yml",
        data=[
            data / "rules.yml",
            data / "stories.yml",
            data / "handoff.yml",
            data / "nlu" / "en.yml",
            data / "nlu" / "es.yml",
        ],
        extra_files=[directory / "e2e_annotator.py"],
    )


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[RasaStack]:
    project = _project(tmp_path_factory.mktemp("handoff-e2e") / "project")
    cache = getattr(pytestconfig, "cache", None)
    train(project, cache_dir=cache.mkdir("lingodesk-models") if cache else None)
    with RasaStack(project) as running:
        yield running


@pytest.fixture
async def agent_api(stack: RasaStack) -> AsyncIterator[TestClient]:
    config = load_config(environ={"LINGODESK_REDIS_PORT": str(stack.redis.port)})
    client = TestClient(TestServer(create_app(config, ApiSettings(rasa_url=stack.url))))
    await client.start_server()
    yield client
    await client.close()


class Customer:
    """Maria, writing to the REST channel; ``say`` returns the texts of the bot's answer."""

    def __init__(self, http: aiohttp.ClientSession, stack: RasaStack) -> None:
        self.http = http
        self.stack = stack

    async def say(self, text: str) -> list[str]:
        async with self.http.post(
            f"{self.stack.url}/webhooks/rest/webhook",
            json={"sender": self.stack.session("maria"), "message": text},
        ) as answer:
            assert answer.status == 200, await answer.text()
            # Texts only: handoff notices also arrive as a `custom` payload for the widget.
            return [m["text"] for m in await answer.json() if "text" in m]


async def angry_customer_is_queued(customer: Customer, stack: RasaStack) -> None:
    first = await customer.say("Hola, mi pedido LD-284617 no ha llegado, es una vergüenza")
    assert first and not any("cola" in text for text in first)  # one angry message: the bot
    # The conversation lives in Rasa's Redis tracker store (endpoints.yml), under its key.
    stored = redis.Redis(port=stack.redis.port, db=0).get("lingodesk:tracker:maria")
    assert stored is not None
    user_texts = [e.get("text") for e in json.loads(stored)["events"] if e["event"] == "user"]
    assert user_texts == ["Hola, mi pedido LD-284617 no ha llegado, es una vergüenza"]
    handoff = await customer.say("¡Estoy harto! Esto es inaceptable")
    assert handoff == [
        "Te paso con un compañero del equipo de soporte. Estás en la cola agents_es, eres el "
        "número 1 y la espera es de unos 6 minutos. Por favor, no cierres este chat."
    ], stack.log_tail("actions")


async def agent_claims_the_ticket(
    agent_api: TestClient, handoff_db: redis.Redis, agent: dict[str, str]
) -> dict[str, Any]:
    """One ticket, in the Spanish queue, with the transcript and the order number."""
    assert queue_length(handoff_db, "agents_es") == 1
    listed = await (await agent_api.get("/queues", headers=agent)).json()
    waiting = {q["queue"]: q["waiting"] for q in listed["queues"]}
    assert waiting["agents_es"] == 1 and sum(waiting.values()) == 1
    claimed = await agent_api.post("/queues/agents_es/claim", headers=agent)
    ticket: dict[str, Any] = (await claimed.json())["ticket"]
    assert (ticket["conversation_id"], ticket["language"], ticket["priority_name"]) == (
        "maria",
        "es",
        "high",
    )
    assert "angry" in ticket["reason"]
    assert ticket["entities"]["order_number"] == "LD-284617"
    said_by_customer = [line["text"] for line in ticket["transcript"] if line["sender"] == "user"]
    assert said_by_customer == [
        "Hola, mi pedido LD-284617 no ha llegado, es una vergüenza",
        "¡Estoy harto! Esto es inaceptable",
    ]
    return ticket


async def paused_bot_passes_the_customer_to_the_agent(
    customer: Customer, agent_api: TestClient, ticket: dict[str, Any], agent: dict[str, str]
) -> None:
    """Paused: the bot does not answer, the customer's messages reach the agent."""
    assert await customer.say("¿Hola? ¿Hay alguien?") == []
    context = await (await agent_api.get(f"/tickets/{ticket['ticket_id']}", headers=agent)).json()
    last = context["conversation"][-1]
    assert (last["sender"], last["text"]) == ("user", "¿Hola? ¿Hay alguien?")


async def agent_reply_reaches_the_customer_next_turn(
    customer: Customer, agent_api: TestClient, ticket: dict[str, Any], agent: dict[str, str]
) -> None:
    """The agent's reply reaches the REST customer with their next message."""
    answer = await agent_api.post(
        f"/tickets/{ticket['ticket_id']}/reply",
        headers=agent,
        json={"text": "Hola María, soy Ana. Reviso tu pedido."},
    )
    assert (await answer.json()) == {"delivery": "next_turn"}
    assert await customer.say("Vale, espero. ¿Hay novedades?") == [
        "Hola María, soy Ana. Reviso tu pedido."
    ]
    tracker = customer.stack.tracker("maria")
    assert tracker["paused"] is True
    agent_lines = [
        e
        for e in tracker["events"]
        if e["event"] == "bot" and e.get("metadata", {}).get(AGENT_METADATA_KEY)
    ]
    assert [e["text"] for e in agent_lines] == ["Hola María, soy Ana. Reviso tu pedido."]


async def closing_hands_the_conversation_back(
    customer: Customer,
    agent_api: TestClient,
    handoff_db: redis.Redis,
    ticket: dict[str, Any],
    agent: dict[str, str],
) -> None:
    """Closing hands the conversation back: the bot says so, in Spanish, and answers again."""
    closed = await agent_api.post(f"/tickets/{ticket['ticket_id']}/close", headers=agent)
    assert closed.status == 200, await closed.text()
    assert await customer.say("gracias") == [
        "Ya estoy de vuelta: el asistente automático vuelve a encargarse de este chat. "
        "¿En qué te ayudo?",
        "¡De nada! ¿Te puedo ayudar con algo más?",
    ]
    tracker = customer.stack.tracker("maria")
    assert tracker["paused"] is False and not tracker["slots"]["handed_off"]
    assert queue_length(handoff_db, "agents_es") == 0
    assert handoff_db.get("{lingodesk}:conversation:maria") is None


async def a_retried_close_leaves_the_re_escalated_customer_with_the_humans(
    customer: Customer,
    agent_api: TestClient,
    handoff_db: redis.Redis,
    ticket: dict[str, Any],
    agent: dict[str, str],
) -> None:
    """Attack (replayed close): María gets angry again and is queued with a new ticket; a
    retried close of the old ticket changes nothing, so the bot does not take her back."""
    await customer.say("Sigue sin llegar, es una vergüenza")
    queued = await customer.say("¡Estoy harto! Esto es inaceptable")
    assert any("agents_es" in text for text in queued), queued
    new_ticket = handoff_db.get("{lingodesk}:conversation:maria")
    assert new_ticket and new_ticket != ticket["ticket_id"]
    retried = await agent_api.post(f"/tickets/{ticket['ticket_id']}/close", headers=agent)
    assert (await retried.json())["delivery"] == "none"
    tracker = customer.stack.tracker("maria")
    assert tracker["paused"] is True and tracker["slots"]["handed_off"]
    assert await customer.say("¿Hola?") == []  # still with the humans
    assert queue_length(handoff_db, "agents_es") == 1


async def test_angry_spanish_customer_agent_and_bot_back(
    stack: RasaStack, agent_api: TestClient
) -> None:
    token = await add_account(f"{stack.redis.url}/2", "ana", "agent", "agents_es")
    agent = {"Authorization": f"Bearer {token}", "X-Agent": "someone-else"}
    handoff_db = redis.Redis(port=stack.redis.port, db=2, decode_responses=True)
    async with aiohttp.ClientSession() as http:
        customer = Customer(http, stack)
        await angry_customer_is_queued(customer, stack)
        ticket = await agent_claims_the_ticket(agent_api, handoff_db, agent)
        await paused_bot_passes_the_customer_to_the_agent(customer, agent_api, ticket, agent)
        await agent_reply_reaches_the_customer_next_turn(customer, agent_api, ticket, agent)
        await closing_hands_the_conversation_back(customer, agent_api, handoff_db, ticket, agent)
        await a_retried_close_leaves_the_re_escalated_customer_with_the_humans(
            customer, agent_api, handoff_db, ticket, agent
        )
    handoff_db.close()
