"""Differential tests of the sandbox's small shell (runtime/sandbox/shell.py) against the
host's bash and GNU coreutils/grep under LC_ALL=C.

Every case runs one command line twice, in two temporary folders holding the same files: once
through `run_line` on the host's CPython (no Deno sandbox), once through `bash -c`. Standard
output must be the same bytes, the exit status the same, and the files left in the folder
the same (redirections, `tee`). Error texts are not compared: only that the shell writes an
error when GNU does, and none when GNU writes none.

`run_line` hands back stdout as text decoded from UTF-8 with "replace", so where GNU's output is
not valid UTF-8 (a multibyte character cut in the middle under LC_ALL=C) its bytes are decoded
the same way before comparing: that loss is the API's, not a difference in the commands.

Deliberate differences, not compared against GNU here:
- `wc` with several counts or several files (GNU pads its columns); only `wc -l`, `wc -w`,
  `wc -c` alone, on stdin or on one file, are compared.
- error message texts;
- options the shell does not have (long options, grep -L -m -s -A -B -C -P, sort -k N.C and a
  per-key `r`), which are usage errors here;
- `ls` output details, `jq` (a small subset of jq), globbing, variables, `;`/`&&`,
  absolute paths such as `2>/dev/null` (refused), `$(cat)` reading the line's stdin;
- GNU quirks: `grep -v ''` exits 1 at once, printing nothing even with -c; GNU grep warns about
  (and ignores) a `*` at the start of an ERE branch.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowc.runtime.sandbox.shell import run_line

GNU_ENV = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

# ---- the files every hand-written case finds in its working directory ------------------------

FILES: dict[str, bytes] = {
    "words.txt": b"apple\nBanana\ncherry\napple\ndate\nbanana\n\nCherry\nfig\napple pie\n",
    "nonl.txt": b"one\ntwo\nthree",  # no final newline
    "empty.txt": b"",
    "blank.txt": b"\n\n\n",
    "lines15.txt": "".join(f"line {k}\n" for k in range(1, 16)).encode(),
    "crlf.csv": b"a,b\r\nc,d\r\n\r\ne,f\r\nnodelim\r\n",
    "data.csv": (b"id,name,score,city\n1,alice,90,paris\n2,bob,85,london\n3,carol,90,berlin\n"
                 b"4,dave,-5,paris\n5,eve,12.5,rome\n6,frank,,oslo\nnodelim\n\n"
                 b"7,gina,3e2,paris\n8,hal,90,paris\n"),
    "nums.txt": (b"10\n-3\n2.5\n-0.5\nabc\n\n 7\n+4\n0\n-0\n1e3\n.5\n-\n99\n3\n"
                 b"10.0\n007\n\t8\n-10\n"),
    "utf8.txt": "café\nCAFÉ\nnaïve,été\n😀 smile\ncafe\nÉcole\nzèbre\n😀 smile\ncafé\n".encode(),
    "log.txt": (b"ERROR disk full\nwarn: a+b=c\nINFO ok\nerror: x|y\nWhat? yes\nfoo(bar)\n"
                b"[brackets]\nabc123\n123abc\nfoo_bar foo-bar\ntab\there\nxxx+ plus\n"
                b"a{2} braces\ncolor colour\nend$ dollar\n"),
    "kv.txt": b"b 2\na 2\nc 1\nb 1\na 10\nB 2\nc  1\n",
    "kv.csv": b"b,2,x\na,2,y\nc,1,z\nb,1,w\na,10,v\nd,,u\ne\n",
    "dups.txt": b"a\na\nA\nb\nb\nb\nc\na\n\n\nB\nb\n",
    "tabs.tsv": b"a\tb\tc\n1\t2\t3\nno tabs here\n\t\tx\n4\t5\n",
    "two.txt": b"apple\nbanana split\n",
    "part1.csv": b"k,1\nj,2",  # no final newline: the next file's first line is its own
    "part2.csv": b"i,3\nh,4\n",
    "sub.txt": b"words.txt\nnonl.txt\n",
    "pat.txt": b"cherry\n",
    "list.txt": b"apple\ncherry\n",
    "latin1.txt": b"caf\xe9\nna\xefve\n",
    "nbsp.txt": b"a\xc2\xa0b\n",
}


# ---- the big generated input ----------------------------------------------------------------


def _big_csv(rows: int = 100_000, seed: int = 20240601, final_newline: bool = True) -> bytes:
    rng = random.Random(seed)
    cats = ["alpha", "beta", "gamma", "delta", "epsilon"]
    regions = ["north", "south", "east", "west", "centre", "île", "über", "ØST"]
    out = ["id,category,value,region,note"]
    for i in range(rows):
        note = "RARE event" if rng.random() < 1 / 4000 else rng.choice(["ok", "fine", "-", ""])
        out.append(f"{i},{rng.choice(cats)},{rng.randint(-500, 999)},{rng.choice(regions)},{note}")
    text = "\n".join(out) + ("\n" if final_newline else "")
    return text.encode()


BIG = {"big.csv": _big_csv(), "big_nonl.csv": _big_csv(20_000, seed=7, final_newline=False)
       + b"\nlast,RARE,1,x,tail"}


# ---- running both ---------------------------------------------------------------------------


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).write_bytes(data)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _lossy(data: bytes) -> bytes:
    """GNU's bytes as `run_line` can hand them back (it decodes stdout with "replace")."""
    return data.decode("utf-8", "replace").encode("utf-8")


