"""`worktime kv bulk …`: put, get and delete many keys from a JSON file in wrangler's format."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.context import render
from worktime_cli.cli.kv_options import BindingOption, NamespaceIdOption, open_namespace
from worktime_cli.cli.options import (
    JsonOption,
    PreviewTarget,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.kv import BulkResult

FileArg = Annotated[Path, typer.Argument(help="The JSON file.", dir_okay=False, show_default=False)]


_IGNORED_BY_WRANGLER = (
    "wrangler 4.164 declares it on `kv bulk put` but writes no item with it; refused rather "
    "than ignored: set it per item in the file"
)
BulkTtlOption = Annotated[
    str | None,
    typer.Option(
        "--ttl", metavar="S", help=f"Refused: {_IGNORED_BY_WRANGLER}.", show_default=False
    ),
]
BulkExpirationOption = Annotated[
    str | None,
    typer.Option("--expiration", metavar="EPOCH", help="Refused, as --ttl.", show_default=False),
]
BulkMetadataOption = Annotated[
    str | None,
    typer.Option("--metadata", metavar="JSON", help="Refused, as --ttl.", show_default=False),
]


def _refuse_bulk_defaults(ttl: str | None, expiration: str | None, metadata: str | None) -> None:
    """wrangler's `kv bulk put` accepts --ttl/--expiration/--metadata (putCommonArgs) and its
    handler never reads them: a script's `--ttl 3600` writes keys that never expire. Applying
    them here would expire keys that wrangler keeps, so refuse and name the per-item fields."""
    from worktime_cli.errors import UsageError

    given = {"--ttl": ttl, "--expiration": expiration, "--metadata": metadata}
    named = [name for name, value in given.items() if value is not None]
    if named:
        fields = {"--ttl": "expiration_ttl", "--expiration": "expiration", "--metadata": "metadata"}
        raise UsageError(
            f"`kv bulk put` refuses {' and '.join(named)}: wrangler 4.164 accepts "
            f"{'it' if len(named) == 1 else 'them'} there but applies "
            f"{'it' if len(named) == 1 else 'them'} to no item",
            hint="set "
            + ", ".join(f'"{fields[n]}"' for n in named)
            + " in each item of the JSON file (items may differ)",
        )


def bulk_put(
    file: FileArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    ttl: BulkTtlOption = None,
    expiration: BulkExpirationOption = None,
    metadata: BulkMetadataOption = None,
    target: PreviewTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Write many keys from a JSON array; locally all or nothing.

    Each item: {"key", "value", "expiration"?, "expiration_ttl"?, "metadata"?, "base64"?}.
    Every item is checked first; if any is invalid, they are all reported and nothing is written.
    With --remote: requests of up to 10,000 keys (under 100 MB), a few in flight, each retried
    on 429/5xx; a request that still fails leaves its keys unwritten and the error names them
    (--json: all of them) while the others land, so running the same file again is safe.

    Example:

        worktime kv bulk put seed.json --binding KV
        worktime kv bulk put seed.json --binding KV --remote
    """
    from worktime_cli import kv

    _refuse_bulk_defaults(ttl, expiration, metadata)

    with open_namespace(binding, namespace_id, target) as (namespace, aim):
        parsed = kv.parse_bulk_put(file)
        for warning in parsed.warnings:
            output.warn(warning)
        aimed = aim()
        with output.progress(f"writing {file.name}", len(parsed.items), unit="keys") as bar:
            result = namespace.bulk_put(parsed.items, progress=bar.advance)
        where = namespace.where
    render(result, aimed, json=json, human=lambda r: _bulk_done(r, file, where))


def bulk_get(
    file: FileArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    target: PreviewTarget = Target(),
) -> None:
    """Print the values of the keys listed in a JSON array, as `wrangler kv bulk get`.

    The file is bulk delete's: key names or {"name": …} objects. stdout is one JSON object,
    {"KEY": {"value": "text" | null}} (null: absent or expired), wrangler's local shape, also
    with --remote (one read per key; wrangler's remote prints {"KEY": "text"}).

    Example:

        worktime kv bulk get keys.json --binding KV
        worktime kv bulk get keys.json --binding KV --remote
    """
    from worktime_cli import kv

    with open_namespace(binding, namespace_id, target) as (namespace, _aim):
        keys = kv.parse_bulk_delete(file)
        found: dict[str, dict[str, str | None]] = {}
        for key in keys:
            entry = namespace.get(key)
            # wrangler reads with get(key, "text"): invalid UTF-8 becomes U+FFFD, as here.
            text = None if entry is None else entry.value.decode("utf-8", errors="replace")
            found[key] = {"value": text}
    output.print_json(found)


def bulk_delete(
    file: FileArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    yes: YesOption = False,
    target: PreviewTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Delete many keys listed in a JSON array of names or {"name": …} objects, all at once.

    Locally `deleted` counts the keys that were there; Cloudflare does not say, so with
    --remote it counts every distinct key listed (all of them are gone now).

    Example:

        worktime kv bulk delete old-keys.json --binding KV --yes
        worktime kv bulk delete old-keys.json --binding KV --remote --yes
    """
    from worktime_cli import kv

    with open_namespace(binding, namespace_id, target) as (namespace, aim):
        keys = kv.parse_bulk_delete(file)
        where = namespace.where
        aimed = aim()
        output.confirm(
            f"Delete {len(keys)} key(s) listed in {file}{where}?",
            yes=yes,
            action=f"delete {len(keys)} key(s){where}",
        )
        with output.progress(f"deleting {file.name}", len(keys), unit="keys") as bar:
            result = namespace.bulk_delete(keys, progress=bar.advance)
    render(result, aimed, json=json, human=lambda r: _bulk_done(r, file, where))


def _bulk_done(result: BulkResult, file: Path, where: str) -> None:
    if result.action == "written":
        output.success(f"wrote {result.count} key(s) from {file}{where}")
    else:
        output.success(
            f"deleted {result.count} of {result.requested} key(s) listed in {file}{where}"
        )
