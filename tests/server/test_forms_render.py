"""The review page's forms and renderings, without a server: gate fields typed from posted
text by the CLI's rules (never reading a local file), ask answers and their choices, the diff
of edits, Markdown sanitised, shown values escaped and bounded, CSV previews of bad bytes,
which files are shown inline and the Content-Disposition of a download. Hypothesis fuzzes the
parsers and renderers with hostile text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from flowc.compiler import types as t
from flowc.runtime.validate import field_problem, schema_errors
from flowc.server import forms, render
from flowc.server.forms import Change, Field, answer_field, changes, form_fields, parse_form

S = t.json_schema
FILE = S(t.FileT())
PAYMENT = t.RecordT("Payment", (("iban", t.STR), ("amount", t.FLOAT),
                                ("currency", t.STR), ("memo", t.OptionalT(t.STR))),
                    frozenset({"currency"}), (("currency", "EUR"),))
INVOICE = t.RecordT("Invoice", (("scan", t.FileT()), ("total", t.FLOAT)))
CURRENCY = t.EnumT("Currency", ("EUR", "USD", "GBP"))

FIELDS = [
    {"name": "title", "schema": S(t.STR)},
    {"name": "body", "schema": S(t.STR)},
    {"name": "count", "schema": S(t.INT)},
    {"name": "refund", "schema": S(t.FLOAT)},
    {"name": "urgent", "schema": S(t.BOOL)},
    {"name": "currency", "schema": S(CURRENCY)},
    {"name": "maybe_currency", "schema": S(t.OptionalT(CURRENCY))},
    {"name": "maybe_count", "schema": S(t.OptionalT(t.INT))},
    {"name": "maybe_note", "schema": S(t.OptionalT(t.STR))},
    {"name": "maybe_flag", "schema": S(t.OptionalT(t.BOOL))},
    {"name": "tags", "schema": S(t.ListT(t.STR))},
    {"name": "payment", "schema": S(PAYMENT)},
    {"name": "limits", "schema": S(t.MapT(t.INT))},
    {"name": "extra", "schema": S(t.JSON)},
    {"name": "due", "schema": S(t.DATE)},
    {"name": "scan", "schema": FILE},
    {"name": "invoice", "schema": S(INVOICE)},
]
HANDLE = {"file_id": "F1", "path": "/ws/run/n/scan.pdf", "name": "scan.pdf", "sha256": "ab",
          "size": 2048}
PREFILL = {"title": "Refund", "body": "line 1\nline 2\n", "count": 3, "refund": 60.0,
           "urgent": True, "currency": "EUR", "maybe_currency": None, "maybe_count": None,
           "maybe_note": None, "maybe_flag": None, "tags": ["a", "b"],
           "payment": {"iban": "DE00", "amount": 12.5, "currency": "EUR", "memo": None},
           "limits": {"daily": 10}, "extra": {"k": [1, 2]}, "due": "2024-05-01",
           "scan": HANDLE, "invoice": {"scan": HANDLE, "total": 99.5}}
HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "../../etc/passwd",
           "a\x00b", "\u202eexe.txt", "x" * 5000, "\r\nSet-Cookie: a=b", "javascript:alert(1)",
           "@/etc/passwd", "{{ 7*7 }}", "\ud800"]


def by_name(fields: list[Field]) -> dict[str, Field]:
    return {f.name: f for f in fields}


def parse(posted, **kw):
    kw.setdefault("max_bytes", 1 << 20)
    return parse_form(FIELDS, posted, **kw)


# ---- form_fields ------------------------------------------------------------------------------

def test_each_type_gets_its_input_kind_text_and_validation_attributes():
    f = by_name(form_fields(FIELDS, PREFILL))
    assert [x.name for x in form_fields(FIELDS, PREFILL)] == [d["name"] for d in FIELDS]
    assert (f["title"].kind, f["title"].text) == ("text", "Refund")
    assert f["body"].kind == "textarea" and f["body"].text == "line 1\nline 2\n"
    assert f["count"].kind == "number" and f["count"].attrs["step"] == "1"
    assert f["count"].attrs["required"] == "required" and f["count"].text == "3"
    # a float that is a whole number reads as a person writes it; any step
    assert f["refund"].text == "60" and f["refund"].attrs["step"] == "any"
    assert f["urgent"].kind == "checkbox" and f["urgent"].text == "true"
    assert "required" not in f["urgent"].attrs  # a required checkbox would have to be ticked
    assert f["currency"].kind == "select" and f["currency"].attrs.get("required")
    assert f["currency"].options == (("EUR", "EUR"), ("USD", "USD"), ("GBP", "GBP"))
    # optional enum: an empty option first, selected for none
    assert f["maybe_currency"].options[0][0] == "" and f["maybe_currency"].text == ""
    assert not f["maybe_currency"].required and "required" not in f["maybe_currency"].attrs
    assert f["maybe_count"].kind == "number" and "required" not in f["maybe_count"].attrs
    # an optional bool: true, false or none (a checkbox cannot say none)
    assert f["maybe_flag"].kind == "select"
    assert [v for v, _ in f["maybe_flag"].options] == ["", "true", "false"]
    assert f["tags"].kind == "json" and f["tags"].text == '[\n  "a",\n  "b"\n]'
    assert f["payment"].kind == "json" and '"iban": "DE00"' in f["payment"].text
    assert f["limits"].kind == "json" and f["extra"].kind == "json"
    assert f["due"].attrs["pattern"] == "[0-9]{4}-[0-9]{2}-[0-9]{2}"
    assert f["scan"].kind == "file" and f["scan"].readonly and f["scan"].text == "scan.pdf"
    assert f["invoice"].kind == "json" and "files in it stay" in f["invoice"].help
    # text inputs bound their length by the field limit (never stricter than the server)
    assert f["title"].attrs["maxlength"] == str(1 << 20)
    for x in f.values():
        assert x.prefill_text == x.text and x.kind in forms.KINDS
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in x.attrs.items())


def test_posted_text_replaces_the_input_but_not_the_prefill_text():
    f = by_name(form_fields(FIELDS, PREFILL, posted={"count": "abc", "urgent": ["false"],
                                                     "tags": "[1,"}))
    assert (f["count"].text, f["count"].prefill_text) == ("abc", "3")
    assert (f["urgent"].text, f["urgent"].prefill_text) == ("false", "true")
    assert f["tags"].text == "[1,"


def test_malformed_field_lists_are_skipped_not_raised():
    fields = [None, "x", {"name": 3}, {"name": ""}, {"name": "a", "schema": "nonsense"},
              {"name": "a", "schema": S(t.INT)}]
    out = form_fields(fields, {"a": "text"})
    assert [f.name for f in out] == ["a"] and out[0].kind == "json"
    assert form_fields(None, None) == [] and form_fields("abc", {}) == []
    assert len(form_fields([{"name": f"f{i}", "schema": {}} for i in range(1000)], {})) \
        == forms.MAX_FIELDS


def test_hostile_names_and_prefills_are_kept_as_data():
    fields = [{"name": name, "schema": S(t.STR)} for name in HOSTILE[:4]]
    out = form_fields(fields, {HOSTILE[0]: HOSTILE[1]})
    assert out[0].name == HOSTILE[0] and out[0].text == HOSTILE[1]
    assert "\x00" not in out[3].label  # a label shows no control characters


# ---- parse_form: each kind --------------------------------------------------------------------

@pytest.mark.parametrize(("name", "text", "value"), [
    ("title", "  spaced  ", "  spaced  "),
    ("title", "", ""),
    ("title", "@/etc/passwd", "@/etc/passwd"),   # never a local file
    ("title", "@@x", "@@x"),
    ("body", "a\r\nb\r\n", "a\nb\n"),            # a textarea's line ends
    ("count", "42", 42),
    ("count", " -7 ", -7),
    ("refund", "75.5", 75.5),
    ("refund", "1e3", 1000.0),
    ("refund", "-.5", -0.5),
    ("urgent", "true", True),
    ("urgent", "on", True),
    ("urgent", "no", False),
    ("urgent", ["false", "true"], True),          # hidden `false`, then the ticked box
    ("urgent", ["false"], False),
    ("currency", "USD", "USD"),
    ("maybe_currency", "", None),
    ("maybe_currency", "GBP", "GBP"),
    ("maybe_currency", "null", None),            # as on the command line
    ("maybe_count", "", None),
    ("maybe_count", "null", None),
    ("maybe_count", "5", 5),
    ("maybe_note", "", None),
    ("maybe_note", "null", "null"),              # text is text
    ("maybe_flag", "", None),
    ("maybe_flag", "false", False),
    ("tags", '["x", "<script>"]', ["x", "<script>"]),
    ("tags", "[]", []),
    ("payment", '{"iban": "FR76", "amount": 3}',   # a default is filled in
     {"iban": "FR76", "amount": 3, "currency": "EUR"}),
    ("limits", '{"a": 1, "b": 2}', {"a": 1, "b": 2}),
    ("extra", '"just text"', "just text"),
    ("extra", "null", None),
    ("due", "2025-01-31", "2025-01-31"),
])
def test_good_values_are_typed(name, text, value):
    values, errors = parse({name: text})
    assert errors == {}
    assert values[name] == value and type(values[name]) is type(value)
    assert schema_errors(values[name], next(f["schema"] for f in FIELDS if f["name"] == name),
                         name) == []


@pytest.mark.parametrize(("name", "text", "message"), [
    ("count", "abc", "`count` is a whole number, not `abc`"),
    ("count", "1.5", "`count` is a whole number, not `1.5`"),
    ("count", "1_000", "`count` is a whole number, not `1_000`"),
    ("count", "٣", "`count` is a whole number, not `٣`"),   # digits of another script
    ("count", "", "`count` needs a value: a whole number"),
    ("count", "9" * 400, "too large"),
    ("refund", "nan", "`refund` is a number, not `nan`"),
    ("refund", "1e999", "`refund` is not a finite number (`1e999`)"),
    ("refund", "12,5", "`refund` is a number, not `12,5`"),
    ("refund", "", "`refund` needs a value"),
    ("urgent", "maybe", "`urgent` is true or false, not `maybe`"),
    ("urgent", ["a", "b", "c", "d", "e"], "`urgent` was sent 5 times"),
    ("currency", "JPY", "`currency` is one of EUR, USD, GBP, not `JPY`"),
    ("currency", "", "`currency` needs a value: one of EUR, USD, GBP"),
    ("currency", "eur", "not `eur`"),
    ("maybe_flag", "perhaps", "is true or false"),
    ("tags", "[1]", "`tags[0]` should be text, got 1"),
    ("tags", "a, b", "`tags` is a list of text written as JSON, and `a, b` is not JSON "
                     "(Expecting value at character 1)"),
    ("tags", "", "`tags` needs a value"),
    ("tags", "[NaN]", "NaN is not a JSON number"),
    ("tags", "[" * 150 + "]" * 150, "nested more than 100 levels deep"),
    ("tags", "[" * 100_000, "nested too deeply"),
    ("tags", "[" + "9" * 5000 + "]", "is not JSON"),
    ("payment", '{"iban": "x"}', "`payment.amount` is missing"),
    ("payment", '{"iban": "x", "amount": 1, "evil<script>": 1}', "is not a declared field"),
    ("payment", '[]', "`payment` should be record"),
    ("title", ["a", "b"], "`title` was sent 2 times; it takes one value"),
    ("scan", "/etc/passwd", "`scan` is a file: a file cannot be changed in the browser"),
])
def test_bad_values_have_a_message_naming_the_field(name, text, message):
    values, errors = parse({name: text})
    assert name not in values
    assert message in errors[name], errors[name]
    assert len(errors[name]) < 600


def test_a_value_that_is_not_text_is_refused():
    class Upload:
        filename = "x.pdf"

    values, errors = parse({"title": Upload()})
    assert "title" not in values and "`title` takes text, not Upload" == errors["title"]


def test_unknown_fields_are_an_error_and_bounded():
    values, errors = parse({"title": "ok", "nope": "1", "<script>": "x",
                            **{f"x{i}": "1" for i in range(50)}})
    assert values["title"] == "ok"
    assert errors["_"].startswith("the form has no field `nope`, `<script>`")
    assert "and 47 more" in errors["_"] and len(errors["_"]) < 600


def test_absent_fields_keep_their_prefill_and_an_absent_checkbox_is_false():
    values, errors = parse({"title": "new"}, prefill=PREFILL)
    assert errors == {} and values == {"title": "new", "urgent": False}


def test_an_unchanged_input_gives_the_prefill_exactly():
    posted = {f.name: f.text for f in form_fields(FIELDS, PREFILL) if not f.readonly}
    posted["body"] = posted["body"].replace("\n", "\r\n")   # as a browser sends it
    values, errors = parse(posted, prefill=PREFILL)
    assert errors == {}
    for name, value in values.items():
        assert value is PREFILL[name], name
    assert changes(PREFILL, values) == []
    # without the prefill, the same text reads back to equal values (but for a file in a
    # record, which only the prefill can vouch for)
    values, errors = parse(posted)
    assert list(errors) == ["invoice"] and changes(PREFILL, values) == []


def test_sizes_are_bounded_before_parsing():
    values, errors = parse({"title": "x" * 101}, max_bytes=100)
    assert "more than 0.0976562 KiB" in errors["title"] and "max_field_kb" in errors["title"]
    # within the characters but not the JSON bytes (each é is two bytes, quotes, escapes)
    values, errors = parse({"title": "é" * 60}, max_bytes=100)
    assert "a field may hold at most" in errors["title"]
    values, errors = parse({"tags": '["' + "a" * 90 + '"]'}, max_bytes=100)
    assert errors == {} and len(values["tags"][0]) == 90
    # JSON may be indented beyond the limit; its value is held to it
    values, errors = parse({"tags": '[\n' + " " * 200 + '"' + "a" * 90 + '"]'}, max_bytes=100)
    assert errors == {} and values["tags"] == ["a" * 90]
    values, errors = parse({"tags": '["' + "a" * 97 + '"]'}, max_bytes=100)
    assert "is 101 bytes; a field may hold at most" in errors["tags"]
    values, errors = parse({"tags": " " * 401 + "[]"}, max_bytes=100)
    assert "is more than" in errors["tags"]
    assert by_name(form_fields(FIELDS, PREFILL, max_bytes=100))["tags"].attrs["maxlength"] \
        == "400"


def test_a_record_holding_a_file_may_be_edited_but_its_files_stay():
    handle_text = forms._json_text(HANDLE, None)
    ok = '{"scan": ' + handle_text + ', "total": 10}'
    values, errors = parse({"invoice": ok}, prefill=PREFILL)
    assert errors == {} and values["invoice"] == {"scan": HANDLE, "total": 10}
    for evil in ({"path": "/etc/passwd"}, {**HANDLE, "path": "/etc/passwd"},
                 {"path": "file:///etc/shadow", "name": "x"}):
        bad = '{"scan": ' + forms._json_text(evil, None) + ', "total": 10}'
        values, errors = parse({"invoice": bad}, prefill=PREFILL)
        assert "invoice" not in values
        assert errors["invoice"].startswith("`invoice.scan` is a file: a file cannot be named")
    # without the prefill no file can be kept
    values, errors = parse({"invoice": ok})
    assert "invoice.scan" in errors["invoice"]


def test_a_list_of_files_may_lose_or_reorder_files_but_not_gain_one():
    fields = [{"name": "docs", "schema": S(t.ListT(t.FileT()))}]
    other = {**HANDLE, "file_id": "F2", "name": "b.pdf"}
    prefill = {"docs": [HANDLE, other]}
    text = forms._json_text
    values, errors = parse_form(fields, {"docs": text([other])}, prefill=prefill)
    assert errors == {} and values == {"docs": [other]}
    values, errors = parse_form(fields, {"docs": text([other, {"path": "/etc/hosts"}])},
                                prefill=prefill)
    assert errors["docs"].startswith("`docs[1]` is a file")


def test_a_schema_the_compiler_does_not_write_is_an_error_not_a_crash():
    fields = [{"name": "x", "schema": {"type": "strange"}}]
    values, errors = parse_form(fields, {"x": "1"})
    assert values == {} and "cannot be checked" in errors["x"]


# ---- changes ----------------------------------------------------------------------------------

def test_changes_lists_only_changed_fields_in_form_order():
    values, errors = parse({"count": "4", "title": "Refund", "refund": "60", "urgent": "false",
                            "tags": '["a","b","c"]', "body": "line 1\nline two\n"},
                           prefill=PREFILL)
    assert errors == {}
    got = changes(PREFILL, values)
    assert [c.field for c in got] == ["body", "count", "urgent", "tags"]
    body, count, urgent, tags = got
    assert (count.before, count.after, count.before_text, count.after_text) == (3, 4, "3", "4")
    assert (urgent.before_text, urgent.after_text) == ("true", "false")
    assert tags.after_text == '["a","b","c"]' and tags.diff == ()
    assert body.diff == ("@@ -1,2 +1,2 @@", " line 1", "-line 2", "+line two")
    assert body.before_text == "line 1 ⏎ line 2 ⏎ "
    assert all(isinstance(c, Change) for c in got)


def test_changes_tells_true_from_one_and_counts_new_fields():
    got = changes({"a": 1, "b": 1.0, "c": [1, True]}, {"a": True, "b": 1, "c": [1, 1], "d": 0})
    assert [c.field for c in got] == ["a", "c", "d"]
    assert got[2].before is None and got[2].before_text == "(none)"


def test_changes_bounds_its_texts_and_diffs():
    before = "\n".join(f"line {i}" for i in range(3000))
    after = "\n".join(f"LINE {i}" for i in range(3000))
    (c,) = changes({"t": before}, {"t": after})
    assert len(c.before_text) <= 200 and len(c.diff) == forms._DIFF_LINES + 1
    assert c.diff[-1].startswith("… (")
    (c,) = changes({"t": "x" * 300_000}, {"t": "y\n" * 10})
    assert c.diff == ("(too long to compare line by line)",)
    (c,) = changes({"t": "<script>\x00"}, {"t": "\u202e"})
    assert "\x00" not in c.before_text and "\u202e" not in c.after_text


# ---- ask answers ------------------------------------------------------------------------------

def test_an_answer_with_choices_is_a_select_and_must_be_one_of_them():
    form = {"schema": S(t.STR), "choices": ["refund", "replace", "<script>"]}
    f = answer_field(form)
    assert f.name == "answer" and f.kind == "select" and f.label == "Answer"
    assert [v for v, _ in f.options] == ["refund", "replace", "<script>"]
    assert forms.parse_answer(form, "replace", max_bytes=1000) == ("replace", None)
    value, error = forms.parse_answer(form, "other", max_bytes=1000)
    assert value is None and error == "the answer must be one of: refund, replace, <script>"


def test_choices_of_records_match_by_their_json():
    rec = t.RecordT("Opt", (("id", t.INT), ("label", t.STR)))
    choices = [{"id": 1, "label": "one"}, {"id": 2, "label": "two"}]
    form = {"schema": S(rec), "choices": choices}
    f = answer_field(form)
    assert f.options[1] == ('{"id":2,"label":"two"}', '{"id":2,"label":"two"}')
    assert forms.parse_answer(form, f.options[1][0]) == (choices[1], None)
    # the same record written another way is still that choice
    assert forms.parse_answer(form, '{"label": "two", "id": 2}') == ({"label": "two", "id": 2},
                                                                      None)
    assert "must be one of" in forms.parse_answer(form, '{"id": 3, "label": "x"}')[1]


def test_answers_of_each_type():
    assert forms.parse_answer({"schema": S(t.INT)}, " 12 ") == (12, None)
    assert forms.parse_answer({"schema": S(t.INT)}, "x")[1] == \
        "the answer is a whole number, not `x`"
    assert forms.parse_answer({"schema": S(t.BOOL)}, "yes") == (True, None)
    assert forms.parse_answer({"schema": S(t.BOOL)}, "")[1] == \
        "the answer needs a value: true/false"
    assert answer_field({"schema": S(t.BOOL)}).kind == "select"
    assert answer_field({"schema": S(CURRENCY)}).options[0] == ("EUR", "EUR")
    assert forms.parse_answer({"schema": S(CURRENCY)}, "JPY")[1].startswith("the answer is one")
    assert forms.parse_answer({"schema": S(t.OptionalT(t.INT))}, "") == (None, None)
    assert forms.parse_answer({"schema": S(t.STR)}, "@/etc/passwd") == ("@/etc/passwd", None)
    assert forms.parse_answer({"schema": S(t.STR)}, None)[1] == "no answer was sent"
    assert forms.parse_answer({"schema": S(t.STR)}, "x" * 200, max_bytes=100)[1].startswith(
        "the answer is more than")
    assert "cannot be given in the browser" in forms.parse_answer({"schema": FILE}, "/etc/x")[1]
    assert answer_field({"schema": FILE}).readonly
    assert answer_field({"schema": S(t.STR), "question": "Which?\x00"}).label == "Which? "
    assert answer_field(None).kind == "json" and forms.parse_answer(None, "1") == (1, None)


def test_too_many_choices_are_typed_and_checked_against_all():
    choices = [f"c{i}" for i in range(forms.MAX_OPTIONS + 10)]
    form = {"schema": S(t.STR), "choices": choices}
    f = answer_field(form)
    assert f.kind == "text" and f.options == () and f"one of {len(choices)} choices" in f.help
    assert forms.parse_answer(form, choices[-1]) == (choices[-1], None)
    assert "and 500 more" in forms.parse_answer(form, "nope")[1]


# ---- Markdown ---------------------------------------------------------------------------------

class Tags(HTMLParser):
    """The tags and attributes of an HTML fragment, as a browser's tokenizer sees them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def assert_safe_markdown(html: str) -> None:
    assert "<script" not in html.lower()
    for tag, attrs in Tags(html).tags:
        assert tag in render._TAGS, tag
        for name, value in attrs.items():
            assert name in ("href", "title", "rel", "start"), (tag, name)
            if name == "href":
                scheme = re.match(r"\s*([a-zA-Z][a-zA-Z0-9+.-]*):", value or "")
                assert scheme is None or scheme.group(1).lower() in ("http", "https", "mailto")
        if tag == "a":
            assert attrs.get("rel") == "noopener noreferrer nofollow"


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<a href=\"javascript:alert(1)\">x</a>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](%6Aavascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    "<https://ok.test/?a=<script>>",
    "<javascript:alert(1)>",
    '<div onmouseover="alert(1)">hover</div>',
    "<iframe src=https://evil.test></iframe>",
    "<style>body{display:none}</style>",
    "<!-- <script>alert(1)</script> -->",
    '<svg><script>alert(1)</script></svg>',
    "```html\n<script>alert(1)</script>\n```",
    "`<script>`",
    '[a](https://x.test "<script>")',
    "<form action=https://evil.test><input name=password></form>",
    '<meta http-equiv="refresh" content="0;url=https://evil.test">',
])
def test_markdown_is_sanitised(text):
    html = render.markdown_html(text)
    assert isinstance(html, Markup)
    assert_safe_markdown(str(html))   # only allowed tags, attributes and URL schemes


