"""Options and the opening step shared by the kv commands: which namespace (--binding or
--namespace-id), the command's context, and the one namespace a key or bulk command acts on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from worktime_cli.cli.context import Context
    from worktime_cli.targets.kv import KVNamespace
    from worktime_cli.targets.remote_write import RemoteWrite

BindingOption = Annotated[
    str | None,
    typer.Option(
        "--binding", help="The namespace's binding name in wrangler.toml.", show_default=False
    ),
]
NamespaceIdOption = Annotated[
    str | None,
    typer.Option(
        "--namespace-id",
        help="The namespace id (need not be in wrangler.toml).",
        show_default=False,
    ),
]


def named(binding: str | None, namespace_id: str | None) -> tuple[str, bool]:
    """The namespace named by exactly one of --binding / --namespace-id, and whether by id."""
    from worktime_cli.errors import UsageError

    if (binding is None) == (namespace_id is None):
        raise UsageError("give exactly one of --binding or --namespace-id")
    if namespace_id is not None:
        return namespace_id, True
    assert binding is not None
    return binding, False


@contextmanager
def kv_context(
    *, config: Path | None, env: str | None, persist_to: Path | None, remote: bool, local: bool
) -> Iterator[Context]:
    """The command's context: --persist-to is local state, so it means nothing with --remote."""
    from worktime_cli.cli.context import open_context

    with open_context(
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        local_only={"--persist-to": persist_to},
    ) as ctx:
        yield ctx


@contextmanager
def open_namespace(
    binding: str | None,
    namespace_id: str | None,
    preview: bool | None,
    remote: bool,
    local: bool,
    config: Path | None,
    env: str | None,
    persist_to: Path | None,
    /,
) -> Iterator[tuple[KVNamespace, Callable[[], RemoteWrite | None]]]:
    """The one namespace a key or bulk command acts on, closed when the command ends, and
    `aim()`: a write calls it once its input is checked, just before writing (or asking).

    The arguments are the command's options in the order every key and bulk command declares
    them, so a command opens its namespace in one line:

        opened = open_namespace(binding, namespace_id, preview, remote, local, config, env, persist_to)
        with opened as (namespace, aim):
            ...
    """
    with kv_context(
        config=config, env=env, persist_to=persist_to, remote=remote, local=local
    ) as ctx:
        name, by_id = named(binding, namespace_id)
        namespace = ctx.kv().namespace(name, by_id=by_id, preview=preview)
        try:
            yield namespace, lambda: ctx.aim("kv_namespace", name, lambda: namespace.id)
        finally:
            namespace.close()