def _gnu(line: str, stdin: str, cwd: Path) -> tuple[bytes, bytes, int]:
    p = subprocess.run(["bash", "-c", line], cwd=cwd, env=GNU_ENV, input=stdin.encode(),
                       capture_output=True, timeout=60)
    return p.stdout, p.stderr, p.returncode


def _ours(line: str, stdin: str, cwd: Path, mp: pytest.MonkeyPatch) -> dict:
    mp.chdir(cwd)
    return run_line(line, stdin)


def _compare(line: str, stdin: str, files: dict[str, bytes], root: Path,
             mp: pytest.MonkeyPatch, loose_files: tuple[str, ...] = ()) -> None:
    gdir, odir = root / "gnu", root / "ours"
    gdir.mkdir()
    odir.mkdir()
    _write(gdir, files)
    _write(odir, files)
    g_out, g_err, g_code = _gnu(line, stdin, gdir)
    r = _ours(line, stdin, odir, mp)
    got = r["stdout"].encode("utf-8")
    want = _lossy(g_out)
    report = (f"\n  line:  {line!r}\n  stdin: {stdin[:200]!r}\n"
              f"  gnu:   exit {g_code} stdout {want[:600]!r} stderr {g_err[:200]!r}\n"
              f"  shell: exit {r['exit_code']} stdout {got[:600]!r} "
              f"stderr {r['stderr'][:200]!r}")
    assert got == want, "stdout differs" + report
    assert r["exit_code"] == g_code, "exit status differs" + report
    assert bool(r["stderr"]) == bool(g_err), "stderr (non-)empty differs" + report
    g_files, o_files = _snapshot(gdir), _snapshot(odir)
    assert sorted(g_files) == sorted(o_files), "files left differ" + report
    for name, data in g_files.items():
        if name in loose_files:  # error texts: only whether there is one
            assert bool(o_files[name]) == bool(data), f"{name}: (non-)empty differs" + report
        else:
            assert o_files[name] == data, f"{name} differs" + report


def C(ident: str, line: str, stdin: str = "", loose: tuple[str, ...] = ()):
    return pytest.param(line, stdin, loose, id=ident)


# ---- the hand-written cases -----------------------------------------------------------------