def test_markdown_renders_what_a_message_needs():
    html = str(render.markdown_html(
        "# Refund\n\n**Order** `A-1` is *late*.\n\n- one\n- two\n\n"
        "| a | b |\n|---|--:|\n| 1 | 2 |\n\n[docs](https://docs.test/x)\n\n~~old~~"))
    for part in ("<h1>Refund</h1>", "<strong>Order</strong>", "<code>A-1</code>", "<em>late</em>",
                 "<li>one</li>", "<table>", "<td>2</td>", "<s>old</s>",
                 '<a href="https://docs.test/x" rel="noopener noreferrer nofollow">docs</a>'):
        assert part in html, part
    assert "style=" not in html   # a table's alignment is an inline style: dropped (CSP)


def test_markdown_shows_raw_html_as_text():
    html = str(render.markdown_html('Hi <b onclick="x()">there</b> & <script>alert(1)</script>'))
    assert "&lt;b onclick=" in html and "&lt;script&gt;" in html and "<b" not in html


def test_markdown_images_are_links_never_loaded():
    html = str(render.markdown_html("![pixel](https://tracker.test/p.gif)"))
    assert "<img" not in html and 'href="https://tracker.test/p.gif"' in html
    html = str(render.markdown_html("![x](data:image/png;base64,AAAA)"))
    assert "<img" not in html and "data:" not in html.split(">", 1)[0]


