"""`worktime kv namespace …`: create, list, delete and gc KV namespaces (rename is refused,
naming wrangler's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.context import render
from worktime_cli.cli.kv_options import BindingOption, NamespaceIdOption, kv_context, named
from worktime_cli.cli.options import (
    JsonOption,
    LocalTarget,
    StatelessTarget,
    Takes,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.kv import CreatedNamespace, DeletedNamespace, NamespaceList


def namespace_create(
    binding: Annotated[
        str, typer.Argument(help="Binding name for the new namespace, e.g. KV.", show_default=False)
    ],
    as_binding: Annotated[
        str | None,
        typer.Option(
            "--binding",
            help="wrangler's binding name: accepted when it is the positional BINDING (worktime "
            "names a namespace by its binding; the remote title is derived from it).",
            show_default=False,
        ),
    ] = None,
    update_config: Annotated[
        bool,
        typer.Option(
            "--update-config",
            help="Accepted as wrangler spells it: worktime always records the namespace in "
            "wrangler.toml.",
        ),
    ] = False,
    target: StatelessTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Create a namespace: a new 32-hex id, appended to wrangler.toml as [[kv_namespaces]].

    With --remote, create `<worker name>-<BINDING>` on Cloudflare (wrangler's title) and
    record its id; an existing local id is kept as preview_id so local data stays found.

    Example:

        worktime kv namespace create KV
        worktime kv namespace create KV --remote
    """
    from worktime_cli.errors import UsageError

    del update_config  # wrangler's opt-in is what worktime always does
    if as_binding is not None and as_binding != binding:
        # wrangler's positional is the new namespace's title and --binding its binding; here
        # the positional is the binding, so two different names cannot both be honoured.
        raise UsageError(
            f"--binding {as_binding} differs from BINDING {binding}: worktime's positional is "
            "the binding (the remote title is derived from it)",
            hint=f"run `worktime kv namespace create {as_binding}`",
        )
    with kv_context(target) as ctx:
        aimed = ctx.aim("kv_namespace", binding, lambda: None)
        created = ctx.kv().create(binding)
    render(created, aimed, json=json, human=_created)


def _created(created: CreatedNamespace) -> None:
    output.success(created.summary())
    if created.preview_id is not None:
        output.info(f"local data stays under preview_id {created.preview_id}")


def namespace_rename(
    old_name: Annotated[
        str | None, typer.Argument(help="The namespace's current title.", show_default=False)
    ] = None,
    namespace_id: NamespaceIdOption = None,
    new_name: Annotated[
        str | None, typer.Option("--new-name", help="The new title.", show_default=False)
    ] = None,
    target: Annotated[Target, Takes("remote", "config", "env")] = Target(),
) -> None:
    """Refuse, naming what to use: worktime does not rename namespaces (wrangler's rename).

    Locally a namespace has no title (its binding in wrangler.toml is its name); a remote
    title is changed with `npx wrangler kv namespace rename OLD --new-name NEW`.

    Example:

        npx wrangler kv namespace rename worktime-backend-KV --new-name worktime-KV
    """
    from worktime_cli.errors import UsageError

    del old_name, namespace_id, new_name, target
    raise UsageError(
        "worktime does not rename KV namespaces: locally a namespace has no title (its "
        "binding in wrangler.toml is its name), and the remote title is wrangler's to change",
        hint="run `npx wrangler kv namespace rename OLD --new-name NEW` (or rename the binding "
        "in wrangler.toml)",
    )


def namespace_list(
    target: Target = Target(),
    json: JsonOption = False,
) -> None:
    """List the namespaces in wrangler.toml with their local key counts (--remote: the account's).

    Example:

        worktime kv namespace list --json
        worktime kv namespace list --remote
    """
    with kv_context(target) as ctx:
        found = ctx.kv().list()
    output.render(found, json=json, human=_namespace_table)


def _namespace_table(found: NamespaceList) -> None:
    if not found.namespaces:
        output.info(found.empty_note)
        return
    columns, rows = found.table()
    output.print_table(columns, rows, justify={"local keys": "right"})


def namespace_delete(
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    yes: YesOption = False,
    target: Target = Target(),
    json: JsonOption = False,
) -> None:
    """Delete a namespace's local data and remove it from wrangler.toml.

    With --remote, delete the namespace and all its keys on Cloudflare instead;
    wrangler.toml and local data are left as they are.

    Example:

        worktime kv namespace delete --binding KV --yes
        worktime kv namespace delete --binding KV --remote
    """
    with kv_context(target) as ctx:
        name, by_id = named(binding, namespace_id)
        namespaces = ctx.kv()
        # Resolve before asking: an unknown name fails without a prompt (and sends nothing).
        found = namespaces.namespace(name, by_id=by_id)
        found.close()
        aimed = ctx.aim("kv_namespace", name, lambda: found.id)
        label = namespaces.describe(name)
        output.confirm(
            f"Delete {label} and every key in it? This cannot be undone.",
            yes=yes,
            action=f"delete {label}",
        )
        deleted = namespaces.delete(name, by_id=by_id)
    render(deleted, aimed, json=json, human=_deleted)


def _deleted(deleted: DeletedNamespace) -> None:
    output.success(deleted.summary())


def namespace_gc(
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    target: LocalTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Remove value files no key refers to (left behind by a crash or a kill).

    Every write already removes such files once they are a minute old; this removes them
    all now, so run it when nothing else (e.g. wrangler dev) is writing to the namespace.

    Example:

        worktime kv namespace gc --binding KV
    """
    from worktime_cli.kv import LocalKV

    with kv_context(target) as ctx:
        name, by_id = named(binding, namespace_id)
        # Local files only: there is nothing to collect on Cloudflare.
        result = LocalKV(ctx.config, target.persist_to).gc(name, by_id=by_id)
    output.render(
        result,
        json=json,
        human=lambda r: output.success(f"removed {r.removed} orphaned value file(s)"),
    )
