"""A real `flowc lsp` over stdio, driven by pytest-lsp (one server per test module)."""

from __future__ import annotations

import pytest_lsp
from lsp_harness import CONFIG, ROOT
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
        root_uri=ROOT.as_uri(),
    ))
    yield
    await lsp_client.shutdown_session()