def test_markdown_input_is_bounded():
    html = str(render.markdown_html("a" * 200, max_chars=100))
    assert html.count("a") < 200 and "100 more characters not shown" in html
    deep = str(render.markdown_html(">" * 10_000 + " x\n\n" + "- " * 5_000 + "y"))
    assert deep.count("<blockquote>") <= 20
    assert str(render.markdown_html(None)) == "" and "\x00" not in str(render.markdown_html("\x00"))


# ---- shown values -----------------------------------------------------------------------------

VALUE_TAGS = {"span", "pre", "dl", "dt", "dd", "ol", "li", "table", "thead", "tbody", "tr", "th",
              "td", "a"}


def assert_safe_value(html: str) -> None:
    assert "<script" not in html.lower()
    for tag, attrs in Tags(html).tags:
        assert tag in VALUE_TAGS, tag
        assert set(attrs) <= {"class", "href", "colspan"}, attrs
        if "href" in attrs:
            assert attrs["href"].startswith("/") and not attrs["href"].startswith("//")


@pytest.mark.parametrize("evil", HOSTILE)
def test_hostile_strings_are_escaped_wherever_they_appear(evil):
    value = {evil: [evil, {"k": evil}], "list": [{evil: evil, "n": 1}, {"n": 2}],
             "file": {"file_id": evil, "name": evil, "size": 5}}
    html = str(render.value_html(value, files=lambda v: f"/files/r/{v['file_id']}"))
    assert_safe_value(html)
    assert "<img" not in html and "\x00" not in html and "\u202e" not in html


