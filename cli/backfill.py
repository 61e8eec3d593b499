"""`hotelctl backfill ASSET --from DATE --to DATE`: rebuild day partitions in chunks of days, a Dagster run each.

A chunk is as many days as the assets' backfill policy allows per run (`BackfillPolicy.multi_run`; a run per day
for assets without one), or `--days-per-run`. Each chunk is one partition-range run in the platform's Dagster
instance (`dg.materialize(..., instance=...)`), which records every day of it as materialised (or failed), so the
UI shows each day's partition; a run's fixed cost (~1 s) is paid once per chunk instead of once per day. A failed
chunk is retried once, on its own, before its days are reported failed. Each run runs in a process of its own,
forked from hotelctl's, which holds one chunk's batches at a time: a backfill of a year needs the memory of a
backfill of one chunk. Chunks run in order; a failure is reported and the next chunk still runs; the exit code is
non-zero if any day failed.
"""

from __future__ import annotations

import gc
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import QUIET_CONSOLE, console, endpoints_or_exit, quiet_dagster_warnings, settings_or_exit

if TYPE_CHECKING:  # imported where it runs, so every other hotelctl command starts about a second sooner
    import dagster as dg


@dataclass(frozen=True)
class PartitionOutcome:
    partition: str
    success: bool
    run_id: str
    error: str = ""
    failed_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    """The asset definitions to load and, within them, exactly the asset keys to build."""

    assets: list[dg.AssetsDefinition]
    keys: list[dg.AssetKey]

    @property
    def names(self) -> str:
        return ", ".join(key.to_user_string() for key in self.keys)


def select_assets(defs: dg.Definitions, names: list[str]) -> Selection:
    """Asset keys or group names; ValueError naming what is unknown or not partitioned."""
    import dagster as dg

    graph = defs.resolve_asset_graph()
    chosen: list[dg.AssetKey] = []
    for name in names:
        key = dg.AssetKey.from_user_string(name)
        if graph.has(key):
            chosen.append(key)
            continue
        in_group = [node.key for node in graph.asset_nodes if node.group_name == name]
        if not in_group:
            raise ValueError(f"ASSET: '{name}' is neither an asset key nor an asset group")
        chosen.extend(in_group)
    order = {key: index for index, key in enumerate(graph.toposorted_asset_keys)}
    keys = sorted(dict.fromkeys(chosen), key=order.__getitem__)
    for key in keys:
        if graph.get(key).partitions_def is None:
            raise ValueError(f"ASSET: '{key.to_user_string()}' is not partitioned; run it with `hotelctl run`")
    assets = list({id(definition): definition for definition in (defs.get_assets_def(key) for key in keys)}.values())
    return Selection(assets, keys)


def partition_keys(selection: Selection, start: date, end: date) -> list[str]:
    if end < start:
        raise ValueError(f"--to: {end} is before --from {start}")
    partitions = {asset.partitions_def for asset in selection.assets}
    if len(partitions) != 1:
        raise ValueError("ASSET: the assets chosen do not share one partitioning; backfill them separately")
    definition = partitions.pop()
    keys = definition.get_partition_keys()
    wanted = [key for key in keys if start.isoformat() <= key <= end.isoformat()]
    missing = (end - start).days + 1 - len(wanted)
    if missing:
        raise ValueError(f"--from/--to: {missing} day(s) of {start}..{end} are outside the partitions "
                         f"({keys[0]}..{keys[-1]})")
    return wanted


def policy_days(selection: Selection) -> int:
    """Days per run the selected assets' backfill policies allow (the smallest; 1 when one has none)."""
    limits = []
    for asset in selection.assets:
        policy = asset.backfill_policy
        limits.append((policy.max_partitions_per_run or 10_000) if policy else 1)
    return max(1, min(limits, default=1))


def _root_message(error) -> str:
    """The first error in the chain that is not Dagster's own wrapper (ours names the asset and days)."""
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    lines = error.message.strip().splitlines()
    return lines[0] if lines else error.cls_name or "error"


def _error_of(result: dg.ExecuteInProcessResult) -> str:
    import dagster as dg

    messages = [f"{event.step_key}: {_root_message(event.event_specific_data.error)}"
                for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE]
    return "; ".join(messages) or "run failed"


