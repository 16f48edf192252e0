"""Running skills' entry commands in the sandbox: staging their folders, building the line.

Shared by the engine (skill and command nodes) and `flowc skill test` (fixtures).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

__all__ = ["stage_skill", "shell_code", "entry_line", "is_file_value", "sandbox_options"]

_HOLE = re.compile(r"\{(\w+)\}")


def is_file_value(value: Any) -> bool:
    """A file value the runtime minted: it carries a handle (`file_id`) to the runtime's
    record of the file. A dict with only `path` and `sha256` is data, never a file."""
    return isinstance(value, dict) and "file_id" in value


def _local_name(hole: str, value: dict) -> str:
    """Where a file appears in the working directory: `in/HOLE/NAME`, NAME the last part of
    the value's name when it is a safe one (the content comes from the runtime's record)."""
    from .sandbox.files import UnsafeName, safe_name

    name = str(value.get("name") or "file").replace("\\", "/").rsplit("/", 1)[-1]
    try:
        name = safe_name(name)
    except UnsafeName:
        name = "file"
    return f"in/{hole}/{name}"


def stage_skill(folder: Path, alias: str, entry: str | None, inputs: dict, commands: dict) -> None:
    """Put a skill's files into the sandbox inputs and register its entry command. Only the
    skill's own regular files go in: a link (to a file or folder out of the skill, such as
    `~/.aws/credentials` or `/proc/self/environ`) and anything that is not a regular file
    are left out."""
    import os
    import stat

    root = folder.resolve()
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder)
        if "__pycache__" in rel.parts or rel.parts[0] == "wheels":
            continue
        try:
            st = f.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or not f.resolve().is_relative_to(root):
            continue  # a link, a device, a FIFO, a folder; or reached through a linked folder
        if os.path.realpath(f) != str(root / rel):
            continue
        inputs[f".flowc/skills/{alias}/{rel.as_posix()}"] = str(f)
    if entry:
        cmd = entry.split()[0]
        if (folder / "scripts" / f"{cmd}.py").is_file():
            commands[cmd] = f".flowc/skills/{alias}/scripts/{cmd}.py"


def sandbox_options(inputs: dict) -> dict:
    """What the staged skills need from the sandbox: the packages their SKILL.md declares
    (`packages: [...]`), loaded offline from their `wheels/` folders and the sandbox's
    wheelhouse before the command line runs. Empty when no skill declares any."""
    from flowc.compiler.skills import load_skill

    packages: dict[str, str] = {}
    wheel_dirs: list[str] = []
    for name, src in sorted(inputs.items()):
        parts = name.split("/")
        if len(parts) != 4 or parts[:2] != [".flowc", "skills"] or parts[3] != "SKILL.md":
            continue
        folder = Path(src).parent
        sv, _problem = load_skill(folder, folder.parent)
        if sv is None or not sv.packages:
            continue
        for pkg in sv.packages:
            packages.setdefault(pkg, f"skill `{sv.name}` {sv.version}")
        if (folder / "wheels").is_dir():
            wheel_dirs.append(str(folder / "wheels"))
    if not packages:
        return {}
    return {"packages": packages, "wheel_dirs": tuple(wheel_dirs)}


def shell_code(line: str, stdin: str, commands: dict) -> str:
    """The code the sandbox runs: one command line, through the shell module every sandbox
    preloads at start (`flowc_shell`, see sandbox/process.py `preload_modules`)."""
    return ("from flowc_shell import run_line\n"
            f"result = run_line({json.dumps(line)}, {json.dumps(stdin)}, {json.dumps(commands)})\n")


def entry_line(entry: str, args: dict, render) -> tuple[str, str, dict]:
    """A skill's entry with its `{input}` words filled (quoted), `-` fed from standard input.

    Returns (line, stdin, files to stage: {local name: file value}): a file value stands for
    its local path, and the caller stages it from its handle (`nodes/shell.run_shell` refuses
    anything that is not a handle of the run's files). Any other value is one quoted word."""
    words, stdin, files = [], "", {}
    split = entry.split()
    for k, word in enumerate(split):
        m = _HOLE.fullmatch(word)
        if m:
            value = args.get(m.group(1))
            if value is None:
                words.append("''")
            elif is_file_value(value):
                local = _local_name(m.group(1), value)
                files[local] = value
                words.append(shlex.quote(local))
            else:
                words.append(shlex.quote(render(value)))
        elif word == "-":
            words.append("-")
            # `--body -`: standard input is the input the flag names, else the first text one
            named = split[k - 1].lstrip("-").replace("-", "_") if k else ""
            value = args.get(named)
            if not isinstance(value, str):
                value = next((v for v in args.values() if isinstance(v, str)), "")
            stdin = value
        else:
            words.append(word)
    return " ".join(words), stdin, files
