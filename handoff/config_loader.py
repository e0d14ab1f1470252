"""Reading the routing configuration: handoff/routing.yml (or $LINGODESK_ROUTING_CONFIG) into
the dataclasses of handoff/config.py, with every key's type checked, and the Redis URL
resolved from the environment once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from handoff.config import ConfigError, RoutingConfig

DEFAULT_CONFIG_PATH = Path(__file__).with_name("routing.yml")
CONFIG_PATH_ENV = "LINGODESK_ROUTING_CONFIG"
REDIS_URL_ENV = "LINGODESK_REDIS_URL"


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate the config dataclass `cls` from YAML data, keeping defaults for missing keys.

    Types are checked against the defaults so a typo or a wrong type fails at start-up with the
    key's path instead of misrouting customers later.
    """
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'the routing config'} must be a mapping")
    defaults = cls()
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in {where or 'the routing config'} "
            f"(known: {', '.join(sorted(names))})"
        )
    values = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        values[name] = _convert(getattr(defaults, name), value, path)
    return cls(**values)


def _convert(default: Any, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(default):
        return _build(type(default), value, path)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path} must be a list of strings")
        return tuple(value)
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path} must be a mapping")
        sample = next(iter(default.values()), None)
        if isinstance(sample, float):
            return {str(k): _convert(sample, v, f"{path}.{k}") for k, v in value.items()}
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, not {value!r}")
        return value
    kind = {float: "a number", int: "an integer", str: "a string"}[type(default)]
    if isinstance(value, bool):
        raise ConfigError(f"{path} must be {kind}, not {value!r}")
    if isinstance(default, float) and isinstance(value, int | float):
        return float(value)
    if not isinstance(value, type(default)):
        raise ConfigError(f"{path} must be {kind}, not {value!r}")
    return value


def load_config(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> RoutingConfig:
    """Read the routing config (LINGODESK_ROUTING_CONFIG or handoff/routing.yml).

    The Redis URL is resolved here, once: LINGODESK_REDIS_URL, else the LINGODESK_REDIS_*
    variables that Rasa's stores use (`redis_url_from_environment`: one setting moves all of
    lingodesk's Redis traffic, TLS and ACL user included), else the file's `handoff.redis_url`.
    """
    environ = os.environ if environ is None else environ
    path = Path(path or environ.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG_PATH)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read routing config {path}: {error}") from error
    config = _build(RoutingConfig, data, "")
    url = environ.get(REDIS_URL_ENV) or redis_url_from_environment(environ, config.handoff.redis_db)
    if url:
        config = dataclasses.replace(
            config, handoff=dataclasses.replace(config.handoff, redis_url=url)
        )
    return config


# The connection variables shared with Rasa's stores (bot/stores.py).
REDIS_VARIABLES = (
    "LINGODESK_REDIS_HOST", "LINGODESK_REDIS_PORT", "LINGODESK_REDIS_USERNAME",
    "LINGODESK_REDIS_PASSWORD", "LINGODESK_REDIS_SSL", "LINGODESK_REDIS_SSL_CA_CERTS",
)  # fmt: skip


def redis_url_from_environment(environ: Mapping[str, str], db: int) -> str | None:
    """The handoff's Redis URL from LINGODESK_REDIS_HOST / _PORT / _USERNAME (an ACL user) /
    _PASSWORD / _SSL ("true": TLS, certificates verified) / _SSL_CA_CERTS (a CA bundle), or
    None when none of them is set."""
    if not any(environ.get(name) for name in REDIS_VARIABLES):
        return None
    host = environ.get("LINGODESK_REDIS_HOST", "127.0.0.1")
    port = environ.get("LINGODESK_REDIS_PORT", "6379")
    user = quote(environ.get("LINGODESK_REDIS_USERNAME", ""), safe="")
    password = quote(environ.get("LINGODESK_REDIS_PASSWORD", ""), safe="")
    auth = f"{user}:{password}@" if user or password else ""
    tls = environ.get("LINGODESK_REDIS_SSL", "").lower() == "true"
    query = ""
    if tls:
        query = "?ssl_cert_reqs=required"
        if environ.get("LINGODESK_REDIS_SSL_CA_CERTS"):
            query += f"&ssl_ca_certs={quote(environ['LINGODESK_REDIS_SSL_CA_CERTS'], safe='/')}"
    return f"{'rediss' if tls else 'redis'}://{auth}{host}:{port}/{db}{query}"
