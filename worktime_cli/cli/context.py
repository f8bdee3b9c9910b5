"""What one invocation acts on, decided once: the config, and the local state or Cloudflare.

Every command that reads the config or touches a resource opens one `Context`. It loads the
config once, refuses option combinations that mean nothing (`--local --remote`, a local-only
option with `--remote`) in one place, picks the local or remote implementation of each
resource, and owns the one HTTP client, closed when the command ends. Command bodies never ask
whether they are remote: they call the resource they are given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import UsageError

if TYPE_CHECKING:
    from worktime_cli.cli.options import Target
    from worktime_cli.cli.output import Renderable
    from worktime_cli.project.config import Config
    from worktime_cli.remote.client import Client
    from worktime_cli.targets.d1 import D1Databases
    from worktime_cli.targets.kv import KVNamespaces
    from worktime_cli.targets.migrations import MigrationsTarget
    from worktime_cli.targets.remote_write import Kind, RemoteWrite
    from worktime_cli.targets.secrets import SecretStore


class Context:
    """The config, the target (local or remote) and the HTTP client of one invocation."""

    def __init__(
        self,
        *,
        config_path: Path | None = None,
        persist_to: Path | None = None,
        remote: bool = False,
        env: str | None = None,
    ) -> None:
        self.config_path = config_path
        self.persist_to = persist_to
        self.remote = remote
        self.env = env
        self._config: Config | None = None
        self._client: Client | None = None

    @property
    def config(self) -> Config:
        """wrangler's config, found and parsed on first use, then kept."""
        if self._config is None:
            from worktime_cli.project import config

            self._config = (
                config.load(self.config_path)
                if self.env is None
                else config.load(self.config_path, env=self.env)
            )
            self._say_where(self._config)
        return self._config

    def _say_where(self, cfg: Config) -> None:
        """Under -v: which config (and environment) was found, and where local state is."""
        from worktime_cli.cli import output
        from worktime_cli.project import state

        found = "--config" if self.config_path is not None else "the nearest to the current folder"
        output.detail(f"config: {cfg.path} ({found})")
        output.detail(f"environment: {cfg.env or 'top level (no --env)'}")
        if not self.remote:
            given = " (--persist-to)" if self.persist_to is not None else ""
            output.detail(f"local state: {state.root(cfg, self.persist_to)}{given}")

    @property
    def client(self) -> Client:
        """The one HTTP client to Cloudflare's API (keep-alive across every request)."""
        if not self.remote:
            raise AssertionError("the HTTP client is only for --remote targets")
        if self._client is None:
            from worktime_cli.remote.client import from_environment

            self._client = from_environment(self.config)
            from worktime_cli.cli import output

            output.detail(f"Cloudflare API: {self._client.base_url}")
        return self._client

    def d1(self) -> D1Databases:
        if self.remote:
            from worktime_cli.remote.d1 import RemoteD1

            # create --remote moves the local file to the new id, so it needs the state folder.
            return RemoteD1(self.client, self.config, persist_to=self.persist_to)
        from worktime_cli.d1 import LocalD1

        return LocalD1(self.config, self.persist_to)

    def migrations(self, database: str, *, preview: bool = False) -> MigrationsTarget:
        """`preview`: wrangler's `--preview`, the preview_database_id (the CLI allows it with
        --remote only, as wrangler; the local file is the preview id's already)."""
        if self.remote:
            from worktime_cli.remote.migrations import RemoteMigrations

            return RemoteMigrations(self.client, self.config, database, preview=preview)
        from worktime_cli.migrations import LocalMigrations

        return LocalMigrations(self.config, self.persist_to, database)

    def kv(self) -> KVNamespaces:
        if self.remote:
            from worktime_cli.remote.kv import RemoteKV

            return RemoteKV(self.client, self.config)
        from worktime_cli.kv import LocalKV

        return LocalKV(self.config, self.persist_to)

    def secrets(self) -> SecretStore:
        if self.remote:
            from worktime_cli.remote.secrets import RemoteSecrets

            return RemoteSecrets(self.client, self.config)
        from worktime_cli.secrets.stores import KeyringSecrets

        return KeyringSecrets(self.config, self.env)

    def aim(self, kind: Kind, name: str, ident: Callable[[], str | None]) -> RemoteWrite | None:
        """Before a write: with --remote, say which resource it changes (one line on stderr:
        name, id, env, account) and return it for `--json`; locally, nothing (None).

        Every remote write calls this, before its confirmation. `ident` gives the resource's
        id and is only called remotely (it may need a request).
        """
        if not self.remote:
            return None
        from worktime_cli.cli import output
        from worktime_cli.targets.remote_write import RemoteWrite

        target = RemoteWrite(kind, name, ident(), self.config.env, self.client.account_id)
        output.info(target.line())
        return target

    def aim_database(self, name_or_binding: str) -> RemoteWrite | None:
        """`aim` at a D1 database as the user named it (name or binding), resolved first."""
        if not self.remote:
            return None
        found = self.d1().database(name_or_binding)
        return self.aim("d1_database", found.name, lambda: found.database_id)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def render(
    result: Renderable,
    target: RemoteWrite | None,
    *,
    json: bool,
    human: Callable[[Any], None],
) -> None:
    """`output.render`, with the remote write's target (`Context.aim`) in the JSON."""
    from worktime_cli.cli import output
    from worktime_cli.targets.remote_write import with_target

    if json:
        output.print_json(with_target(result.to_json(), target))
    else:
        human(result)


def check_options(
    *,
    remote: bool,
    local: bool = False,
    local_only: Mapping[str, object] | None = None,
    remote_only: Mapping[str, object] | None = None,
) -> None:
    """Refuse options that mean nothing together: the same usage error (exit 2) everywhere."""
    if local and remote:
        raise UsageError("--local and --remote cannot be combined", hint="give one of them")
    given = _given(local_only) if remote else _given(remote_only)
    if remote and given:
        raise UsageError(f"{', '.join(given)} cannot be combined with --remote")
    if not remote and given:
        raise UsageError(f"{', '.join(given)} needs --remote")


def _given(options: Mapping[str, object] | None) -> list[str]:
    return [name for name, value in (options or {}).items() if value not in (None, False, (), [])]


@contextmanager
def open_context(
    target: Target,
    *,
    local_only: Mapping[str, object] | None = None,
    remote_only: Mapping[str, object] | None = None,
) -> Iterator[Context]:
    """The context of one command; options checked first, the HTTP client closed at the end.

    `target` is the command's target options (`cli.options.Target`); `local_only` and
    `remote_only` name the options that mean nothing on the other side.

    Example:

        def list_(target: Target = Target(), json: JsonOption = False) -> None:
            with open_context(target, local_only={"--persist-to": target.persist_to}) as ctx:
                result = ctx.kv().list()
    """
    check_options(
        remote=target.remote, local=target.local, local_only=local_only, remote_only=remote_only
    )
    ctx = Context(
        config_path=target.config,
        persist_to=target.persist_to,
        remote=target.remote,
        env=target.env,
    )
    try:
        yield ctx
    finally:
        ctx.close()
