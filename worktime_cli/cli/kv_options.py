"""Options and the opening step shared by the kv commands: which namespace (--binding or
--namespace-id), the command's context, and the one namespace a key or bulk command acts on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from worktime_cli.cli.context import Context
    from worktime_cli.cli.options import Target
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
def kv_context(target: Target) -> Iterator[Context]:
    """The command's context: --persist-to is local state, so it means nothing with --remote."""
    from worktime_cli.cli.context import open_context

    with open_context(target, local_only={"--persist-to": target.persist_to}) as ctx:
        yield ctx


@contextmanager
def open_namespace(
    binding: str | None, namespace_id: str | None, target: Target
) -> Iterator[tuple[KVNamespace, Callable[[], RemoteWrite | None]]]:
    """The one namespace a key or bulk command acts on, closed when the command ends, and
    `aim()`: a write calls it once its input is checked, just before writing (or asking).

        with open_namespace(binding, namespace_id, target) as (namespace, aim):
            ...
    """
    with kv_context(target) as ctx:
        name, by_id = named(binding, namespace_id)
        namespace = ctx.kv().namespace(name, by_id=by_id, preview=target.preview)
        try:
            yield namespace, lambda: ctx.aim("kv_namespace", name, lambda: namespace.id)
        finally:
            namespace.close()