def test_values_render_by_shape():
    html = str(render.value_html({"amount": 12.5, "n": 3, "ok": False, "none": None,
                                  "big": 10 ** 5000, "text": "a\nb", "empty": [],
                                  "rows": [{"id": 1, "x": "<b>"}, {"id": 2}],
                                  "items": [1, "two"]}))
    assert '<dt>amount</dt><dd><span class="v-num">12.5</span></dd>' in html
    assert '<span class="v-bool">false</span>' in html and '<span class="v-null">none</span>' in html
    assert "(a very large whole number)" in html
    assert '<pre class="v-text">a\nb</pre>' in html
    assert '<table class="v-table"><thead><tr><th>id</th><th>x</th></tr></thead>' in html
    assert "<td>&lt;b&gt;" in html.replace('<span class="v-str">', "")
    assert '<ol class="v-list"><li><span class="v-num">1</span></li>' in html
    assert str(render.value_html(1.0)) == '<span class="v-num">1</span>'


def test_deep_and_wide_values_are_bounded():
    deep: list = []
    node = deep
    for _ in range(100_000):   # deeper than Python could recurse
        node.append([])
        node = node[0]
    html = str(render.value_html(deep))
    assert html.count("<ol") <= 6 and "[… 1 item]" in html
    wide = str(render.value_html(list(range(1_000_000))))
    assert len(wide) < 50_000 and "more items" in wide
    many = str(render.value_html({str(i): "x" * 1000 for i in range(10_000)}))
    assert len(many) < 300_000 and "more fields" in many
    long = str(render.value_html("x" * 1_000_000))
    assert len(long) < 21_000 and "(980000 more characters)" in long
    budget = str(render.value_html([[i] * 100 for i in range(1000)], max_items=300))
    assert len(budget) < 20_000


