"""Helpers for driving the real `flowc lsp` over stdio with pytest-lsp."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SERVER = [sys.executable, "-m", "flowc", "lsp"]


def make_client() -> LanguageClient:
    """pytest-lsp's test client, recording the version of each published diagnostics too."""
    from pygls.protocol import default_converter
    from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

    client = LanguageClient(converter_factory=default_converter)
    client.published = {}  # uri -> (count, version) of the last publishDiagnostics

    def publish(client: LanguageClient, params: lsp.PublishDiagnosticsParams):
        client.diagnostics[params.uri] = params.diagnostics
        count, _ = client.published.get(params.uri, (0, None))
        client.published[params.uri] = (count + 1, params.version)

    client.registrations = []

    def register(client: LanguageClient, params: lsp.RegistrationParams):
        client.registrations.extend(params.registrations)

    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES,
                                   lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish,
                                   lsp.CLIENT_REGISTER_CAPABILITY: register})
    return client


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=make_client)


class Doc:
    """One document opened in the server under test; `uri`, `text`, and `pos(...)`."""

    def __init__(self, client: LanguageClient, uri: str, text: str):
        self.client = client
        self.uri = uri
        self.text = text
        self.version = 1

    @property
    def id(self) -> lsp.TextDocumentIdentifier:
        return lsp.TextDocumentIdentifier(self.uri)

    def pos(self, needle: str, delta: int = 0, nth: int = 0) -> lsp.Position:
        """The position of the `nth` occurrence of `needle`, plus `delta` characters."""
        at = -1
        for _ in range(nth + 1):
            at = self.text.index(needle, at + 1)
        at += delta
        line = self.text.count("\n", 0, at)
        col = at - (self.text.rfind("\n", 0, at) + 1)
        # UTF-16 columns, as the client counts them
        prefix = self.text[at - col:at]
        return lsp.Position(line, len(prefix.encode("utf-16-le")) // 2)

    async def change(self, new_text: str, *, wait: bool = True):
        """Replace the whole text (one full change) and wait for the new diagnostics."""
        self.version += 1
        self.text = new_text
        before = published_count(self.client, self.uri)
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=self.version, uri=self.uri),
            [lsp.TextDocumentContentChangeWholeDocument(text=new_text)]))
        if wait:
            await wait_diagnostics(self.client, self.uri, self.version, before)

    async def edit(self, start: lsp.Position, end: lsp.Position, text: str, new_text: str):
        """An incremental change; `new_text` is the whole text after it (kept for pos())."""
        self.version += 1
        self.text = new_text
        before = published_count(self.client, self.uri)
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=self.version, uri=self.uri),
            [lsp.TextDocumentContentChangePartial(range=lsp.Range(start, end), text=text)]))
        await wait_diagnostics(self.client, self.uri, self.version, before)

    @property
    def diagnostics(self) -> list[lsp.Diagnostic]:
        return list(self.client.diagnostics.get(self.uri, ()))

    def codes(self) -> list[str]:
        return sorted(str(d.code) for d in self.diagnostics)

    def close(self) -> None:
        self.client.text_document_did_close(lsp.DidCloseTextDocumentParams(self.id))


def published_count(client: LanguageClient, uri: str) -> int:
    return client.published.get(uri, (0, None))[0]


async def wait_diagnostics(client: LanguageClient, uri: str, version: int, after: int,
                           timeout: float = 20.0) -> None:
    """Wait until diagnostics for `uri` at `version` (or later) arrive, after the `after`th
    publication for that uri."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        count, got = client.published.get(uri, (0, None))
        if count > after and got is not None and got >= version:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"no diagnostics for {uri} at version {version}")
        await asyncio.sleep(0.002)


async def open_doc(client: LanguageClient, path: Path | None = None, text: str | None = None,
                   name: str = "untitled.flow") -> Doc:
    if path is not None:
        path = path.resolve()
        text = path.read_text(encoding="utf-8") if text is None else text
        uri = path.as_uri()
    else:
        uri = (ROOT / "tests" / "lsp" / "scratch" / name).as_uri()
    doc = Doc(client, uri, text)
    before = published_count(client, uri)
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri, "flow", 1, text)))
    await wait_diagnostics(client, uri, 1, before)
    return doc