CASES = [
    # cat
    C("cat-file", "cat words.txt"),
    C("cat-nonl", "cat nonl.txt"),
    C("cat-stdin", "cat", "x\ny"),
    C("cat-dash-and-file", "cat - nonl.txt", "in\n"),
    C("cat-two-files-nonl-first", "cat nonl.txt words.txt"),
    C("cat-empty", "cat empty.txt"),
    C("cat-n", "cat -n words.txt"),
    C("cat-n-blank-lines", "cat -n blank.txt"),
    C("cat-n-nonl", "cat -n nonl.txt"),
    C("cat-n-stdin-nonl", "cat -n", "a\nb"),
    C("cat-missing", "cat missing.txt"),
    C("cat-missing-among-files", "cat words.txt missing.txt nonl.txt"),
    # head
    C("head-default", "head lines15.txt"),
    C("head-n3", "head -n 3 words.txt"),
    C("head-n3-attached", "head -n3 words.txt"),
    C("head-dash3", "head -3 words.txt"),
    C("head-n2-nonl", "head -n 2 nonl.txt"),
    C("head-n5-nonl", "head -n 5 nonl.txt"),
    C("head-n0", "head -n 0 words.txt"),
    C("head-n-minus2", "head -n -2 words.txt"),
    C("head-n-minus1-nonl", "head -n -1 nonl.txt"),
    C("head-n-minus0-nonl", "head -n -0 nonl.txt"),
    C("head-c5", "head -c 5 words.txt"),
    C("head-c-minus3", "head -c -3 nonl.txt"),
    C("head-empty-stdin", "head -n 2", ""),
    C("head-after-cat", "cat words.txt | head -n 2"),
    C("head-after-sort", "sort words.txt | head -n 3"),
    C("head-after-cut", "cut -d , -f 2 data.csv | head -n 4"),
    C("head-two-files", "head -n 1 words.txt nonl.txt"),
    # tail
    C("tail-default", "tail lines15.txt"),
    C("tail-n3", "tail -n 3 words.txt"),
    C("tail-dash2-nonl", "tail -2 nonl.txt"),
    C("tail-n-plus3", "tail -n +3 words.txt"),
    C("tail-n-plus2-nonl", "tail -n +2 nonl.txt"),
    C("tail-n-plus0", "tail -n +0 nonl.txt"),
    C("tail-n0", "tail -n 0 words.txt"),
    C("tail-c4-nonl", "tail -c 4 nonl.txt"),
    C("tail-c-plus3", "tail -c +3 nonl.txt"),
    C("tail-blank-lines", "tail -n 2 blank.txt"),
    C("tail-empty", "tail -n 1 empty.txt"),
    C("tail-after-sort", "sort words.txt | tail -n 2"),
    C("tail-after-grep", "grep a words.txt | tail -n 2"),
    C("tail-stdin-nonl", "tail -n 1", "a\nb"),
    C("tail-two-files", "tail -n 2 words.txt nonl.txt"),
    # wc (single counts only)
    C("wc-l-file", "wc -l words.txt"),
    C("wc-l-redirect-nonl", "wc -l < nonl.txt"),
    C("wc-w-pipe", "cat words.txt | wc -w"),
    C("wc-c-utf8", "wc -c < utf8.txt"),
    C("wc-w-utf8", "wc -w < utf8.txt"),
    C("wc-w-tabs-crlf", "wc -w", "a\tb  c\r\nd\r\n\n"),
    C("wc-l-empty", "wc -l empty.txt"),
    C("wc-c-echo-n", "echo -n abc | wc -c"),
    C("wc-l-no-input", "wc -l", ""),
    # grep: fixed strings, options, files
    C("grep-fixed", "grep apple words.txt"),
    C("grep-stdin", "grep an", "banana\nmango\nkiwi\n"),
    C("grep-no-match", "grep zzz words.txt"),
    C("grep-no-match-empty-input", "grep a", ""),
    C("grep-empty-pattern", "grep '' nonl.txt"),
    C("grep-i", "grep -i banana words.txt"),
    C("grep-v", "grep -v a words.txt"),
    C("grep-c", "grep -c apple words.txt"),
    C("grep-c-none", "grep -c zzz words.txt"),
    C("grep-n", "grep -n an words.txt"),
    C("grep-vn", "grep -vn a words.txt"),
    C("grep-w", "grep -w apple words.txt"),
    C("grep-w-underscore", "grep -w foo log.txt"),
    C("grep-x", "grep -x apple words.txt"),
    C("grep-wx", "grep -w -x 'apple pie' words.txt"),
    C("grep-o", "grep -o 'an' words.txt"),
    C("grep-on", "grep -on '[0-9]' log.txt"),
    C("grep-oi", "grep -oi 'error' log.txt"),
    C("grep-ov", "grep -ov a words.txt"),
    C("grep-q-match", "grep -q apple words.txt"),
    C("grep-q-nomatch", "grep -q zzz words.txt"),
    C("grep-l-files", "grep -l an words.txt two.txt nonl.txt"),
    C("grep-l-stdin", "grep -l a", "a\n"),
    C("grep-c-l", "grep -c -l an words.txt nonl.txt"),
    C("grep-files-prefix", "grep an words.txt two.txt"),
    C("grep-files-n", "grep -n an words.txt two.txt"),
    C("grep-files-c", "grep -c e words.txt two.txt nonl.txt"),
    C("grep-files-h", "grep -h an words.txt two.txt"),
    C("grep-files-ch", "grep -ch an words.txt two.txt"),
    C("grep-files-o", "grep -o 'an*' words.txt two.txt"),
    C("grep-files-nomatch", "grep zzz words.txt two.txt"),
    C("grep-stdin-dash-and-file", "cat two.txt | grep an - words.txt"),
    C("grep-nonl-file", "grep t nonl.txt"),
    C("grep-e-two", "grep -e apple -e fig words.txt"),
    C("grep-e-dash-pattern", "grep -e -bar log.txt"),
    C("grep-double-dash", "grep -- -bar log.txt"),
    C("grep-options-after", "grep an words.txt -n"),
    C("grep-missing-file", "grep a missing.txt"),
    C("grep-missing-among", "grep an words.txt missing.txt"),
    C("grep-q-missing-then-match", "grep -q a missing.txt words.txt"),
    C("grep-no-pattern", "grep"),
    C("grep-unmatched-bracket", "grep '[abc' words.txt"),
    C("grep-unmatched-paren", "grep -E '(ab' words.txt"),
    C("grep-F-metas", "grep -F 'a+b' log.txt"),
    C("grep-F-dot", "grep -F . words.txt"),
    C("grep-F-x", "grep -Fx 'x|y' log.txt"),
    C("grep-F-e-two", "grep -F -e '(bar)' -e '[br' log.txt"),
    C("grep-F-i", "grep -Fi 'INFO' log.txt"),
    # grep: basic regular expressions
    C("bre-alternation", r"grep 'apple\|fig' words.txt"),
    C("bre-plus", r"grep 'x\+' log.txt"),
    C("bre-o-plus", r"grep -o 'x\+' log.txt"),
    C("bre-literal-plus", "grep 'a+b' log.txt"),
    C("bre-literal-question", "grep 'What?' log.txt"),
    C("bre-literal-pipe", "grep 'x|y' log.txt"),
    C("bre-literal-parens", "grep 'foo(bar)' log.txt"),
    C("bre-literal-braces", "grep 'a{2}' log.txt"),
    C("bre-interval", r"grep -o 'x\{2\}' log.txt"),
    C("bre-group-backref", r"grep '\(ab\)c\1' ", "abcab\nabcd\n"),
    C("bre-question", r"grep -x 'colou\?r' ", "color\ncolour\ncolouur\n"),
    C("bre-anchors", "grep '^a.*e$' words.txt"),
    C("bre-star", "grep -o 'ap*' words.txt"),
    C("bre-leading-star", "grep '*' ", "a*b\nab\n"),
    C("bre-dot-escaped", r"grep '2\.5' nums.txt"),
    C("bre-caret-middle", "grep 'a^b'", "a^b\nab\n"),
    C("bre-dollar-middle", "grep 'd$ d'", "end$ dollar\nend\n"),
    C("bre-bracket", "grep '[[]' log.txt"),
    C("bre-bracket-close-first", "grep '[]x]' log.txt"),
    C("bre-negated-class", "grep -x '[^0-9]*' log.txt"),
    C("bre-posix-digit", "grep -c '[[:digit:]]' log.txt"),
    C("bre-posix-upper-o", "grep -o '[[:upper:]][[:upper:]]*' log.txt"),
    C("bre-posix-space", "grep -o '[[:alpha:]]*[[:space:]]here' log.txt"),
    C("bre-posix-punct", "grep -c '^[[:alnum:][:punct:]]*$' log.txt"),
    C("bre-word-boundary", r"grep '\<foo\>' log.txt"),
    C("bre-i-class", "grep -i '^[A-C]' words.txt"),
    C("bre-backslash-w", r"grep -o '\w\w*_\w*' log.txt"),
    C("bre-double-star", "grep 'a**'", "a\nb\n"),
    C("bre-backslash-d-is-d", r"grep '\d'", "d\n1\n"),
    # grep: extended regular expressions
    C("ere-alternation", "grep -E 'apple|fig' words.txt"),
    C("ere-group-plus", "grep -E '(an)+a' words.txt"),
    C("ere-o-group", "grep -oE '(an)+' words.txt"),
    C("ere-question", "grep -E '^colou?r$'", "color\ncolour\ncolouur\n"),
    C("ere-interval", "grep -E '[0-9]{3}' log.txt"),
    C("ere-escaped-plus", r"grep -E 'a\+b' log.txt"),
    C("ere-escaped-pipe", r"grep -E 'x\|y' log.txt"),
    C("ere-c-v", "grep -cvE '^(a|b)'", "apple\nbanana\ncherry\n\n"),
    C("ere-w", "grep -wE 'foo|bar' log.txt"),
    C("ere-x-i", "grep -xiE 'info ok|error.*'", "INFO OK\nError: x\nerrors\n"),
    C("ere-o-plus-lazy-lookalike", "grep -oE 'x+?' log.txt"),
    C("ere-plus-star", "grep -E 'a+*'", "a\nb\n"),
    C("ere-anchored-alternation", "grep -E '^(ERROR|INFO) ' log.txt"),
    C("ere-empty-line", "grep -nE '^$' words.txt"),
    # grep on UTF-8 data (bytes under LC_ALL=C)
    C("utf8-grep-fixed", "grep 'café' utf8.txt"),
    C("utf8-grep-i-no-fold", "grep -i 'CAFé' utf8.txt"),
    C("utf8-grep-w-byte-word", "grep -w caf utf8.txt"),
    C("utf8-grep-x-dot-is-byte", "grep -x 'caf.' utf8.txt"),
    C("utf8-grep-x-two-dots", "grep -x 'caf..' utf8.txt"),
    C("utf8-grep-o-emoji", "grep -o '😀' utf8.txt"),
    C("utf8-grep-o-cut-char", "grep -o 'caf.' utf8.txt"),
    C("utf8-grep-c-class", "grep -c '^[[:alpha:]]*$' utf8.txt"),
    # sort
    C("sort-plain", "sort words.txt"),
    C("sort-r", "sort -r words.txt"),
    C("sort-u", "sort -u words.txt"),
    C("sort-ru", "sort -ru dups.txt"),
    C("sort-f", "sort -f words.txt"),
    C("sort-fu", "sort -fu dups.txt"),
    C("sort-nonl", "sort nonl.txt"),
    C("sort-stdin-empty", "sort", ""),
    C("sort-empty-lines", "sort blank.txt"),
    C("sort-crlf", "sort crlf.csv"),
    C("sort-n", "sort -n nums.txt"),
    C("sort-rn", "sort -rn nums.txt"),
    C("sort-nu", "sort -nu nums.txt"),
    C("sort-n-big-integers", "sort -n", "100000000000000000000\n99999999999999999999\n1\n"),
    C("sort-n-decimals", "sort -n", "1.5\n1.25\n-1.5\n-1.25\n.75\n-.75\n1.\n"),
    C("sort-k2", "sort -k2 kv.txt"),
    C("sort-k2-2", "sort -k2,2 kv.txt"),
    C("sort-k2n", "sort -k2n kv.txt"),
    C("sort-k2-2n-k1-1", "sort -k2,2n -k1,1 kv.txt"),
    C("sort-s-k2n", "sort -s -k2,2n kv.txt"),
    C("sort-k2-leading-blanks", "sort -k2", "x 2\n y 1\n  x 2\n   a 0\n"),
    C("sort-k1-1-leading-blanks", "sort -k1,1", "  b\na\n c\n"),
    C("sort-b-k2", "sort -b -k2,2 kv.txt"),
    C("sort-b-whole-line", "sort -b", "  b\na\n c\n"),
    C("sort-t-k2-2", "sort -t , -k2,2 kv.csv"),
    C("sort-t-attached-k2-2n", "sort -t, -k2,2n kv.csv"),
    C("sort-t-k2", "sort -t , -k 2 kv.csv"),
    C("sort-t-k3-3-r", "sort -t , -k3,3 -r kv.csv"),
    C("sort-t-k2-2-u", "sort -t , -k2,2 -u kv.csv"),
    C("sort-t-k2-2-s", "sort -s -t , -k2,2 kv.csv"),
    C("sort-t-k3n-data", "sort -t , -k3,3n data.csv"),
    C("sort-k-modifier-overrides-global", "sort -n -k1,1f", "10\n9\n"),
    C("sort-k-end-b-modifier", "sort -k2,2b kv.txt"),
    C("sort-dup-keys-tiebreak", "sort -k1,1", "a 3\nb 1\na 1\na 2\n"),
    C("sort-two-files-nonl-first", "sort part1.csv part2.csv"),
    C("sort-missing-file", "sort missing.txt"),
    C("sort-utf8", "sort utf8.txt"),
    C("sort-f-utf8", "sort -f utf8.txt"),
    # uniq
    C("uniq-plain", "uniq dups.txt"),
    C("uniq-c", "uniq -c dups.txt"),
    C("uniq-d", "uniq -d dups.txt"),
    C("uniq-u", "uniq -u dups.txt"),
    C("uniq-i", "uniq -i dups.txt"),
    C("uniq-ic", "uniq -ic dups.txt"),
    C("uniq-cd", "uniq -c -d dups.txt"),
    C("uniq-nonl", "uniq", "a\na"),
    C("uniq-empty", "uniq empty.txt"),
    C("sort-uniq-c", "sort dups.txt | uniq -c"),
    C("sort-uniq-c-sort-rn", "sort words.txt | uniq -c | sort -rn"),
    C("sort-f-uniq-i", "sort -f dups.txt | uniq -i"),
    C("sort-uniq-d-utf8", "sort utf8.txt | uniq -d"),
    C("uniq-i-utf8", "uniq -i", "é\nÉ\nE\ne\n"),
    # cut
    C("cut-f2", "cut -d , -f 2 data.csv"),
    C("cut-f-out-of-order", "cut -d , -f 3,1 data.csv"),
    C("cut-f-overlapping", "cut -d , -f 1-3,2-4 data.csv"),
    C("cut-f-adjacent", "cut -d, -f1,2 data.csv"),
    C("cut-f-open-end", "cut -d , -f 3- data.csv"),
    C("cut-f-open-start", "cut -d , -f -2 data.csv"),
    C("cut-f-open-and-single", "cut -d , -f 4,2- data.csv"),
    C("cut-f-beyond", "cut -d , -f 7 data.csv"),
    C("cut-s", "cut -s -d , -f 2 data.csv"),
    C("cut-tab-default", "cut -f 2 tabs.tsv"),
    C("cut-tab-s", "cut -s -f 1,3 tabs.tsv"),
    C("cut-space-delim", "cut -d ' ' -f 3", "  a b\nx y z\n"),
    C("cut-crlf", "cut -d , -f 2 crlf.csv"),
    C("cut-crlf-s", "cut -s -d , -f 1 crlf.csv"),
    C("cut-c", "cut -c 2-4 words.txt"),
    C("cut-c-list", "cut -c 1,3,5- words.txt"),
    C("cut-c-open-start", "cut -c -2 nonl.txt"),
    C("cut-b", "cut -b 1-3 words.txt"),
    C("cut-two-files-nonl-first", "cut -d , -f 2 part1.csv part2.csv"),
    C("cut-utf8-fields", "cut -d , -f 2 utf8.txt"),
    C("cut-utf8-bytes", "cut -b 1-5 utf8.txt"),
    C("cut-utf8-c-splits-char", "cut -c 4 utf8.txt"),
    C("cut-stdin-nonl", "cut -d : -f 1", "a:b\nc"),
    C("cut-missing-file", "cut -f 1 missing.txt"),
    # echo, tee, redirections
    C("echo", "echo hello   world"),
    C("echo-quoted", "echo 'hello   world' \"a  b\""),
    C("echo-n", "echo -n abc"),
    C("echo-n-twice", "echo -n -n abc"),
    C("echo-empty", "echo"),
    C("echo-escapes-in-quotes", r"echo 'a\nb' " + r'"c\"d" e\ f'),
    C("echo-pipe-in-quotes", "echo 'a|b' | cat"),
    C("echo-e-escapes", r"echo -e 'a\tb\nc\\d'"),
    C("echo-ne", r"echo -ne 'x\ny'"),
    C("echo-E-after-e", r"echo -e -E 'a\tb'"),
    C("redirect-fd1", "echo a 1>out.txt"),
    C("redirect-fd1-append", "echo a 1>>nonl.txt"),
    # found by review: redirections as file descriptors, left to right
    C("redir-out-then-err-to-out", "cat words.txt missing.txt > out.txt 2>&1"),
    C("redir-err-to-out-then-out", "cat two.txt missing.txt 2>&1 > o.txt"),
    C("redir-twice-last-wins", "echo a > x.txt > y.txt"),
    C("redir-append-twice", "echo a >> x.txt >> nonl.txt"),
    C("redir-err-file-then-dup", "cat missing.txt 2> e.txt 2>&1"),
    C("redir-err-to-pipe", "cat missing.txt 2>&1 | wc -l"),
    C("redir-out-to-err", "echo oops >&2"),
    C("redir-1-out-to-err", "echo oops 1>&2 | wc -c"),
    # sort: a key with its own modifiers is not reversed by -r
    C("sort-r-k2n", "sort -r -k2n kv.txt"),
    C("sort-r-t-k2n", "sort -r -t , -k2,2n kv.csv"),
    C("sort-r-k2b", "sort -r -k2b kv.txt"),
    C("sort-r-k1-k2n", "sort -r -k1,1 -k2,2n kv.txt"),
    C("sort-k2nr", "sort -k2,2nr kv.txt"),
    C("sort-s-r-k2n", "sort -s -r -k2n kv.txt"),
    # grep: a pattern with newlines is several; unreadable files print nothing
    C("grep-F-list-subst", 'grep -F "$(cat list.txt)" words.txt'),
    C("grep-list-subst-c", 'grep -c "$(cat list.txt)" words.txt'),
    C("grep-c-missing-among", "grep -c a words.txt missing.txt two.txt"),
    C("grep-c-missing", "grep -c a missing.txt"),
    C("grep-backrefs-two-e", r"grep -e '\(a\)\1' -e '\(p\)\1' words.txt"),
    C("grep-backref-then-digit", r"grep '\(p\)\12' words.txt", "pp2\npp\n"),
    C("head-n-minus-more-than-all", "head -n -5 nonl.txt"),
    # $(...): bytes kept, quotes and escapes inside, its stderr shown
    C("subst-latin1-bytes", 'echo "$(cat latin1.txt)" > o.txt'),
    C("subst-latin1-grep", 'grep "$(head -n 1 latin1.txt)" latin1.txt'),
    C("subst-quoted-pipe-inside", 'echo "$(echo "a|b")"'),
    C("subst-escaped-paren", r"echo $(echo \))"),
    C("subst-stderr-shown", "echo $(cat missing.txt)"),
    C("nbsp-is-not-a-blank", "cat nbsp.txt | wc -w"),
    C("nbsp-in-word", "echo $(cat nbsp.txt) > o.txt"),
    C("dash-twice-cat", "cat - -", "x\n"),
    C("dash-twice-grep", "grep x - -", "x\n"),
    C("dash-twice-head", "head -n 1 - - | wc -l", "x\n"),
    # usage errors: the exit status is each tool's own (2 for grep and sort, 1 for the others)
    C("usage-head-bad-count", "head -n x words.txt"),
    C("usage-tail-bad-count", "tail -n x words.txt"),
    C("usage-cut-field-zero", "cut -f 0 words.txt"),
    C("usage-cut-long-delim", "cut -d ab -f 1 words.txt"),
    C("usage-cut-no-list", "cut words.txt"),
    C("usage-wc-unknown", "wc -x words.txt"),
    C("usage-cat-unknown", "cat -x words.txt"),
    C("usage-uniq-unknown", "uniq -x words.txt"),
    C("usage-grep-unknown", "grep -j x words.txt"),
    C("usage-grep-no-pattern", "grep"),
    C("usage-sort-bad-key", "sort -k 0 words.txt"),
    C("tee", "echo hi | tee out.txt"),
    C("tee-a", "echo more | tee -a words.txt | wc -c"),
    C("tee-two", "sort words.txt | tee s1.txt s2.txt | head -n 1"),
    C("redirect-out", "sort words.txt > sorted.txt"),
    C("redirect-append", "echo extra >> nonl.txt"),
    C("redirect-in", "sort < words.txt"),
    C("redirect-in-out", "cut -d , -f 1 < data.csv > ids.txt"),
    C("redirect-mid-pipeline", "grep a < words.txt | sort -r"),
    C("redirect-stderr", "cat missing.txt 2> err.txt", loose=("err.txt",)),
    C("redirect-stderr-ok", "cat nonl.txt 2> err.txt"),
    C("redirect-2to1-no-error", "grep an words.txt 2>&1"),
    C("redirect-2to1-error-piped", "cat missing.txt 2>&1 | wc -l"),
    C("redirect-in-missing-mid-pipeline", "cat < missing.txt | wc -l"),
    C("redirect-digit-in-word", "echo file2>out.txt"),
    # $(...)
    C("subst-quoted", "echo \"$(head -n 1 words.txt)\""),
    C("subst-arg", "grep $(cat pat.txt) words.txt"),
    C("subst-nested", "echo $(echo $(echo deep))"),
    C("subst-pipeline", "echo \"n=$(grep -c a words.txt | cat)\""),
    C("subst-trailing-newlines", "echo \"[$(cat blank.txt)]\""),
    C("subst-word-splitting", "echo $(cat nonl.txt)"),
    C("subst-file-list", "cat $(cat sub.txt) | wc -l"),
    C("subst-in-single-quotes", "echo '$(echo no)'"),
    # the command line itself
    C("unknown-command", "nosuchcommand arg"),
    C("empty-pipeline-stage", "| cat"),
    C("unbalanced-quote", "echo 'abc"),
    # pipelines
    C("pipeline-csv-count", "grep -v '^id' data.csv | cut -d , -f 4 | sort | uniq -c"),
    C("pipeline-top-words", "cat words.txt | sort -f | uniq -ic | sort -rn | head -n 3"),
    C("pipeline-count-then-name", "sort words.txt | uniq -c | sort -k1,1n -k2 | tail -n 3"),
    C("pipeline-grep-exit-last", "grep zzz words.txt | sort"),
    C("pipeline-last-fails", "sort words.txt | grep zzz"),
    C("pipeline-sort-n-k", "cut -d , -f 2,3 data.csv | sort -t , -k2,2n | tail -n 4"),
    C("pipeline-uniq-d-count", "sort words.txt | uniq -d | wc -l"),
    C("pipeline-cat-n-grep", "cat -n words.txt | grep -v apple | cut -f 2"),
]


