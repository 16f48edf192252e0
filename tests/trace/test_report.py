"""`flowc report`: the self-contained HTML page, checked as text and in a real headless Chromium
(the page served on loopback: the browser must ask for nothing but the page itself)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import threading
import zlib
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from trace_world import T0, call

from flowc.cli import main
from flowc.runtime.report import STATUS_COLORS, ReportError, build_report, collect

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def nodes_in(html: str) -> dict[str, str]:
    return dict(re.findall(r'<g class="node" data-node="([^"]+)" data-status="([^"]+)">', html))


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of <style> elements."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def assert_self_contained(html: str) -> None:
    """Nothing in the page can make a browser fetch anything."""
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    page = Tags(html)
    names = {t for t, _ in page.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "audio", "video",
                        "source", "image", "use", "foreignobject", "a", "form", "base"}
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        for key in ("href", "xlink:href", "action", "poster", "background"):
            assert attrs.get(key) in (None, "data:,"), (tag, attrs)
        for value in attrs.values():
            for target in re.findall(r"url\(([^)]*)\)", value or ""):
                assert target.startswith("#"), (tag, attrs)
    assert [a for t, a in page.tags if t == "link"] == [{"rel": "icon", "href": "data:,"}]
    css = "".join(page.styles)
    assert "@import" not in css and "url(" not in css


def test_a_run_report_has_the_graph_latency_and_cost(world):
    html, title = build_report(world.store, world.ok_run)
    assert title == f"run {world.ok_run} of client_report"
    assert_self_contained(html)
    assert nodes_in(html) == {"stats": "succeeded", "draft": "succeeded", "review": "succeeded",
                              "send": "succeeded", "rework": "skipped"}
    assert html.count('<path class="edge"') >= 6            # stats→draft, draft→review, ...
    assert "stroke-dasharray" in html                        # match review → send | rework
    # latency: one row per node that finished in any run of the flow, this run marked
    rows = re.findall(r'<g class="dist" data-node="([^"]+)">', html)
    assert rows == ["stats", "draft", "review", "send"]
    assert html.count('class="this-run"') == 4
    assert "stats: 4 executions" in html                    # 4 runs of client_report
    assert "review: 3 executions" in html                   # the failed run never got there
    # cost: this run's agent, by node and by model
    assert re.findall(r'<g class="bar" data-key="([^"]+)">', html) == \
        ["draft", "openai/gpt-4o-mini"]
    assert "draft: $0.0053, 3,500 tokens, 3 calls" in html
    assert html.count("<tr") == 1 + 4 and 'class="focus"' in html


def test_a_flow_report_covers_its_runs(world):
    html, title = build_report(world.store, "client_report")
    assert title == "flow client_report"
    assert_self_contained(html)
    assert "this-run" not in html
    # coloured by the latest run; the hover text counts statuses over all four runs
    assert nodes_in(html)["draft"] == "succeeded"
    assert "draft (agent): succeeded" in html and "failed 1, succeeded 3" in html
    assert "draft: $0.0159, 10,500 tokens, 10 calls" in html
    assert "$0.0159" in html


def test_a_loop_of_flow_calls_reports_items_and_sub_run_cost(world):
    data = collect(world.store, world.batch_run)
    assert data.latencies == {"reports[…]": [99.0, 99.0]}
    assert data.cost_by_node["client_report.draft"][2] == 6
    html, _ = build_report(world.store, world.batch_run)
    assert nodes_in(html) == {"reports": "waiting", "tally": "not_run"}
    assert html.count('class="this-run"') == 2


def test_the_page_escapes_what_it_shows(world):
    s = world.store
    r = s.create_run("client_report", world.report_plan, {}, status="running").id
    s.start_node(r, "stats")
    s.finish_node(r, "stats", -1, "failed", error="<script>alert('x')</script>")
    s.record_model_call(call(r, "stats", seq=1, start=T0, end=T0 + 1,
                             model='<img src="http://evil.example/x.png">'))
    s.set_run_status(r, "failed", error="<b>bold</b> & <script>boom()</script>")
    html, _ = build_report(s, r)
    assert_self_contained(html)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in html
    assert "<img" not in html


def test_limit_and_unknown_targets(world):
    data = collect(world.store, "client_report", limit=2)
    assert len(data.runs) == 2
    # a run outside the recent window is still the report's focus
    data = collect(world.store, world.ok_run, limit=1)
    assert [r.id for r in data.runs] == [world.ok_run]
    with pytest.raises(ReportError, match="no run or flow `nothing` in the store"):
        build_report(world.store, "nothing")


def test_flowc_report_writes_the_file(world, tmp_path, capsys):
    out = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "report", "client_report", "--html", str(out),
                           "--store", str(world.path))
    assert code == 0, err
    assert err.strip() == f"wrote {out} (flow client_report)"
    assert out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(("argv", "message", "code"), [
    (["report", "nothing", "--html", "{tmp}/r.html"], "no run or flow `nothing`", 2),
    (["report", "client_report"], "the following arguments are required: --html", 2),
    (["report", "client_report", "--html", "{tmp}/missing/r.html"], "does not exist", 2),
    (["report", "client_report", "--html", "{tmp}"], "is a folder: give a file name", 2),
    (["report", "client_report", "--html", "{tmp}/r.html", "--limit", "0"],
     "--limit must be at least 1", 2),
    (["report", "client_report", "--html", "{tmp}/r.html", "--limit", "many"],
     "invalid int value: 'many'", 2),
])
def test_flowc_report_bad_command_lines_are_one_line(world, tmp_path, capsys, argv, message,
                                                     code):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    got, _, err = run_cli(capsys, *argv, "--store", str(world.path))
    assert got == code
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# ------------------------------------------------------------------------- in a real browser


def chromium() -> str:
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail("Chromium is required in CI for the report's browser test: "
                    "apt-get install -y chromium")
    pytest.skip("no Chromium here (apt-get install -y chromium); CI runs this test")


def browse(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-default-apps", "--disable-extensions",
         f"--user-data-dir={profile}", *extra, url],
        capture_output=True, text=True, timeout=120, check=False)


class Site:
    """Serves one folder on loopback and records every path asked for."""

    def __init__(self, folder: Path):
        self.paths: list[str] = []
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0),
                                          partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) to RGB bytes."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    out, prev, i = bytearray(), bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) \
                    & 0xFF
        prev = line
        out += line if bpp == 3 else b"".join(bytes(line[k:k + 3])
                                              for k in range(0, stride, 4))
    return width, height, bytes(out)


def count_color(pixels: bytes, hex_color: str) -> int:
    rgb = bytes.fromhex(hex_color.lstrip("#"))
    return sum(1 for k in range(0, len(pixels), 3) if pixels[k:k + 3] == rgb)


def test_the_report_renders_in_chromium_and_fetches_nothing(world, tmp_path):
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    html, _ = build_report(world.store, world.failed_run)
    # served without its Content-Security-Policy: the page itself must ask for nothing
    csp = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n', html)
    assert csp is not None
    (site_dir / "report.html").write_text(html.replace(csp.group(0), ""), encoding="utf-8")
    site = Site(site_dir)
    try:
        dom = browse(tmp_path, f"{site.url}/report.html", "--dump-dom")
        shot = tmp_path / "shot.png"
        browse(tmp_path, f"{site.url}/report.html", f"--screenshot={shot}",
               "--window-size=1200,1400", "--hide-scrollbars")
    finally:
        site.close()
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the browser asked for the page and for nothing else (no font, image, script, icon)
    assert site.paths == ["/report.html", "/report.html"], site.paths
    body = dom.stdout
    # the browser's DOM holds the charts as SVG: graph nodes, distributions, cost bars
    assert len(re.findall(r'<g class="node" data-node=', body)) == 5
    assert 'data-node="draft" data-status="failed"' in body
    assert len(re.findall(r'<rect class="box"', body)) == 4   # stats .. send, over history
    assert len(re.findall(r'<g class="bar" data-key=', body)) == 2
    assert body.count("<svg") == 4 and "Latency per node" in body and "Cost by model" in body
    # and paints them: the failed node, the succeeded one, the not-run ones and the bars
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1200, 1400)
    assert count_color(pixels, STATUS_COLORS["failed"]) > 3000       # draft's box and more
    assert count_color(pixels, STATUS_COLORS["succeeded"]) > 3000    # stats' box
    assert count_color(pixels, STATUS_COLORS["not_run"]) > 3 * 3000  # review, send, rework