def test_file_values_link_only_to_this_site():
    handle = {"file_id": "F1", "name": "../report.csv", "size": 3000}
    html = str(render.value_html(handle, files=lambda v: f"/files/run/{v['file_id']}"))
    assert '<a class="v-file" href="/files/run/F1">report.csv</a>' in html
    assert 'href="/files/run/F1?preview=1">preview</a>' in html and "2.9 KiB" in html
    for url in ("https://evil.test/x", "//evil.test/x", "javascript:alert(1)", "/x\ny", None):
        html = str(render.value_html(handle, files=lambda v, u=url: u))
        assert "href" not in html and "report.csv" in html

    def broken(v):
        raise KeyError("id")
    assert "report.csv" in str(render.value_html(handle, files=broken))
    svg = str(render.value_html({"file_id": "F", "name": "x.svg"}, files=lambda v: "/f/F"))
    assert "preview" not in svg


# ---- files ------------------------------------------------------------------------------------

def test_csv_preview_tolerates_bad_bytes_ragged_rows_and_nul():
    data = b"id,amount,note\nA-1,40\nA-2,50,ok,extra\n\xff\xfe\x00,x\n\"multi\nline\",1,2\n"
    p = render.csv_preview(data)
    assert p["header"] == ["id", "amount", "note", ""]
    assert p["rows"][0] == ["A-1", "40", "", ""] and p["rows"][1] == ["A-2", "50", "ok", "extra"]
    assert p["rows"][2][0] == "\ufffd\ufffd\ufffd" and p["replaced"] and not p["truncated"]
    assert p["rows"][3][0] == "multi\nline"
    assert render.csv_preview(b"") == {"header": [], "rows": [], "truncated": False,
                                       "replaced": False}