@pytest.mark.parametrize(("line", "stdin", "loose"), CASES)
def test_same_as_gnu(line, stdin, loose, tmp_path, monkeypatch):
    _compare(line, stdin, FILES, tmp_path, monkeypatch, loose)


# ---- big inputs -------------------------------------------------------------------------------

BIG_CASES = [
    C("big-pipeline", "cat big.csv | grep beta | cut -d , -f 3,4 | sort | uniq -c"),
    C("big-grep-sparse", "grep RARE big.csv"),
    C("big-grep-sparse-n", "grep -n RARE big.csv"),
    C("big-grep-sparse-nonl", "grep RARE big_nonl.csv"),
    C("big-grep-sparse-pipe", "cat big.csv | grep 'RARE event' | cut -d , -f 1"),
    C("big-grep-dense", "grep beta big.csv | tail -n 3"),
    C("big-grep-dense-c", "grep -c beta big.csv"),
    C("big-grep-v-wc", "grep -v beta big.csv | wc -l"),
    C("big-grep-i", "grep -i rare big.csv"),
    C("big-grep-E", "grep -E 'RARE|,-500,' big.csv | wc -l"),
    C("big-grep-utf8", "grep -c 'île' big.csv"),
    C("big-head", "head -n 5 big.csv"),
    C("big-head-c", "head -c 100 big.csv"),
    C("big-tail", "tail -n 5 big.csv"),
    C("big-tail-nonl", "tail -n 2 big_nonl.csv"),
    C("big-tail-plus", "tail -n +99998 big.csv"),
    C("big-sort-head", "sort big.csv | head -n 3"),
    C("big-sort-n-key", "sort -t , -k3,3n big.csv | head -n 5"),
    C("big-sort-u-cut", "cut -d , -f 2,4 big.csv | sort -u | wc -l"),
    C("big-cut-uniq-sort-rn", "cut -d , -f 4 big.csv | sort | uniq -c | sort -rn"),
    C("big-wc-c", "wc -c < big.csv"),
]