def run_backfill(selection: Selection, keys: list[str], instance: dg.DagsterInstance,
                 resources: dict, on_done: Callable[[PartitionOutcome], None] | None = None,
                 days_per_run: int = 1, retries: int = 0) -> list[PartitionOutcome]:
    """Dagster runs over `keys` in order, `days_per_run` consecutive days each; every day's outcome.

    A run over several days is a partition-range run (the assets build the range in one pass); each
    day in it gets the run's outcome, so nothing is skipped silently either way. A chunk whose run failed is run
    again, alone, up to `retries` times; its days get the last run's outcome. On a persistent instance
    each run runs in a process of its own, forked from this one, so a backfill of a year holds no more memory
    than a backfill of one day: each chDB session leaves about 1.5 MB behind in the process that opened it
    (chDB 4.4), and 40 daily runs in one process grew it by 196 MB.
    """
    backfill_id = uuid.uuid4().hex[:8]
    outcomes = []
    for index in range(0, len(keys), days_per_run):
        chunk = keys[index:index + days_per_run]
        for _attempt in range(retries + 1):
            if instance.is_ephemeral:  # its runs live in this process's memory: they can only run here
                chunk_outcomes = _run_chunk(selection, chunk, instance, resources, backfill_id)
            else:
                chunk_outcomes = _run_chunk_in_child(selection, chunk, instance, resources, backfill_id)
            if all(outcome.success for outcome in chunk_outcomes):
                break
        for outcome in chunk_outcomes:
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    return outcomes


def _run_chunk(selection: Selection, chunk: list[str], instance: dg.DagsterInstance, resources: dict,
               backfill_id: str) -> list[PartitionOutcome]:
    import dagster as dg

    from pipelines.orphan_runs import EXECUTED_BY_A_COMMAND

    tags = {"hotelctl/backfill": backfill_id, **EXECUTED_BY_A_COMMAND}
    if len(chunk) > 1:
        tags["dagster/asset_partition_range_start"] = chunk[0]
        tags["dagster/asset_partition_range_end"] = chunk[-1]
    try:
        result = dg.materialize(selection.assets, partition_key=None if len(chunk) > 1 else chunk[0],
                                instance=instance, resources=resources, raise_on_error=False, tags=tags,
                                selection=selection.keys, run_config=QUIET_CONSOLE)
    except Exception as error:  # a run that could not even start is still reported, not skipped
        return [PartitionOutcome(key, False, "", f"{type(error).__name__}: {error}") for key in chunk]
    failed_checks = tuple(sorted({
        f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        for evaluation in result.get_asset_check_evaluations() if not evaluation.passed
    }))
    return [PartitionOutcome(key, result.success, result.run_id, "" if result.success else _error_of(result),
                             failed_checks) for key in chunk]


def _run_chunk_in_child(selection: Selection, chunk: list[str], instance: dg.DagsterInstance, resources: dict,
                        backfill_id: str) -> list[PartitionOutcome]:
    """`_run_chunk` in a forked process with an instance of its own. A process that dies without an answer fails
    its days, and its run, which it left started, is marked failed."""
    import multiprocessing

    import dagster as dg

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    instance_ref = instance.get_ref()

    def work() -> None:
        # What this process inherited stays untouched: collected here, a connection of the parent's instance
        # would close its socket, which the parent still uses.
        gc.freeze()
        # A progress bar may hold the console's lock at the fork: the run writes to the terminal itself.
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        with dg.DagsterInstance.from_ref(instance_ref) as own:
            sender.send(_run_chunk(selection, chunk, own, resources, backfill_id))

    child = context.Process(target=work, name=f"backfill {chunk[0]}", daemon=True)
    child.start()
    sender.close()
    try:
        return receiver.recv()
    except EOFError:  # it exited without an answer
        child.join()
        error = f"the run's process exited with code {child.exitcode}"
        left = instance.get_runs(dg.RunsFilter(tags={"hotelctl/backfill": backfill_id},
                                               statuses=[dg.DagsterRunStatus.STARTED]))
        for run in left:
            instance.report_run_failed(run, error)
        return [PartitionOutcome(key, False, left[0].run_id if left else "", error) for key in chunk]
    finally:
        receiver.close()
        child.join()


