"""`flowc models check`: what a configured model endpoint supports, and the choices made from it.

    flowc models check ALIAS [--save] [--json]

Probes the endpoint of `[models.ALIAS]` in flowc.toml with a few tiny requests (see
`flowc.runtime.models.probe`), prints a table of the findings and the resulting settings
(`structured_output`, `agent_steps`, `parallel_tool_calls`); `--save` keeps them in
`.flowc/models.json` beside flowc.toml, where the model's "auto" settings read them. Errors are
one line: an unknown alias or a bad flowc.toml exits 2, an endpoint that cannot be reached 1.
"""

from __future__ import annotations

import json
from pathlib import Path

from flowc.errors import EXIT_ERRORS, EXIT_OK, CommandError

__all__ = ["add_models_commands"]


def cmd_models_check(args) -> int:
    from flowc.config import ConfigError, load_config
    from flowc.runtime.models.base import ModelError
    from flowc.runtime.models.probe import describe, probe, save_probe
    from flowc.runtime.models.router import Models

    try:
        project = load_config(Path.cwd())
        config = project.model(args.alias)
    except ConfigError as e:
        raise CommandError(str(e)) from None
    with Models(project) as models:
        try:
            found = probe(config, models.provider(config.provider))
        except ModelError as e:
            raise CommandError(f"model `{args.alias}` could not be probed: "
                               f"{' '.join(str(e).split())}", EXIT_ERRORS) from None
    saved = None
    if args.save:
        root = project.root or Path.cwd()
        saved = save_probe(root, found)
    if args.json:
        print(json.dumps({"alias": args.alias, **found.to_json(),
                          "saved": str(saved) if saved else None}, indent=1))
        return EXIT_OK
    print(f"model `{args.alias}`: {config.provider} {config.model} at {config.base_url}")
    for line in describe(found):
        print(line)
    if saved:
        print(f"\nsaved to {saved} (the model's \"auto\" settings use it)")
    return EXIT_OK


def add_models_commands(sub, parser_class) -> None:
    """Register `models` (`models check`)."""
    sp = sub.add_parser("models", help="model endpoints: what they support",
                        description="flowc models check ALIAS [--save] [--json]: probe the "
                        "endpoint of [models.ALIAS]; --save keeps the findings in "
                        ".flowc/models.json, --json prints them as JSON.")
    inner = sp.add_subparsers(dest="models_command", metavar="COMMAND",
                              parser_class=parser_class)
    inner.required = True
    check = inner.add_parser("check", help="probe a configured model's endpoint")
    check.add_argument("alias", metavar="ALIAS", help="a [models.ALIAS] in flowc.toml")
    check.add_argument("--save", action="store_true",
                       help="keep the findings in .flowc/models.json beside flowc.toml")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.set_defaults(func=cmd_models_check)
