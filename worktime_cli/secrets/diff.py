"""Which secret names are where: required by the config, in the keyring, in the dotenv file,
on the deployed Worker. Names only: no value is read for a diff (the keyring's index and the
Worker's list hold names; a dotenv file is parsed, its values dropped at once).

`plan` is pure and shared by the local and the remote view; `local_places` reads the two
local places. What "missing" means, once, here:
- locally, a required name needs a value in the keyring or the dotenv file (`.dev.vars`, or
  `.dev.vars.<env>`; the `.env` files when there is none): a `[vars]` value is committed plain
  text, not a secret, and `secret push` would not upload it;
- with `--remote`, a required name needs to be set on the deployed Worker too.
A name present somewhere but not required is `extra` (only when a required list exists): worth
a look, never a failure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import WorktimeError

if TYPE_CHECKING:
    from worktime_cli.project.config import Config

KEYRING = "keyring"
WORKER = "worker"
LOCAL = "local"  # the need the keyring or the dotenv file meets


@dataclass(frozen=True)
class DiffRow:
    name: str
    required: bool
    present: tuple[str, ...]  # the places that have it, in the diff's column order
    missing: tuple[str, ...]  # "local" and/or "worker": where a required name is lacking
    extra: bool  # not required, though a required list exists

    @property
    def status(self) -> str:
        if self.missing:
            return "missing " + " and ".join(
                "locally" if need == LOCAL else "on the Worker" for need in self.missing
            )
        return "extra" if self.extra else "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "required": self.required,
            "present": list(self.present),
            "missing": list(self.missing),
            "extra": self.extra,
        }


@dataclass(frozen=True)
class SecretDiff:
    places: tuple[str, ...]  # column order: "keyring", the dotenv file(s), "worker"
    rows: tuple[DiffRow, ...]
    required_from: str | None  # wrangler.toml, .dev.vars.example, or None: nothing required
    keyring_error: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(row.name for row in self.rows if row.missing)

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        return {
            "places": list(self.places),
            "required_from": self.required_from,
            "secrets": [row.to_json() for row in self.rows],
            "missing": list(self.missing),
            "ok": self.ok,
            "keyring_error": self.keyring_error,
            "warnings": list(self.warnings),
        }


def plan(
    required: Sequence[str],
    places: Mapping[str, Collection[str]],
    *,
    has_required_list: bool = True,
) -> SecretDiff:
    """Compare the names in `places` (column order kept) with `required`; pure."""
    local = [place for place in places if place != WORKER]
    names = sorted(set(required).union(*places.values()))
    rows = []
    for name in names:
        present = tuple(place for place in places if name in places[place])
        missing: list[str] = []
        if name in required:
            if not any(place in present for place in local):
                missing.append(LOCAL)
            if WORKER in places and WORKER not in present:
                missing.append(WORKER)
        rows.append(
            DiffRow(
                name=name,
                required=name in required,
                present=present,
                missing=tuple(missing),
                extra=has_required_list and name not in required,
            )
        )
    return SecretDiff(places=tuple(places), rows=tuple(rows), required_from=None)


@dataclass(frozen=True)
class LocalPlaces:
    required: tuple[str, ...]
    required_from: str | None
    places: dict[str, frozenset[str]]  # "keyring", then each dotenv file by its name
    keyring_error: str | None
    warnings: tuple[str, ...]


def local_places(cfg: Config, env: str | None) -> LocalPlaces:
    """The required names and the names in the keyring and the dotenv file(s) for `env`."""
    from worktime_cli.project import devvars
    from worktime_cli.secrets import environment, keyring_projects, keyring_store

    env = devvars.validate_env(cfg.env if env is None else env)
    required, required_from = environment.required_names(cfg, env)
    keyring_error = None
    try:
        in_keyring = frozenset(keyring_projects.read_index(keyring_projects.project_service(cfg)))
    except WorktimeError as exc:
        in_keyring = frozenset()
        keyring_error = exc.message
    places: dict[str, frozenset[str]] = {KEYRING: in_keyring}
    files = devvars.dotenv_files(cfg.root, env)
    for path in files:
        places[path.name] = frozenset(devvars.read_dotenv(path))
    if not files:  # the column wrangler would read, empty: where the user would add them
        places[f"{devvars.DEV_VARS}.{env}" if env else devvars.DEV_VARS] = frozenset()
    warnings = environment.env_warnings(cfg, env) + keyring_store.take_notices()
    return LocalPlaces(tuple(required), required_from, places, keyring_error, warnings)


def diff(local: LocalPlaces, worker: Collection[str] | None = None) -> SecretDiff:
    """The diff of the local places and, when given, the Worker's secret names."""
    places: dict[str, Collection[str]] = dict(local.places)
    if worker is not None:
        places[WORKER] = frozenset(worker)
    result = plan(local.required, places, has_required_list=local.required_from is not None)
    warnings = local.warnings
    if local.keyring_error:
        warnings += (f"could not read the OS keyring: {local.keyring_error}",)
    return SecretDiff(
        places=result.places,
        rows=result.rows,
        required_from=local.required_from,
        keyring_error=local.keyring_error,
        warnings=warnings,
    )