def backfill(
    assets: list[str] = typer.Argument(..., help="Asset key(s) or group(s), e.g. fact_orders or warehouse_rollups."),
    from_date: str = typer.Option("", "--from", help="First day (YYYY-MM-DD), included."),
    to_date: str = typer.Option("", "--to", help="Last day (YYYY-MM-DD), included."),
    days_per_run: int = typer.Option(0, "--days-per-run", min=0, max=366,
                                     help="Days per Dagster run (0: as many as the assets' backfill policy allows, "
                                          "31 for the warehouse; 1: a run per day)."),
    retries: int = typer.Option(1, "--retries", min=0, max=5, help="Times a failed chunk of days is run again."),
    from_archive: str = typer.Option("", "--from-archive", help="supplier_inventory only: replay this day's "
                                     "(YYYY-MM-DD) archived supplier answers instead of calling the suppliers."),
    supplier: list[str] = typer.Option([], "--supplier", help="With --from-archive: only these supplier codes."),
) -> None:
    """Rebuild daily partitions of assets in chunks of days, a Dagster run each (every day shown in the UI);
    with --from-archive, replay an archived day of supplier answers through contracts, matching and inventory."""
    import os

    import dagster as dg

    quiet_dagster_warnings()

    from cli.main import _prepare_dagster_instance
    from core import runtime
    from pipelines.resources import resources_for

    if from_archive:
        if assets != ["supplier_inventory"]:
            typer.echo("--from-archive: replays supplier_inventory only (hotelctl backfill supplier_inventory "
                       "--from-archive DAY)", err=True)
            raise typer.Exit(2)
        day = _parse_day(from_archive, "--from-archive")
    elif not from_date or not to_date:
        typer.echo("--from and --to: both are required (or --from-archive DAY for supplier_inventory)", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    _prepare_dagster_instance(settings, endpoints)
    os.environ.update(endpoints.child_env(settings))
    if from_archive:
        _replay_archived_day(settings, day, [code.upper() for code in supplier])
        return
    start, end = _parse_day(from_date, "--from"), _parse_day(to_date, "--to")
    from pipelines.definitions import defs

    try:
        chosen = select_assets(defs, assets)
        keys = partition_keys(chosen, start, end)
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    instance = dg.DagsterInstance.get()
    days_per_run = days_per_run or policy_days(chosen)
    console.print(f"backfilling {chosen.names}: {len(keys)} day(s), {days_per_run} per run, "
                  f"Dagster home {runtime.dagster_home(settings)}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("backfill", total=len(keys))

        def done(outcome: PartitionOutcome) -> None:
            mark = "[green]ok[/green]" if outcome.success else f"[red]FAILED[/red] {outcome.error}"
            checks = f" [yellow]checks failed: {', '.join(outcome.failed_checks)}[/yellow]" \
                if outcome.failed_checks else ""
            progress.console.print(f"{outcome.partition}: {mark}{checks}  run {outcome.run_id}")
            progress.update(task, advance=1, description=outcome.partition)

        outcomes = run_backfill(chosen, keys, instance, resources_for(settings), done, days_per_run, retries)
    failed = [outcome for outcome in outcomes if not outcome.success]
    table = Table(title="backfill")
    for column in ("days", "succeeded", "failed", "check failures"):
        table.add_column(column)
    table.add_row(str(len(outcomes)), str(len(outcomes) - len(failed)), str(len(failed)),
                  str(sum(bool(outcome.failed_checks) for outcome in outcomes)))
    console.print(table)
    if failed:
        console.print("[red]failed days: " + ", ".join(outcome.partition for outcome in failed) + "[/red]")
        raise typer.Exit(1)


def _replay_archived_day(settings, day: date, suppliers: list[str]) -> None:
    """One Dagster run replaying `day` from the archive: content (when archived that day) and hotel matching, then
    the inventory with its contract checks; exits non-zero when a supplier's replay was not clean."""
    import dagster as dg

    from assets import inventory, matching
    from core.archive.replay import archived_runs
    from core.archive.store import FeedArchive
    from pipelines.orphan_runs import EXECUTED_BY_A_COMMAND
    from pipelines.resources import resources_for

    archive = FeedArchive(settings.archive_location)
    if not archived_runs(archive, day, "inventory", suppliers or None):
        typer.echo(f"--from-archive: no archived inventory answers on {day} in {settings.archive_location}", err=True)
        raise typer.Exit(1)
    replay = {"from_archive": day.isoformat(), "suppliers": suppliers}
    chosen = [inventory.supplier_inventory, inventory.inventory_feed_contracts]
    run_config = {"ops": {"supplier_inventory": {"config": replay}}}
    if archived_runs(archive, day, "content", suppliers or None):
        chosen += [inventory.supplier_hotels, inventory.content_feed_contracts, matching.hotel_mappings]
        run_config["ops"]["supplier_hotels"] = {"config": replay}
    with_content = "supplier_hotels" in run_config["ops"]
    console.print(f"replaying {day} from {settings.archive_location}: supplier_inventory"
                  f"{' after supplier_hotels and hotel_mappings (content archived that day)' if with_content else ''}")
    result = dg.materialize(chosen, instance=dg.DagsterInstance.get(), resources=resources_for(settings),
                            run_config={**QUIET_CONSOLE, **run_config}, raise_on_error=False,
                            tags={"hotelctl/replay": day.isoformat(), **EXECUTED_BY_A_COMMAND})
    if not result.success:
        console.print(f"[red]replay failed[/red]: {_error_of(result)}  run {result.run_id}")
        raise typer.Exit(1)
    metadata = result.asset_materializations_for_node("supplier_inventory")[0].metadata
    per_supplier = metadata["per_supplier"].value
    table = Table(title=f"replay of {day}")
    for column in ("supplier", "status", "fetched", "written", "quarantined"):
        table.add_column(column)
    for code, figures in sorted(per_supplier.items()):
        table.add_row(code, figures["status"], str(figures["rows_fetched"]), str(figures["rows_upserted"]),
                      str(figures["rows_quarantined"]))
    console.print(table)
    console.print(f"run {result.run_id}")
    if any(figures["status"] != "ok" for figures in per_supplier.values()):
        raise typer.Exit(1)


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"{option}: '{value}' is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    app.command("backfill")(backfill)
