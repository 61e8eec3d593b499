"""`hotelctl match-rooms` (the room file contract) and `hotelctl mappings review rooms` (room review queue)."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import REVIEWER_OPTION, operator_actor
from cli.match import _engine, _run, review_app, write_or_exit

rooms_review_app = typer.Typer(help="Room mappings waiting for an operator: list; accept, assign or separate.",
                               no_args_is_help=True)
review_app.add_typer(rooms_review_app, name="rooms")


def match_rooms(
    rooms: Path = typer.Option(..., "--rooms", help="ROOMS.csv: supplier_code,hotel_id,supplier_room_code,room_name,"
                                                    "board,max_occupancy (board, max_occupancy may be empty)"),
    out: Path = typer.Option(..., "--out", help="OUT.csv: supplier_code,hotel_id,supplier_room_code,room_group,"
                                                "room_class,bed_type,score,decision"),
) -> None:
    """Room class, bed type and room group per supplier room: rows of one hotel_id are the same product exactly
    when their room_group is equal; decision auto|review."""
    from collections import Counter

    from core.matching.csvio import CsvInputError
    from core.matching.matcher import default_workers
    from core.rooms.csvio import read_rooms, write_room_matches
    from core.rooms.grouping import match_rooms as group_rooms

    try:
        decisions = group_rooms(read_rooms(rooms), default_workers())
    except CsvInputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    write_or_exit(out, lambda: write_room_matches(out, decisions))
    counts = Counter(d.decision for d in decisions)
    typer.echo(f"{len(decisions)} rooms in {len({d.room_group for d in decisions})} room groups → {out}: "
               f"auto={counts['auto']} review={counts['review']}", err=True)


@rooms_review_app.command("list")
def rooms_list(limit: int = typer.Option(20, min=1, max=500), offset: int = typer.Option(0, min=0),
               supplier: str | None = typer.Option(None, help="Only this supplier code.")) -> None:
    """Pending room mappings with the proposed group and every group of the hotel (JSON)."""
    from core.rooms.store import list_room_reviews

    _run(lambda: list_room_reviews(_engine(), limit, offset, supplier))


@rooms_review_app.command("accept")
def rooms_accept(mapping_id: int, reviewer: str | None = REVIEWER_OPTION) -> None:
    """The proposed room group is right."""
    from core.rooms.store import accept_room

    _run(lambda: accept_room(_engine(), mapping_id, operator_actor(reviewer)))


@rooms_review_app.command("assign")
def rooms_assign(mapping_id: int, same_as: int = typer.Option(..., "--same-as", help="A room mapping of the same "
                                                                                     "hotel that is this product."),
                 reviewer: str | None = REVIEWER_OPTION) -> None:
    """This room is the same product as the room of mapping SAME_AS."""
    from core.rooms.store import assign_room

    _run(lambda: assign_room(_engine(), mapping_id, same_as, operator_actor(reviewer)))


@rooms_review_app.command("separate")
def rooms_separate(mapping_id: int, reviewer: str | None = REVIEWER_OPTION) -> None:
    """This room is a product of its own (no other supplier's room is the same)."""
    from core.rooms.store import separate_room

    _run(lambda: separate_room(_engine(), mapping_id, operator_actor(reviewer)))


def register(app: typer.Typer) -> None:
    app.command("match-rooms")(match_rooms)
