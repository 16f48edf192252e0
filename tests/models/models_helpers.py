"""Shared helpers of the model-provider tests (a uniquely named module: tests/ has no
packages)."""

from __future__ import annotations

from flowc.config import ProjectConfig

__all__ = ["KEY", "KEY_ENV", "PROTOCOLS", "Sleeps", "config_for", "project"]

KEY = "sk-test-123"
KEY_ENV = "FLOWC_TEST_MODEL_KEY"
PROTOCOLS = ("openai", "anthropic")


class Sleeps(list):
    """An injectable sleep that only remembers how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def config_for(srv, protocol: str, alias: str = "default", **settings):
    settings.setdefault("api_key_env", KEY_ENV)
    settings.setdefault("timeout", 5.0)
    settings.setdefault("max_retries", 2)
    return srv.model_config(alias, protocol, **settings)


def project(*configs) -> ProjectConfig:
    return ProjectConfig(None, {c.alias: c for c in configs})