@pytest.mark.parametrize(("line", "stdin", "loose"), BIG_CASES)
def test_big_same_as_gnu(line, stdin, loose, tmp_path, monkeypatch):
    _compare(line, stdin, BIG, tmp_path, monkeypatch, loose)


# ---- random texts through random pipelines ----------------------------------------------------

_CHARS = ["a", "b", "B", "x", "1", "2", "9", "-", ".", ",", " ", "\t", "é", "😀"]
_LINE = st.text(alphabet=st.sampled_from(_CHARS), max_size=8)

_MENU = [
    "cat", "cat -n", "sort", "sort -r", "sort -n", "sort -rn", "sort -u", "sort -f",
    "sort -t , -k2,2", "sort -k2", "sort -s -k1,1", "sort -t , -k1,1n", "sort -nu",
    "uniq", "uniq -c", "uniq -d", "uniq -u", "uniq -i",
    "cut -d , -f 2", "cut -d , -f 1,3-", "cut -d , -s -f 2", "cut -c 1-3", "cut -f 2",
    "cut -d ' ' -f 2,1",
    "head -n 2", "head -n -1", "head -c 5", "tail -n 2", "tail -n +2", "tail -c 5",
    "grep a", "grep -v a", "grep -c 1", "grep -i b", "grep -n x", "grep -w a", "grep -x a",
    "grep -o '[0-9][0-9]*'", "grep -E 'a|1'", "grep '^$'", "grep -F .", "grep -e -",
    "grep -ow '[[:alpha:]]*'", r"grep 'x\|b'",
    "wc -l", "wc -w", "wc -c",
]


@st.composite
def _inputs(draw):
    lines = draw(st.lists(_LINE, max_size=8))
    text = "\n".join(lines)
    if lines and draw(st.booleans()):
        text += "\n"
    stages = draw(st.lists(st.sampled_from(_MENU), min_size=1, max_size=3))
    from_file = draw(st.booleans())
    return text, stages, from_file


@settings(max_examples=150, deadline=None)
@given(_inputs())
def test_random_pipelines_same_as_gnu(case):
    text, stages, from_file = case
    stages = list(stages)
    stdin = text
    files = {}
    if from_file:  # the first stage reads a file operand instead of stdin
        stages[0] += " in.txt"
        files["in.txt"] = text.encode()
        stdin = ""
    line = " | ".join(stages)
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        _compare(line, stdin, files, Path(d), mp)
