"""The VS Code extension: valid JSON, files that exist, a grammar that knows the keywords."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VSCODE = ROOT / "editors" / "vscode"


def _json(name: str) -> dict:
    return json.loads((VSCODE / name).read_text(encoding="utf-8"))


def _grammar_keywords() -> set[str]:
    """Every keyword of grammar/flow.lark: keyword terminals and quoted words in rules."""
    text = (ROOT / "grammar" / "flow.lark").read_text(encoding="utf-8")
    words = set(re.findall(r'^[A-Z_]+:\s*"([a-z]+)"\s*$', text, re.M))
    words |= set(re.findall(r'"([a-z]+)"', text))
    return words


def test_package_json_points_at_files_that_exist():
    pkg = _json("package.json")
    (lang,) = [lang for lang in pkg["contributes"]["languages"] if lang["id"] == "flow"]
    assert lang["id"] == "flow" and ".flow" in lang["extensions"]
    assert (VSCODE / lang["configuration"]).is_file()
    (grammar,) = pkg["contributes"]["grammars"]
    assert grammar["language"] == "flow" and (VSCODE / grammar["path"]).is_file()
    # `main` is the bundle `npm run bundle` builds from extension.js (test_vsix_is_bundled)
    assert pkg["main"] == "./dist/extension.js" and "extension.js --bundle" in \
        pkg["scripts"]["bundle"] and (VSCODE / "extension.js").is_file()
    assert pkg["scripts"]["vscode:prepublish"] == "npm run bundle"
    assert "vscode-languageclient" in pkg["dependencies"]
    assert pkg["contributes"]["configuration"]["properties"]["flowc.command"]["default"] == \
        ["flowc", "lsp"]


def test_extension_starts_flowc_lsp_with_the_settings():
    js = (VSCODE / "extension.js").read_text(encoding="utf-8")
    assert "LanguageClient" in js and '"flowc.command"' not in js
    for key in ("skills", "locked", "debounceMs"):
        assert key in js
    assert 'language: "flow"' in js


def test_language_configuration_is_valid():
    conf = _json("language-configuration.json")
    assert conf["comments"]["lineComment"] == "//"
    for pair in conf["brackets"]:
        assert len(pair) == 2
    re.compile(conf["indentationRules"]["increaseIndentPattern"])


def _patterns(node):
    if isinstance(node, dict):
        for key in ("match", "begin", "end"):
            if key in node:
                yield node[key]
        for v in node.values():
            yield from _patterns(v)
    elif isinstance(node, list):
        for v in node:
            yield from _patterns(v)


def test_grammar_is_valid_and_covers_every_keyword():
    g = _json("syntaxes/flow.tmLanguage.json")
    assert g["scopeName"] == "source.flow"
    for pat in _patterns(g):
        # Oniguruma's syntax is a superset of what we use; back-references in `end` aside,
        # every pattern must compile as a Python regular expression too
        if not re.fullmatch(r"\\\d", pat):
            re.compile(pat)
    for inc in re.findall(r'"include": "#([\w-]+)"', json.dumps(g)):
        assert inc in g["repository"], inc
    keyword_rules = [p["match"] for p in g["repository"]["keywords"]["patterns"]]
    missing = [w for w in sorted(_grammar_keywords())
               if not any(re.search(rx, f" {w} ") for rx in keyword_rules)]
    assert missing == []


def test_grammar_scopes_strings_holes_and_comments():
    g = _json("syntaxes/flow.tmLanguage.json")
    repo = g["repository"]
    assert re.match(repo["comment"]["match"], "// note")
    double = repo["strings"]["patterns"][2]
    assert double["name"].startswith("string.quoted")
    hole = next(p for p in double["patterns"] if p.get("name", "").startswith("meta.template"))
    assert re.match(hole["begin"], "{client.name}") and not re.match(hole["begin"], "{{")
    assert re.fullmatch(repo["version-spec"]["match"], "@ ^1.3")
    assert re.fullmatch(repo["numbers"]["patterns"][0]["match"], "1h30m")


def test_javascript_flow_files_are_not_taken_for_flows():
    # VS Code picks the longest matching extension: `.js.flow` goes to JavaScript
    from flowc.compiler.discovery import JS_FLOW_SUFFIXES, is_flow_file

    langs = _json("package.json")["contributes"]["languages"]
    owner = {ext: lang["id"] for lang in langs for ext in lang.get("extensions", [])}
    assert owner[".flow"] == "flow"
    for suffix in JS_FLOW_SUFFIXES:
        assert owner.get(suffix, "").startswith("javascript"), suffix
        assert not is_flow_file("types" + suffix)


def test_vsix_is_bundled_and_minimal(tmp_path):
    """`npm ci` and `npm run package` (esbuild, then vsce) in a copy of the extension: the
    VSIX holds the bundle, the grammar and the manifest, and no node_modules."""
    if not (shutil.which("npm") and shutil.which("node")):
        pytest.skip("needs node and npm (Debian's nodejs and npm)")
    work = tmp_path / "vscode"
    shutil.copytree(VSCODE, work, ignore=shutil.ignore_patterns("node_modules", "dist",
                                                                "*.vsix"))
    env = {**os.environ, "npm_config_fund": "false", "npm_config_audit": "false"}
    for argv in (["npm", "ci", "--silent"], ["npm", "run", "--silent", "package"]):
        r = subprocess.run(argv, cwd=work, capture_output=True, text=True, env=env,
                           timeout=600)
        assert r.returncode == 0, (argv, r.stdout[-2000:], r.stderr[-2000:])
    (vsix,) = work.glob("*.vsix")
    with zipfile.ZipFile(vsix) as z:
        names = {n.removeprefix("extension/") for n in z.namelist()}
        bundle = z.read("extension/dist/extension.js").decode()
    assert {"package.json", "dist/extension.js", "syntaxes/flow.tmLanguage.json",
            "language-configuration.json"} <= names
    assert not [n for n in names if "node_modules" in n or n in ("extension.js",
                                                                  "package-lock.json")]
    assert "LanguageClient" in bundle and 'require("vscode")' in bundle
