"""`hotelctl billing`: partner statements, invoices and credit notes, payments and bank statements, ageing.

A thin wrapper over `core.billing` (the same functions the finance API calls). A refusal prints one line,
`error: …`, and exits 1; nothing is written then.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer

from cli.common import AS_OPTION, operator_actor
from cli.common import parse_day as _day

app = typer.Typer(help="Partner billing: statements, invoices, credit notes, payments, ageing.", no_args_is_help=True)
statements_app = typer.Typer(help="Weekly partner statements.", no_args_is_help=True)
invoices_app = typer.Typer(help="Invoices and credit notes.", no_args_is_help=True)
bank_app = typer.Typer(help="Bank statements: import, review unmatched lines.", no_args_is_help=True)
tax_app = typer.Typer(help="Tax rate per partner country.", no_args_is_help=True)
app.add_typer(statements_app, name="statements")
app.add_typer(invoices_app, name="invoices")
app.add_typer(bank_app, name="bank")
app.add_typer(tax_app, name="tax")



def _context():
    from cli.common import endpoints_or_exit, settings_or_exit
    from core.db import engine_for

    settings = settings_or_exit()
    return engine_for(endpoints_or_exit(settings).database_url), settings


def _call(function: Callable[..., Any], *args, **kwargs) -> Any:
    from core.billing.store import BillingError

    try:
        return function(*args, **kwargs)
    except BillingError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None


def _decimal(value: str | None, option: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        typer.echo(f"error: {option}: {value!r} is not a decimal amount", err=True)
        raise typer.Exit(1) from None


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


# --- statements -------------------------------------------------------------------------------------------

@statements_app.command("run")
def statements_run(cycle: str = typer.Option(..., "--cycle", help="A day in the cycle, YYYY-MM-DD.")) -> None:
    """Build (or rebuild) every partner's statement for the cycle, as the Dagster asset partner_statements does;
    prints what happened to each and the checks. Exit 1 if a check fails."""
    from core.billing import statements
    from core.settlement.cycles import cycle_containing

    engine, settings = _context()
    window = cycle_containing(_day(cycle, "--cycle"), settings.settle_cycle_days)
    outcome = _call(statements.write_statements, engine, window, settings, run_id="hotelctl")
    meta = outcome.metadata()
    typer.echo(f"cycle {meta['cycle']}: {meta['statements']} statements, {meta['lines']} lines")
    for name, action in meta["actions"].items():
        typer.echo(f"  {name}: {action}")
    problems = {k: v for k, v in statements.verify_cycle(engine, window).items() if v}
    for name, items in problems.items():
        typer.echo(f"check failed: {name}: {', '.join(items[:10])}", err=True)
    if problems:
        raise typer.Exit(1)


@statements_app.command("list")
def statements_list(cycle: str = typer.Option(None, "--cycle", help="The cycle's first day."),
                    partner: str = typer.Option(None, "--partner", help="Partner id.")) -> None:
    """Latest statements with totals and balances (JSON)."""
    from core.billing import statements

    engine, _ = _context()
    _print(_call(statements.list_statements, engine, partner, _day(cycle, "--cycle")))


# --- invoices ---------------------------------------------------------------------------------------------

@invoices_app.command("issue")
def invoice_issue(partner: str = typer.Argument(..., help="Partner id (a top-level partner)."),
                  cycle: str = typer.Option(..., "--cycle", help="The cycle's first day (a Monday)."),
                  issued_on: str = typer.Option(None, "--issued-on", help="Default today."),
                  actor: str | None = AS_OPTION) -> None:
    """Issue the partner's invoice for the cycle from its statement."""
    from core.billing import invoices

    engine, settings = _context()
    document = _call(invoices.issue_invoice, engine, settings, partner, _day(cycle, "--cycle"), operator_actor(actor),
                     _day(issued_on, "--issued-on"))
    typer.echo(f"{document['document_number']}: {document['total']} {document['currency']}"
               f" due {document['due_on']}")


