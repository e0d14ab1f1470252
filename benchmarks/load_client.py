"""The load suite's customers: who writes what (a seeded plan of conversations in the eight
served languages), and an asyncio client that plays them through Rasa's REST channel, each
customer waiting for every answer, a share of them sending two messages at once."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

# Messages that stay with the bot (no request for a human, no unserved language): sent as
# written, in the eight languages the assistant answers in.
MESSAGES: dict[str, list[str]] = {
    "en": ["Hello there!", "Where is my order LD-482913?", "How long does delivery to Spain take?",
           "Can I return shoes I bought last week?", "Thank you very much for your help"],
    "de": ["Guten Morgen!", "Wo ist meine Bestellung LD-120045?", "Wie lange dauert der Versand?",
           "Kann ich die Jacke zurückschicken?", "Vielen Dank für die Hilfe"],
    "es": ["¡Hola, buenas tardes!", "¿Dónde está mi pedido LD-553201?",
           "¿Cuánto tarda el envío a México?", "Quiero devolver unas zapatillas",
           "Muchas gracias por tu ayuda"],
    "fr": ["Bonjour !", "Où est ma commande LD-700114 ?", "Combien de temps prend la livraison ?",
           "Je voudrais retourner un pull", "Merci beaucoup pour votre aide"],
    "pt": ["Olá, bom dia!", "Onde está a minha encomenda LD-310077?",
           "Quanto tempo demora a entrega?", "Quero devolver uns sapatos",
           "Muito obrigado pela ajuda"],
    "zh": ["你好", "我的订单LD-882301在哪里？", "送货需要多长时间？", "我想退货",
           "非常感谢你的帮助"],
    "ja": ["こんにちは", "注文LD-640012はどこですか？", "配送にはどのくらいかかりますか？",
           "靴を返品したいです", "ありがとうございました"],
    "ar": ["مرحبا", "أين طلبي LD-905516؟", "كم يستغرق التوصيل؟", "أريد إرجاع الحذاء",
           "شكرا جزيلا على مساعدتك"],
}  # fmt: skip


@dataclass
class Turn:
    """One message as the customer experienced it."""

    sender: str
    text: str
    seconds: float = 0.0
    status: int | None = None
    replies: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.status == 200 and bool(self.replies) and self.error is None


def plan(
    conversations: int, turns: int, double_send: float, seed: int, sender_prefix: str = "load-"
) -> tuple[dict[str, list[str]], set[str]]:
    """Each customer's messages by sender id (``<sender_prefix>00000`` on), and the customers
    who double-send. Messages are distinct within a conversation (a repeat gets a counter), so
    each answer can be matched to its message."""
    rng = random.Random(seed)
    languages = sorted(MESSAGES)
    scripts = {}
    for index in range(conversations):
        texts = rng.sample(MESSAGES[languages[index % len(languages)]], k=5)
        scripts[f"{sender_prefix}{index:05d}"] = [
            text if n < len(texts) else f"{text} ({n // len(texts) + 1})"
            for n, text in enumerate(itertools.islice(itertools.cycle(texts), turns))
        ]
    doubles = rng.sample(range(conversations), round(conversations * double_send))
    return scripts, {f"{sender_prefix}{index:05d}" for index in doubles}


async def send(session: Any, url: str, sender: str, token: str, text: str, timeout: float) -> Turn:
    """POST one message to the REST channel as ``sender``'s session ``token``; the customer
    sees the answers it returns."""
    import aiohttp

    turn = Turn(sender, text)
    started = time.perf_counter()
    try:
        async with session.post(
            f"{url}/webhooks/rest/webhook",
            json={"sender": token, "message": text},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as answer:
            turn.status = answer.status
            if answer.status == 200:
                # a response with text and a custom payload arrives as two messages
                turn.replies = [m["text"] for m in await answer.json() if "text" in m]
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        turn.error = f"{type(error).__name__}: {error}"
    turn.seconds = time.perf_counter() - started
    return turn


async def converse(
    session: Any,
    urls: list[str],
    sender: str,
    token: str,
    script: list[str],
    double: bool,
    timeout: float,
) -> list[Turn]:
    """One customer: each message after the previous answer; a double-sender sends her first
    two messages at once (to two servers when there are two)."""
    turns: list[Turn] = []
    rest = script
    if double and len(script) >= 2:
        turns += await asyncio.gather(
            *(send(session, urls[i % len(urls)], sender, token, text, timeout)
              for i, text in enumerate(script[:2]))
        )  # fmt: skip
        rest = script[2:]
    for index, text in enumerate(rest):
        turns.append(await send(session, urls[index % len(urls)], sender, token, text, timeout))
    return turns


async def drive(
    urls: list[str],
    scripts: dict[str, list[str]],
    tokens: dict[str, str],
    doubles: set[str],
    concurrency: int,
    timeout: float,
) -> tuple[dict[str, list[Turn]], float]:
    """Every customer's conversation (``tokens``: each sender's session token), ``concurrency``
    at a time; returns turns and wall time."""
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(sender: str) -> list[Turn]:
            async with limit:
                return await converse(
                    session, urls, sender, tokens[sender], scripts[sender], sender in doubles,
                    timeout,
                )  # fmt: skip

        started = time.perf_counter()
        results = await asyncio.gather(*(one(sender) for sender in scripts))
        wall = time.perf_counter() - started
    return dict(zip(scripts, results)), wall
