"""Fixtures for the model-provider tests: a real fake endpoint on loopback, instant sleeps."""

from __future__ import annotations

import pytest
from models_helpers import KEY, KEY_ENV, Sleeps

from flowc.runtime.models.anthropic import AnthropicProvider
from flowc.runtime.models.fakeserver import FakeModelServer
from flowc.runtime.models.openai import OpenAIProvider


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeModelServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def providers(sleeps):
    made = {"openai": OpenAIProvider(sleep=sleeps), "anthropic": AnthropicProvider(sleep=sleeps)}
    yield made
    for p in made.values():
        p.close()
