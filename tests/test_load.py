"""Load, in a form quick enough for CI (the long form: ``python -m benchmarks load``).

Many customers at once through Rasa's REST channel and the action server: every message is
answered, and afterwards every conversation's tracker in Redis holds each message once, in
order, followed by exactly the answers the customer saw. Customers who send two messages at
once are served one message at a time: that is the lock store's job, and lingodesk's lock
store does it even when two Rasa servers handle the same conversation at the same moment
(Rasa 3.6's own does not: see bot/stores.py and docs/operating.md).
"""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.load_checks import check_and_summarize, lock_contention
from benchmarks.load_client import drive, plan
from bot.supervisor import RedisServer
from tests.deployments import OperatedStack

pytest_plugins = ["tests.redis_server", "tests.operations"]


@pytest.mark.e2e
@pytest.mark.redis
def test_concurrent_customers_are_answered_and_every_tracker_is_complete(
    shipped_stack: OperatedStack,
) -> None:
    scripts, doubles = plan(16, turns=4, double_send=0.25, seed=7, sender_prefix="quick-load-")
    tokens = {sender: shipped_stack.session(sender) for sender in scripts}
    conversations, wall = asyncio.run(
        drive([shipped_stack.url], scripts, tokens, doubles, 16, timeout=120)
    )
    check, summary = check_and_summarize(shipped_stack.redis.port, conversations, wall, doubles)
    assert summary["messages"] == 64 and summary["errors"] == 0, summary
    assert summary["unanswered"] == 0, summary
    assert check.problems == {}
    assert summary["latency_ms"]["p99"] < 30_000, summary  # bounded even on 2 busy cores


@pytest.mark.redis
def test_two_servers_serve_one_conversation_one_message_at_a_time(
    redis_server: RedisServer,
) -> None:
    result = lock_contention(redis_server.port, "lingodesk", servers=2, messages=20)
    assert (result["served"], result["lock_errors"], result["lost_updates"]) == (40, 0, 0)