@invoices_app.command("credit")
def invoice_credit(invoice: str = typer.Argument(..., help="Invoice number or id."),
                   reason: str = typer.Option(..., "--reason", help="What the credit note corrects."),
                   amount: str = typer.Option(None, "--amount", help="Net amount (before tax); default all open."),
                   issued_on: str = typer.Option(None, "--issued-on"), actor: str | None = AS_OPTION) -> None:
    """Correct an invoice with a credit note (an issued invoice never changes)."""
    from core.billing import invoices

    engine, settings = _context()
    document = _call(invoices.issue_credit_note, engine, settings, invoice, reason, operator_actor(actor),
                     _decimal(amount, "--amount"), _day(issued_on, "--issued-on"))
    typer.echo(f"{document['document_number']}: credits {document['credited_number']} by {document['total']}"
               f" {document['currency']}")


@invoices_app.command("list")
def invoice_list(partner: str = typer.Option(None, "--partner"), cycle: str = typer.Option(None, "--cycle")) -> None:
    """Invoices and credit notes with their balances (JSON)."""
    from core.billing import invoices

    engine, _ = _context()
    _print(_call(invoices.list_documents, engine, partner, None, _day(cycle, "--cycle")))


@invoices_app.command("pdf")
def invoice_pdf(invoice: str = typer.Argument(..., help="Invoice or credit note number or id."),
                out: Path = typer.Option(..., "--out", help="Where to write the PDF.")) -> None:
    """Write a document's PDF, exactly as it was issued."""
    from core.billing import invoices

    engine, _ = _context()
    found = invoices.document_pdf(engine, invoice)
    if found is None:
        typer.echo(f"error: no document {invoice}", err=True)
        raise typer.Exit(1)
    out.write_bytes(found[1])
    typer.echo(f"wrote {out}")


@invoices_app.command("export")
def invoice_export(out: Path = typer.Option(..., "--out", help="CSV file, one row per document line."),
                   cycle: str = typer.Option(None, "--cycle"), partner: str = typer.Option(None, "--partner")) -> None:
    """Export invoices and credit notes as CSV."""
    from core.billing import invoices

    engine, _ = _context()
    rows = _call(invoices.list_documents, engine, partner, None, _day(cycle, "--cycle"))
    out.write_text(invoices.documents_csv(engine, rows), encoding="utf-8")
    typer.echo(f"wrote {len(rows)} documents to {out}")


# --- payments ---------------------------------------------------------------------------------------------

@app.command("pay")
def pay(amount: str = typer.Option(..., "--amount"), currency: str = typer.Option(..., "--currency"),
        invoice: str = typer.Option(None, "--invoice", help="The invoice it pays (number or id)."),
        partner: str = typer.Option(None, "--partner", help="Without --invoice: the partner who paid."),
        received_on: str = typer.Option(None, "--on", help="Day received, default today."),
        reference: str = typer.Option("", "--reference"), actor: str | None = AS_OPTION) -> None:
    """Record a payment: the named invoice first, else the oldest open ones; the rest is kept as credit."""
    from core.billing import payments

    engine, _ = _context()
    result = _call(payments.record_payment, engine, partner, amount, currency, _day(received_on, "--on") or
                   dt.date.today(), operator_actor(actor), reference, invoice)
    paid = ", ".join(f"{a['invoice']} {a['amount']}" for a in result["allocations"]) or "no open invoice"
    typer.echo(f"payment {result['payment_id']}: {paid}; credit {result['credit']} {result['currency']}")


@bank_app.command("import")
def bank_import(path: Path = typer.Argument(..., help="CSV: booked_on,amount,currency,reference[,counterparty]"),
                actor: str | None = AS_OPTION) -> None:
    """Record the lines that match an invoice (by number in the reference, else by amount); keep the others."""
    from core.billing import payments

    engine, _ = _context()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        typer.echo(f"error: {path}: {error}", err=True)
        raise typer.Exit(1) from None
    result = _call(payments.import_bank_statement, engine, text, path.name, operator_actor(actor))
    typer.echo(f"{result['lines']} lines: {len(result['matched'])} matched, {len(result['unmatched'])} for review,"
               f" {result['already_imported']} already imported")
    for line in result["unmatched"]:
        typer.echo(f"  line {line['line']}: {line['amount']} {line['currency']} {line['reference']!r}:"
                   f" {line['reason']} (bank line {line['bank_line_id']})")