def test_csv_preview_is_bounded():
    p = render.csv_preview(b"a,b\n" + b"1,2\n" * 10_000, max_rows=5)
    assert len(p["rows"]) == 5 and p["truncated"]
    p = render.csv_preview(b",".join(b"c%d" % i for i in range(500)) + b"\n", max_cols=10)
    assert len(p["header"]) == 10 and p["truncated"]
    p = render.csv_preview(b'"' + b"x" * 500_000)   # one field over csv's own limit
    assert p["truncated"]
    p = render.csv_preview(b"a\n" + b"y" * 2000 + b"\n")
    assert len(p["rows"][0][0]) == 501 and p["truncated"]
    p = render.csv_preview(("h\n" + "é\n" * 100).encode(), max_bytes=50)
    assert p["truncated"] and not p["replaced"] and all(r == ["é"] for r in p["rows"])


def test_csv_preview_reads_other_delimiters_and_boms():
    assert render.csv_preview(b"\xef\xbb\xbfa;b\n1;2\n")["header"] == ["a", "b"]
    assert render.csv_preview("a\tb\n1\t2\n".encode("utf-16"))["rows"] == [["1", "2"]]
    assert render.csv_preview(b"a|b|c\n1|2|3\n")["header"] == ["a", "b", "c"]
    cell = render.csv_preview("x\n\u202eevil\x1b[31m\n".encode())["rows"][0][0]
    assert cell == "⟨U+202E⟩evil␛[31m"


