"""`worktime secret diff`, `push` and `adopt`: secrets between places — the names compared
across the keyring, .dev.vars and the Worker; the local values uploaded to the Worker; a moved
checkout's keyring entries carried over from its old path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import JsonOption, ProjectTarget, Target, YesOption
from worktime_cli.cli.secret_store import keyring_notices
from worktime_cli.errors import WorktimeError

if TYPE_CHECKING:
    from worktime_cli.secrets import diff as secret_diff
    from worktime_cli.secrets import keyring_projects
    from worktime_cli.secrets.stores import SecretPush


def diff(
    remote: Annotated[
        bool,
        typer.Option(
            "--remote",
            help="Also compare the secrets set on the deployed Worker (Cloudflare's API).",
        ),
    ] = False,
    target: ProjectTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Compare secret names: required, in the keyring, in .dev.vars, on the Worker; never values.

    Required names are `[secrets] required` in the config, else the keys of
    .dev.vars.example. Locally a required name needs a value in the keyring or in .dev.vars
    (.dev.vars.<env> with --env; wrangler.toml [vars] do not count: they are committed
    plain text). With --remote it also needs to be set on the deployed Worker. A name that is
    set but not required is marked extra.

    Exits 1 when a required name is missing where it is needed (locally, or on the Worker
    with --remote), so a script or CI step can stop before a deploy; 0 otherwise.

    Example:

        worktime secret diff
        worktime secret diff --env staging --remote
        worktime secret diff --remote --json | jq .missing
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.secrets import diff as secret_diff

    with open_context(replace(target, remote=remote)) as ctx:
        local = secret_diff.local_places(ctx.config, target.env)
        worker = ctx.secrets().names().names if remote else None
        result = secret_diff.diff(local, worker)
    output.render(result, json=json, human=_diff_table)
    for warning in result.warnings:
        output.warn(warning)
    if not result.ok:
        if not json:
            for need, where, fix in (
                ("local", "locally", "`worktime secret put NAME`"),
                (
                    "worker",
                    "on the Worker",
                    "`worktime secret push`, or `worktime secret put NAME --remote`",
                ),
            ):
                names = [row.name for row in result.rows if need in row.missing]
                if names:
                    output.warn(f"required but missing {where}: {', '.join(names)} ({fix})")
        raise typer.Exit(1)


def _diff_table(result: secret_diff.SecretDiff) -> None:
    if not result.rows:
        output.info("no secret names anywhere, and none required")
        return
    output.print_table(
        ["name", "required", *result.places, "status"],
        [
            [row.name, row.required, *(place in row.present for place in result.places), row.status]
            for row in result.rows
        ],
    )


def adopt(
    source: Annotated[
        Path,
        typer.Option(
            "--from",
            help="Where the project was before it moved: its folder or its config file.",
            show_default=False,
        ),
    ],
    target: ProjectTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Carry this project's keyring secrets over from where it was before a move or rename.

    Keyring entries belong to one checkout (its config file's path), so two checkouts of one
    Worker never share values; a moved folder starts with none. This copies the old entries
    (names already set here keep their value) and deletes them when nothing is left at the
    old path; a copy that still exists keeps its own. Values are never shown.

    Example:

        mv ~/code/backend ~/src/backend && cd ~/src/backend
        worktime secret adopt --from ~/code/backend
        worktime secret adopt --from ~/code/backend --env staging
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.secrets import keyring_projects

    with open_context(target) as ctx:
        cfg = ctx.config
        old = source.expanduser().absolute()
        if old.is_dir() or old.suffix not in (".toml", ".json", ".jsonc"):
            old = old / cfg.path.name  # a folder: the config had the same file name there
        result = keyring_projects.adopt(cfg, old)
    output.render(result, json=json, human=_adopted)
    keyring_notices()


def _adopted(result: keyring_projects.Adopted) -> None:
    output.success(
        f"copied {len(result.copied)} secret(s) from {result.source} into {result.target}"
        + (f": {', '.join(result.copied)}" if result.copied else "")
    )
    if result.kept:
        output.info(f"already set here, kept: {', '.join(result.kept)}")
    if result.removed_old:
        output.info("the old entries are deleted (nothing is left at the old path)")
    else:
        output.info("the old entries are kept: a project still exists at the old path")


def push(
    yes: YesOption = False,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing", help="Upload the secrets that have a value; skip the others."
        ),
    ] = False,
    target: ProjectTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Upload every required secret that has a local value to the deployed Worker.

    Required names are `[secrets] required` in wrangler.toml, else the keys of
    .dev.vars.example; values come from the OS keyring or .dev.vars (never wrangler.toml
    vars). A required name without a value stops the push before anything is sent,
    unless --allow-missing. Asks first, listing the names (--yes to skip).

    Example:

        worktime secret push
        worktime secret push --env staging --yes
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.secrets import environment
    from worktime_cli.secrets import stores as secrets

    with open_context(replace(target, remote=True)) as ctx:
        resolved = environment.resolve(ctx.config, env=target.env)
        for warning in resolved.warnings:
            output.warn(warning)
        if resolved.keyring_error:
            output.warn(f"could not read the OS keyring: {resolved.keyring_error}")
        plan = secrets.plan_push(resolved)
        if plan.skipped and not allow_missing:
            raise WorktimeError(
                f"required secret(s) with no value in the keyring or .dev.vars: {', '.join(plan.skipped)}",
                hint="set them with `worktime secret put NAME`, or pass --allow-missing to skip them",
            )
        if plan.skipped:
            output.warn(f"no local value, skipped: {', '.join(plan.skipped)}")
        if not plan.values:
            from worktime_cli.remote.secrets import script_name
            from worktime_cli.targets.secrets import SecretTarget

            if not plan.required:
                output.info(
                    "no required secrets: list them under [secrets] required in wrangler.toml "
                    "or in .dev.vars.example"
                )
            # Nothing to send: no API client (and no token) needed to say so.
            worker = SecretTarget("worker", script_name(ctx.config))
            result = secrets.SecretPush(worker, (), plan.skipped)
        else:
            store = ctx.secrets()  # not logged in: said before the question, not after
            output.confirm(
                f"Upload {len(plan.values)} secret(s) to {store.target.place}: {', '.join(plan.values)}?",
                yes=yes,
                action=f"upload secrets to {store.target.place}",
            )
            uploaded = store.bulk(plan.values)
            result = secrets.SecretPush(uploaded.target, uploaded.stored, plan.skipped)
    output.render(result, json=json, human=_pushed)


def _pushed(result: SecretPush) -> None:
    if result.uploaded:
        output.success(
            f"uploaded {len(result.uploaded)} secret(s) to {result.target.place}: "
            + ", ".join(result.uploaded)
        )
