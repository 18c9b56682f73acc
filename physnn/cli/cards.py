"""``physnn cards``: list the device cards on the search path, and validate cards."""

from __future__ import annotations

import click

from ._types import InputError


@click.command()
@click.argument("cards", nargs=-1, metavar="[NAME_OR_PATH]...")
@click.option("-v", "--verbose", is_flag=True, help="also print each card's sections and source")
def cards(cards: tuple[str, ...], verbose: bool) -> None:
    """List device cards, or validate the given ones (names or .toml paths).

    Without arguments: every card on the search path ($PHYSNN_DEVICE_PATH, then the shipped
    devices/), each validated. Exit status 2 when a card is invalid; the error names the file,
    the [section].field and the line.
    """
    from ..cards import CardError, list_cards, load_card

    names = list(cards) or list_cards()
    bad = 0
    for name in names:
        try:
            c = load_card(name)
        except (CardError, OSError) as exc:
            bad += 1
            click.echo(f"INVALID  {name}: {exc}", err=True)
            continue
        click.echo(f"ok       {c.name:<20} {c.kind:<8} {c.path}")
        if verbose:
            click.echo(f"         sections: {', '.join(c)}")
            click.echo(f"         source: {c.source}")
    if bad:
        raise InputError(f"{bad} of {len(names)} card(s) invalid")