@pytest.mark.parametrize(("name", "media_type", "kind"), [
    ("chart.png", None, "image"), ("PHOTO.JPEG", None, "image"), ("a.gif", "image/gif", "image"),
    ("a.webp", None, "image"), ("logo.svg", None, "download"),
    ("logo.svg", "image/svg+xml", "download"), ("a.png", "image/svg+xml", "download"),
    ("a.png", "text/html", "download"), ("page.html", None, "download"),
    ("page.htm", "text/html", "download"), ("doc.pdf", "application/pdf", "download"),
    ("data.csv", None, "csv"), ("data.tsv", None, "csv"), ("data.csv", "text/html", "download"),
    ("notes.txt", None, "text"), ("x.json", "application/json", "text"),
    ("x.xml", None, "download"), ("x.xhtml", None, "download"), ("run.exe", None, "download"),
    ("x.png\x00.html", None, "download"), ("x.html\x00.png", None, "download"),
    ("x.png.", None, "download"), ("x.ｐｎｇ", None, "download"), ("png", None, "download"),
    ("../../x.png", None, "image"), ("", None, "download"), (None, None, "download"),
    ("x.png\n", None, "download"),
])
def test_preview_kinds(name, media_type, kind):
    assert render.file_preview_kind(name, media_type) == kind


HEADER = re.compile(r"attachment; filename=\"[ -!#-\[\]-~]*\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+")


