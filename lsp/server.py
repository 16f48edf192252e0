"""`flowc lsp`: the language server, a thin adapter from LSP requests to the modules here.

Each handler converts positions through the document's codec, asks the latest analysis, and
converts the answer back. Checks run on open, and on change after a short debounce (several
quick edits make one check); a request that needs positions (hover, rename, ...) first brings
the analysis up to date with the text, so answers always match what the user sees.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer

from flowc import __version__
from flowc.compiler.codes import INTERNAL_ERROR
from flowc.compiler.discovery import JS_FLOW_SUFFIXES

from . import outline
from .analysis import Analysis, Analyzer
from .convert import to_lsp_diagnostics
from .documents import Document, path_to_uri, uri_to_path
from .positions import PositionCodec

if TYPE_CHECKING:
    from . import navigation
    from .symbols import Occurrence

# The feature modules (completion, hover, navigation, actions) are imported on their first
# request: the first diagnostics need none of them (bench/lsp.py times the start-up).

__all__ = ["FlowLanguageServer", "Refused", "create_server", "quiet_expected_errors"]

log = logging.getLogger("flowc.lsp")

_REQUEST_FAILED = -32803


class Refused(JsonRpcException):
    """An expected refusal of a request (a rename that would collide, nothing to rename):
    the client gets an error answer with the reason; the log gets no traceback."""

    def __init__(self, message: str):
        super().__init__(message, code=_REQUEST_FAILED)


class _QuietExpected(logging.Filter):
    """Drops the log records of expected events that pygls and asyncio report as errors: a
    `Refused` request (pygls logs every error answer with its traceback) and the
    `SystemExit` by which pygls ends a TCP session on `exit` (asyncio reports it as an
    unhandled exception of the connection's task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, Refused):
            log.info("refused: %s", exc)
            return False
        return not (isinstance(exc, SystemExit) and exc.code in (0, None))


def quiet_expected_errors() -> None:
    """Install the filter (once) on the loggers that report those events."""
    for name in ("pygls.protocol.json_rpc", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietExpected) for f in logger.filters):
            logger.addFilter(_QuietExpected())


class FlowLanguageServer(LanguageServer):
    def __init__(self, skill_dirs: list[Path] | None = None):
        super().__init__("flowc", __version__,
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.docs: dict[str, Document] = {}
        self.analyses: dict[str, Analysis] = {}
        self.analyzer = Analyzer(skill_dirs)
        self.debounce = 0.03
        self.encoding = "utf-16"
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._last_check: dict[str, float] = {}

    # ---- analysis --------------------------------------------------------------------------
    def analyze(self, uri: str) -> Analysis | None:
        """Check the document now (if its text changed since the last check) and publish."""
        doc = self.docs.get(uri)
        if doc is None:
            return None
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        an = self.analyses.get(uri)
        if an is not None and an.version == doc.version and an.source.text is doc.text:
            return an
        try:
            an = self.analyzer.analyze(doc)
        except Exception:  # a bug in flowc: say so, keep serving
            log.error("internal error while checking %s:\n%s", uri, traceback.format_exc())
            self.window_log_message(lsp.LogMessageParams(
                lsp.MessageType.Error, f"flowc: internal error while checking {uri}:\n"
                f"{traceback.format_exc()}"))
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
                uri, [lsp.Diagnostic(lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
                                     "internal error in flowc (a bug): see the server log",
                                     severity=lsp.DiagnosticSeverity.Error,
                                     code=INTERNAL_ERROR, source="flowc")], doc.version))
            return self.analyses.get(uri)
        self.analyses[uri] = an
        try:
            self._last_check[uri] = asyncio.get_running_loop().time()
        except RuntimeError:  # not inside the event loop (a direct call)
            pass
        diags = to_lsp_diagnostics(an.diagnostics, an.source, doc.codec, uri)
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri, diags, doc.version))
        return an

    def schedule(self, uri: str) -> None:
        """Check soon: at once after a quiet spell, else when the edits pause for `debounce`.

        The first keystroke after a pause is checked straight away (in the next turn of the
        event loop, after any messages already read); keystrokes that follow within the
        debounce window make one check when they stop.
        """
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._last_check.get(uri, 0.0) >= self.debounce
        delay = 0.0 if quiet and timer is None else self.debounce
        self._timers[uri] = loop.call_later(delay, self.analyze, uri)

    def recheck_all(self) -> None:
        self.analyzer.invalidate()
        for uri in list(self.docs):
            self.analyses.pop(uri, None)
            self.analyze(uri)

    def fresh(self, uri: str) -> tuple[Document, Analysis] | tuple[None, None]:
        doc = self.docs.get(uri)
        if doc is None:
            return None, None
        an = self.analyze(uri)
        if an is None or an.source.text is not doc.text:
            return doc, None
        return doc, an

    def occurrence(self, uri: str, position: lsp.Position
                   ) -> tuple[Document, Analysis, Occurrence] | None:
        """The up-to-date document, its analysis and what stands at `position`; None when
        there is no analysis matching the text or nothing stands there."""
        doc, an = self.fresh(uri)
        if an is None:
            return None
        occ = an.index.at(doc.codec.offset(position))
        if occ is None:
            return None
        return doc, an, occ

    def location(self, target: navigation.Target, doc: Document) -> lsp.Location:
        if target.path is None:
            return lsp.Location(doc.uri, doc.codec.range(target.span.start, target.span.end))
        if target.span is not None and target.source_text is not None:
            codec = PositionCodec(target.source_text, self.encoding)
            return lsp.Location(path_to_uri(target.path),
                                codec.range(target.span.start, target.span.end))
        pos = lsp.Position(target.line, 0)
        return lsp.Location(path_to_uri(target.path), lsp.Range(pos, pos))


