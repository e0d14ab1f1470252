"""Which kind of deployment a lingodesk process runs in: ``LINGODESK_ENV=production`` makes
every safeguard mandatory (tokens, HTTPS-only cookies, no development account); anything else
is local development."""

from __future__ import annotations

from collections.abc import Mapping

ENVIRONMENT_ENV = "LINGODESK_ENV"


def is_production(env: Mapping[str, str]) -> bool:
    return env.get(ENVIRONMENT_ENV, "").strip().lower() == "production"