@pytest.mark.parametrize(("name", "fallback", "encoded"), [
    ("report.csv", "report.csv", "report.csv"),
    ("../../etc/passwd", "passwd", "passwd"),
    ("..\\..\\win.ini", "win.ini", "win.ini"),
    ('a"b\\c.txt', "c.txt", "c.txt"),
    ('q"uote.txt', "q_uote.txt", "q_uote.txt"),
    ("x\r\nSet-Cookie: s=1.txt", "xSet-Cookie_ s_1.txt", "xSet-Cookie_%20s%3D1.txt"),
    ("nul\x00byte.pdf", "nulbyte.pdf", "nulbyte.pdf"),
    ("\u202efdp.exe", "fdp.exe", "fdp.exe"),
    ("отчёт.csv", "download.csv", "%D0%BE%D1%82%D1%87%D1%91%D1%82.csv"),
    ("Café.txt", "Cafe.txt", "Caf%C3%A9.txt"),
    ("..", "download", "download"),
    (".hidden", "hidden", "hidden"),
    ("", "download", "download"),
    (None, "download", "download"),
    ("a;b=c.txt", "a_b_c.txt", "a%3Bb%3Dc.txt"),
])
def test_download_names_are_safe_headers(name, fallback, encoded):
    header = render.safe_download_name(name)
    assert HEADER.fullmatch(header), header
    assert f'filename="{fallback}"' in header and header.endswith(f"UTF-8''{encoded}")
    header.encode("latin-1")


def test_download_names_are_bounded_and_keep_their_extension():
    name = render.download_name("x" * 1000 + ".csv")
    assert len(name) == 150 and name.endswith(".csv")
    assert len(render.safe_download_name("é" * 10_000)) < 2000
    assert render.safe_download_name("a.html", disposition="inline").startswith("inline;")
    assert render.safe_download_name("a", disposition='evil"; x').startswith("attachment;")


# ---- fuzzing ----------------------------------------------------------------------------------

FRAGMENTS = st.sampled_from([
    "<script>", "</script>", "<SCRIPT", "<scr<script>ipt>", "javascript:", "JaVaScRiPt:",
    "java\tscript:", "&#x6A;avascript:", "data:text/html,", "onerror=", "onload=", "<img ",
    "<svg ", "<a href=", "](", "[", "]", "(", ")", "![", "`", "```", "\n", "\r\n", "\x00",
    "\u202e", ">", "<", '"', "'", "*", "_", "|", "-", "#", "<!--", "-->", "&", "&lt;", "\\",
    "<style>", "<iframe", "vbscript:", "http://x.test", "mailto:a@b", "<", "\ufeff", "\ud800",
])
HOSTILE_TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=20)), max_size=40).map("".join)
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(HOSTILE_TEXT)
def test_fuzz_markdown_never_lets_script_through(text):
    html = render.markdown_html(text)
    assert isinstance(html, Markup)
    assert_safe_markdown(str(html))


POSTED = st.dictionaries(
    st.one_of(st.sampled_from([f["name"] for f in FIELDS]), st.text(max_size=10)),
    st.one_of(HOSTILE_TEXT, st.sampled_from(["", "null", "1", "-2", "1.5", "true", "[]", "{}",
                                             "EUR", '["a"]', '{"iban":"x","amount":1}']),
              st.lists(HOSTILE_TEXT, max_size=3)),
    max_size=12)


@FUZZ
@given(POSTED)
def test_fuzz_parse_form_returns_checked_values_or_messages(posted):
    values, errors = parse_form(FIELDS, posted, max_bytes=4096, prefill=PREFILL)
    schemas = {f["name"]: f["schema"] for f in FIELDS}
    assert set(errors) <= set(schemas) | {"_"}
    assert all(isinstance(m, str) and m for m in errors.values())
    for name, value in values.items():
        assert name not in errors
        assert schema_errors(value, schemas[name], name) == []
        assert field_problem(value, 4096) is None
    assert "scan" not in values
    changes(PREFILL, values)   # never raises either
    for f in form_fields(FIELDS, PREFILL, posted=posted):
        assert isinstance(f.text, str)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), HOSTILE_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(HOSTILE_TEXT, inner, max_size=5)),
    max_leaves=40)


@FUZZ
@given(JSON)
def test_fuzz_value_html_escapes_everything(value):
    html = str(render.value_html(value, files=lambda v: "/files/r/x"))
    assert_safe_value(html)


@FUZZ
@given(st.one_of(HOSTILE_TEXT, st.text()), st.one_of(st.none(), HOSTILE_TEXT))
def test_fuzz_file_names(name, media_type):
    assert HEADER.fullmatch(render.safe_download_name(name))
    assert render.file_preview_kind(name, media_type) in ("csv", "image", "text", "download")
    assert set(render.csv_preview(name.encode("utf-8", "surrogatepass"))) == {
        "header", "rows", "truncated", "replaced"}


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_csv_bytes(data):
    p = render.csv_preview(data, max_rows=20, max_cols=5)
    width = len(p["header"])
    assert all(len(r) == width for r in p["rows"]) and len(p["rows"]) <= 20 and width <= 5
