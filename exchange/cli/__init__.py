"""The `congvan` command line: one entry point for signing, verifying and running the service.

One module per family of commands: documents (sign, prepare, issue, verify), remote, receipts,
directory (agencies, groups), users, operations (migrate, jobs, audit, registers), service
(serve, worker) and dev (dev-pki, demo, dev-data); errors.py (exit codes, the error decorator),
options.py (shared options and path types) and database.py (settings and a session) serve them
all. Messages a person reads are in Vietnamese; `--json` output keeps the English field names of
the contract in DESIGN.md so software can rely on them.
"""

from __future__ import annotations

import logging

import click

from exchange.cli import (
    dev,
    directory,
    documents,
    operations,
    receipts,
    remote,
    service,
    users,
)
from exchange.config import debug_from_env

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """congvan: ký số, kiểm tra chữ ký và trao đổi văn bản điện tử."""
    logging.basicConfig(level=logging.DEBUG if debug_from_env() else logging.WARNING)


for family in (documents, remote, receipts, directory, users, operations, service, dev):
    for command in family.COMMANDS:
        main.add_command(command)
