"""`hotelctl match` (the file contract) and `hotelctl mappings review` (the review queue)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer

from cli.common import REVIEWER_OPTION, operator_actor

mappings_app = typer.Typer(help="Hotel mappings: the review queue.", no_args_is_help=True)
review_app = typer.Typer(help="List pending reviews; accept, reject or mark new.", no_args_is_help=True)
mappings_app.add_typer(review_app, name="review")


def match(
    catalog: Path = typer.Option(..., "--catalog", help="CATALOG.csv: hotel_id,name,name_local,address,city,country,"
                                                        "lat,lon,star,phone"),
    supplier: Path = typer.Option(..., "--supplier", help="SUPPLIER.csv: supplier_code,supplier_hotel_id,name,"
                                                          "address,city,country,lat,lon,star,phone"),
    out: Path = typer.Option(..., "--out", help="MATCHES.csv: supplier_code,supplier_hotel_id,hotel_id,score,decision"),
    ai_boost: bool = typer.Option(False, "--ai-boost", help="Add the IDF-weighted name signal (matching.ai.boost)."),
) -> None:
    """Match supplier hotels onto the catalog: one row per supplier row, decision auto|review|new."""
    from collections import Counter

    from cli.common import settings_or_exit
    from core.matching.config import MatcherConfig
    from core.matching.csvio import CsvInputError, read_catalog, read_suppliers, write_matches
    from core.matching.matcher import Matcher, default_workers

    try:
        catalog_rows = read_catalog(catalog)
        supplier_rows = read_suppliers(supplier)
        config = MatcherConfig(algorithm=settings_or_exit().matching_algorithm, ai_boost=ai_boost)
    except (CsvInputError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    decisions = (Matcher(catalog_rows, config).match(supplier_rows, default_workers(), keep_candidates=False)
                 if catalog_rows else [])
    if not catalog_rows:
        from core.matching.records import MatchDecision

        decisions = [MatchDecision(h.supplier_code, h.supplier_hotel_id, "new", None, 0.0, "empty catalog")
                     for h in supplier_rows]
    write_or_exit(out, lambda: write_matches(out, decisions))
    counts = Counter(d.decision for d in decisions)
    typer.echo(f"{len(decisions)} supplier hotels → {out}: auto={counts['auto']} review={counts['review']} "
               f"new={counts['new']}", err=True)


def write_or_exit(out: Path, write: Callable[[], None]) -> None:
    """An output file that cannot be written: one line, exit 1."""
    try:
        write()
    except OSError as error:
        typer.echo(f"error: cannot write {out}: {error.strerror}", err=True)
        raise typer.Exit(1) from None


def _engine():
    from cli.common import endpoints_or_exit, settings_or_exit
    from core.db import engine_for

    return engine_for(endpoints_or_exit(settings_or_exit()).database_url)


def _run(action):
    from core.matching.store import ReviewError

    try:
        typer.echo(json.dumps(action(), indent=2, default=str, ensure_ascii=False))
    except ReviewError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None


@review_app.command("list")
def review_list(limit: int = typer.Option(20, min=1, max=500), offset: int = typer.Option(0, min=0),
                supplier: str | None = typer.Option(None, help="Only this supplier code.")) -> None:
    """Pending reviews with their candidates and per-feature contributions (JSON)."""
    from core.matching.store import list_reviews

    _run(lambda: list_reviews(_engine(), limit, offset, supplier))


@review_app.command("accept")
def review_accept(mapping_id: int, hotel_id: str = typer.Option(..., "--hotel-id"),
                  reviewer: str | None = REVIEWER_OPTION) -> None:
    """Map the supplier hotel onto master hotel HOTEL_ID."""
    from core.matching.store import accept

    _run(lambda: accept(_engine(), mapping_id, hotel_id, operator_actor(reviewer)))


@review_app.command("reject")
def review_reject(mapping_id: int, reviewer: str | None = REVIEWER_OPTION) -> None:
    """None of the candidates is this hotel (and it is not to be added)."""
    from core.matching.store import reject

    _run(lambda: reject(_engine(), mapping_id, operator_actor(reviewer)))


@review_app.command("new")
def review_new(mapping_id: int, reviewer: str | None = REVIEWER_OPTION) -> None:
    """A hotel the catalog lacks: add it as a master hotel and map onto it."""
    from core.matching.store import mark_new

    _run(lambda: mark_new(_engine(), mapping_id, operator_actor(reviewer)))


def register(app: typer.Typer) -> None:
    app.command("match")(match)
    app.add_typer(mappings_app, name="mappings")