@bank_app.command("lines")
def bank_lines(status: str = typer.Option("unmatched", "--status",
                                          help="unmatched, matched, assigned or ignored")) -> None:
    """Bank statement lines (JSON)."""
    from core.billing import payments

    engine, _ = _context()
    _print(_call(payments.list_bank_lines, engine, status))


@bank_app.command("assign")
def bank_assign(line: int = typer.Argument(...), invoice: str = typer.Option(None, "--invoice"),
                partner: str = typer.Option(None, "--partner"),
                ignore: str = typer.Option(None, "--ignore", help="Ignore the line, with this note."),
                actor: str | None = AS_OPTION) -> None:
    """Decide an unmatched line: pay --invoice, credit --partner, or --ignore it."""
    from core.billing import payments

    engine, _ = _context()
    result = _call(payments.review_bank_line, engine, line, operator_actor(actor), invoice=invoice, partner_id=partner,
                   ignore_note=ignore)
    typer.echo(f"bank line {line}: {result['status']}")


@app.command("ageing")
def ageing_report(as_of: str = typer.Option(None, "--as-of", help="Default today."),
                  csv_out: Path = typer.Option(None, "--csv", help="Also write the report as CSV here.")) -> None:
    """Open invoices per partner by days past due: current, 1-30, 31-60, 61-90, over 90; credit; DSO."""
    from core.billing import ageing

    engine, _ = _context()
    report = _call(ageing.ageing, engine, _day(as_of, "--as-of"))
    typer.echo(f"as of {report['as_of']}")
    for row in report["partners"]:
        buckets = "  ".join(f"{b}: {row[b]}" for b in ageing.BUCKETS)
        typer.echo(f"{row['partner_name']} ({row['currency']}): {buckets}  credit: {row['credit']}"
                   f"  DSO: {row['dso_days'] or '-'}")
    if csv_out is not None:
        csv_out.write_text(ageing.ageing_csv(report), encoding="utf-8")
        typer.echo(f"wrote {csv_out}")


@tax_app.command("set")
def tax_set(country: str = typer.Argument(..., help="ISO country code, e.g. CN."),
            rate: str = typer.Argument(..., help="A fraction, e.g. 0.06."),
            label: str = typer.Option("VAT", "--label"), actor: str | None = AS_OPTION) -> None:
    """Set the tax rate invoices to partners in this country carry."""
    from core.billing import store

    engine, _ = _context()
    result = _call(store.set_tax_rate, engine, country.upper(), _decimal(rate, "RATE"), label, operator_actor(actor))
    typer.echo(f"{result['country']}: {result['label']} {result['rate']}")


@tax_app.command("list")
def tax_list() -> None:
    from core.billing import store

    engine, _ = _context()
    for row in store.tax_rates(engine):
        typer.echo(f"{row['country']}: {row['label']} {row['rate']}")


@app.command("profile")
def profile(partner: str = typer.Argument(..., help="Partner id (a top-level partner)."),
            country: str = typer.Option(None, "--country"), currency: str = typer.Option(None, "--currency"),
            terms_days: int = typer.Option(None, "--terms-days"), entity: str = typer.Option(None, "--entity"),
            name: str = typer.Option(None, "--name"), address: str = typer.Option(None, "--address"),
            actor: str | None = AS_OPTION) -> None:
    """Set a partner's billing country (tax), currency, payment terms, issuing entity, name and address."""
    from core.billing import store

    engine, settings = _context()
    result = _call(store.set_profile, engine, partner, settings, country=country and country.upper(),
                   currency=currency and currency.upper(), terms_days=terms_days, entity=entity, name=name,
                   address=address, who=operator_actor(actor))
    typer.echo(f"{result.name}: {result.country}, {result.currency}, {result.terms_days} days, entity"
               f" {result.entity_code}")


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="billing")