def _options(params: lsp.InitializeParams) -> dict:
    opts = params.initialization_options
    return opts if isinstance(opts, dict) else {}


def create_server(skill_dirs: list[Path] | None = None) -> FlowLanguageServer:
    quiet_expected_errors()
    server = FlowLanguageServer(skill_dirs)

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: FlowLanguageServer, params: lsp.InitializeParams):
        opts = _options(params)
        root = None
        if params.root_uri:
            root = uri_to_path(params.root_uri)
        elif params.workspace_folders:
            root = uri_to_path(params.workspace_folders[0].uri)
        extra = [Path(p) for p in opts.get("skills", []) if isinstance(p, str)]
        locked = opts.get("locked", "auto")
        ls.analyzer = Analyzer([*(skill_dirs or []), *extra],
                               locked=locked if locked in (True, False, "auto") else "auto",
                               root=root)
        debounce = opts.get("debounceMs")
        if isinstance(debounce, int | float) and 0 <= debounce <= 5000:
            ls.debounce = debounce / 1000
        enc = ls.workspace.position_encoding or "utf-16"
        ls.encoding = str(getattr(enc, "value", enc))

    @server.feature(lsp.INITIALIZED)
    def initialized(ls: FlowLanguageServer, params: lsp.InitializedParams):
        caps = ls.client_capabilities
        dyn = caps.workspace and caps.workspace.did_change_watched_files
        if dyn and dyn.dynamic_registration:
            watchers = [lsp.FileSystemWatcher(glob_pattern=g) for g in
                        ("**/*.flow", "**/SKILL.md", "**/flow.lock", "**/flowc.toml")]
            ls.client_register_capability(lsp.RegistrationParams([lsp.Registration(
                "flowc-watch", lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                lsp.DidChangeWatchedFilesRegistrationOptions(watchers))]))

    # ---- document sync -------------------------------------------------------------------
    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: FlowLanguageServer, params: lsp.DidOpenTextDocumentParams):
        td = params.text_document
        path = uri_to_path(td.uri)
        if path is not None and path.name.lower().endswith(JS_FLOW_SUFFIXES):
            # JavaScript Flow's `*.js.flow`: not a flow, whatever the editor took it for
            ls.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(td.uri, [], td.version))
            return
        ls.docs[td.uri] = Document(td.uri, td.text, td.version, ls.encoding)
        ls.analyses.pop(td.uri, None)
        ls.analyze(td.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: FlowLanguageServer, params: lsp.DidChangeTextDocumentParams):
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return
        doc.apply(params.content_changes, params.text_document.version)
        ls.schedule(doc.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: FlowLanguageServer, params: lsp.DidSaveTextDocumentParams):
        # another open flow may import this one, or read its folder's lock
        others = [u for u in ls.docs if u != params.text_document.uri]
        if others:
            ls.recheck_all()

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: FlowLanguageServer, params: lsp.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        ls.docs.pop(uri, None)
        ls.analyses.pop(uri, None)
        ls.analyzer.forget(uri)
        timer = ls._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri, []))

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched(ls: FlowLanguageServer, params: lsp.DidChangeWatchedFilesParams):
        ls.recheck_all()

    # ---- language features ---------------------------------------------------------------
    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: FlowLanguageServer, params: lsp.HoverParams):
        found = ls.occurrence(params.text_document.uri, params.position)
        if found is None:
            return None
        doc, an, occ = found
        from . import hover

        text = hover.hover_text(an, occ)
        if not text:
            return None
        return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text),
                         doc.codec.range(occ.span.start, occ.span.end))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: FlowLanguageServer, params: lsp.DefinitionParams):
        found = ls.occurrence(params.text_document.uri, params.position)
        if found is None:
            return None
        doc, an, occ = found
        from . import navigation

        targets = navigation.definition(an, occ)
        return [ls.location(tg, doc) for tg in targets] or None

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def on_references(ls: FlowLanguageServer, params: lsp.ReferenceParams):
        found = ls.occurrence(params.text_document.uri, params.position)
        if found is None:
            return None
        doc, an, occ = found
        from . import navigation

        spans = navigation.references(an, occ, params.context.include_declaration)
        return [lsp.Location(doc.uri, doc.codec.range(sp.start, sp.end)) for sp in spans]

    @server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
    def on_prepare_rename(ls: FlowLanguageServer, params: lsp.PrepareRenameParams):
        from . import navigation

        found = ls.occurrence(params.text_document.uri, params.position)
        if found is None or found[2].symbol.kind not in navigation.RENAMEABLE:
            return None
        doc, _, occ = found
        return lsp.PrepareRenamePlaceholder(doc.codec.range(occ.span.start, occ.span.end),
                                            occ.symbol.name)

    @server.feature(lsp.TEXT_DOCUMENT_RENAME)
    def on_rename(ls: FlowLanguageServer, params: lsp.RenameParams):
        from . import navigation

        doc, an = ls.fresh(params.text_document.uri)
        if an is None:
            return None
        occ = an.index.at(doc.codec.offset(params.position))
        if occ is None:
            raise Refused("nothing to rename here")
        try:
            edits = navigation.rename_edits(an, occ, params.new_name)
        except navigation.RenameRefused as e:
            raise Refused(str(e)) from None
        return lsp.WorkspaceEdit(changes={doc.uri: [
            lsp.TextEdit(doc.codec.range(sp.start, sp.end), new) for sp, new in edits]})

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                    lsp.CompletionOptions(trigger_characters=[".", "@", "[", "(", ",", " "]))
    def on_completion(ls: FlowLanguageServer, params: lsp.CompletionParams):
        doc, an = ls.fresh(params.text_document.uri)
        if doc is None:
            return None
        from . import completion

        offset = doc.codec.offset(params.position)
        items = completion.complete(an or ls.analyses.get(doc.uri), doc.text, offset, doc.codec)
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls: FlowLanguageServer, params: lsp.DocumentSymbolParams):
        doc, an = ls.fresh(params.text_document.uri)
        if an is None:
            return None
        return outline.document_symbols(an, doc.codec)

    @server.feature(lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
                    lsp.SemanticTokensLegend(token_types=outline.TOKEN_TYPES,
                                             token_modifiers=outline.TOKEN_MODIFIERS))
    def on_tokens(ls: FlowLanguageServer, params: lsp.SemanticTokensParams):
        doc, an = ls.fresh(params.text_document.uri)
        if an is None:
            return lsp.SemanticTokens(data=[])
        return lsp.SemanticTokens(data=outline.semantic_tokens(an, doc.codec))

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def on_format(ls: FlowLanguageServer, params: lsp.DocumentFormattingParams):
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return None
        from . import actions

        edits = actions.format_edits(doc.text, doc.display_path, doc.codec)
        if edits is None:
            ls.window_show_message(lsp.ShowMessageParams(
                lsp.MessageType.Warning, "flowc: the file has syntax errors; not formatted"))
            return []
        return edits

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
    def on_code_action(ls: FlowLanguageServer, params: lsp.CodeActionParams):
        doc, an = ls.fresh(params.text_document.uri)
        if an is None:
            return None
        from . import actions

        return actions.quick_fixes(an, doc.codec, doc.uri, params.range, params.context)

    @server.command("flowc.stats")
    def stats(ls: FlowLanguageServer, *args):
        """Counters for tests and troubleshooting: checks run, pieces parsed and reused."""
        uri = args[0] if args and isinstance(args[0], str) else None
        out = {"checks": ls.analyzer.checks, "documents": len(ls.docs)}
        st = ls.analyzer.parser_stats(uri) if uri else None
        if st is not None:
            out.update(pieces=st.pieces, parsed=st.parsed, reused=st.reused,
                       total_parsed=st.total_parsed)
        return out

    return server
