"""`flowc lsp`: the command that starts the language server (stdio by default)."""

from __future__ import annotations

__all__ = ["add_lsp_commands"]


def _host_port(text: str) -> tuple[str, int]:
    import argparse

    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("expected HOST:PORT, such as 127.0.0.1:2087")
    return host or "127.0.0.1", int(port)


def cmd_lsp(args) -> int:
    import logging
    import sys
    from pathlib import Path

    # pygls is imported only here: `flowc check` must not pay for it at start-up
    from flowc.lsp.server import create_server

    level = logging.DEBUG if args.verbose else logging.WARNING
    handler: logging.Handler = (logging.FileHandler(args.log, encoding="utf-8") if args.log
                                else logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=level, handlers=[handler],
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = create_server([Path(d) for d in args.skills])
    if args.tcp:
        host, port = args.tcp
        server.start_tcp(host, port)
    else:
        server.start_io()
    return 0


def add_lsp_commands(sub, parser_class) -> None:
    """Register `flowc lsp`."""
    sp = sub.add_parser("lsp", help="run the language server (for editors)",
                        description="Run the flowc language server. Editors start it and "
                        "talk LSP over its standard input and output.")
    mode = sp.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (default)")
    mode.add_argument("--tcp", type=_host_port, metavar="HOST:PORT",
                      help="listen on a TCP port instead")
    sp.add_argument("--skills", action="append", default=[], metavar="DIR",
                    help="an extra skill registry folder (may be repeated)")
    sp.add_argument("--log", metavar="FILE", help="write the server's log here")
    sp.add_argument("-v", "--verbose", action="store_true", help="log every message")
    sp.set_defaults(func=cmd_lsp)
