"""`mailtickets db upgrade|current` and `--version`: the schema revision as ops see it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sqlalchemy.engine import Engine

from mailtickets import schema
from mailtickets.db import connect


def db_parser(sub: Any) -> None:
    db = sub.add_parser("db", help="the database schema: upgrade, current revision")
    verbs = db.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("upgrade", help="bring the schema to this release's revision")
    verbs.add_parser("current", help="the schema revision of the database and of this release")


def run_db(url: str, args: argparse.Namespace) -> int:
    """Upgrade, or report, the schema of the database at `url`."""
    engine = connect(url)
    try:
        if args.verb == "upgrade":
            print(f"database {schema.where(engine)}: {schema.upgrade(engine).line()}")
        else:
            print(current_text(engine))
    finally:
        engine.dispose()
    return 0


def current_text(engine: Engine) -> str:
    revision, head = schema.current(engine), schema.head()
    if revision == head:
        state = "up to date"
    elif revision is None and schema.has_release_0_1_0_tables(engine):
        state = f"made by mailtickets 0.1.0, before revisions: the next command stamps it {head}"
    elif revision is None:
        state = "new database: the next command creates the schema"
    elif revision in schema.known_revisions():
        state = "behind: `mailtickets db upgrade` (or any command) upgrades it"
    else:
        state = "newer than this mailtickets: upgrade mailtickets"
    return (
        f"database {schema.where(engine)}: {revision or 'none'}\n"
        f"mailtickets {release()}: {head} (head)\n{state}"
    )


def release() -> str:
    try:
        return version("mailtickets")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def version_line() -> str:
    return f"mailtickets {release()} (schema {schema.head()})"


class VersionAction(argparse.Action):
    """`--version`, computed only when asked for, and without reading a config file."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the release and its schema revision, then exit")
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(version_line())
        parser.exit()
