"""`hotelctl billing` end to end on real PostgreSQL: statements, an invoice, its credit note, a bank file,
ageing, the PDF and CSV exports; bad input is one line and exit 1."""

from __future__ import annotations

import csv
import datetime as dt

from tests.billing_fixtures import far_cycle, new_entity, pdf_text, seed_billing_cycle, set_rate
from tests.test_ops_cli import cli_env, hotelctl_inprocess  # noqa: F401  (cli_env is a fixture)


def test_billing_commands_issue_credit_import_and_report(engine, cli_env, tmp_path):  # noqa: F811
    cycle = far_cycle(7)
    seeded = seed_billing_cycle(engine, cycle)
    parent = seeded.partners["Parent"]
    set_rate(engine, "USD", "EUR", "0.9", cycle.start)
    entity = new_entity(engine)

    def run(*args: str, code: int = 0):
        result = hotelctl_inprocess(cli_env, "billing", *args)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return result

    def refused(*args: str) -> str:
        """The one line a refusal prints (after the engines' progress line)."""
        [line] = [x for x in run(*args, code=1).stderr.splitlines() if not x.startswith("✓")]
        return line

    assert "EUR, 20 days, entity" in run("profile", parent, "--country", "de", "--currency", "EUR", "--terms-days",
                                         "20", "--entity", entity).stdout
    built = run("statements", "run", "--cycle", cycle.key).stdout
    assert "Parent" in built and "created" in built
    issued = run("invoices", "issue", parent, "--cycle", cycle.key, "--issued-on", cycle.end.isoformat()).stdout
    # 305 USD at 0.9 = 274.50 EUR, 19 % USt (DE) = 52.16
    assert issued.startswith(f"{entity}-000001: 326.66 EUR due {cycle.end + dt.timedelta(days=20)}")
    again = refused("invoices", "issue", parent, "--cycle", cycle.key, "--issued-on", cycle.end.isoformat())
    assert again.startswith("error: invoice") and "already bills this cycle" in again
    credit = run("invoices", "credit", f"{entity}-000001", "--reason", "late cancellation waived", "--amount",
                 "10", "--issued-on", cycle.end.isoformat()).stdout
    assert credit.startswith(f"{entity}-000002: credits {entity}-000001 by 11.90 EUR")
    assert refused("pay", "--amount", "abc", "--currency", "EUR", "--invoice", f"{entity}-000001") == (
        "error: amount: not a decimal amount: 'abc'")
    assert refused("tax", "set", "DE", "1.5").startswith("error: rate:")

    bank = tmp_path / "bank.csv"
    bank.write_text("booked_on,amount,currency,reference\n"
                    f"{cycle.end},100.00,EUR,{entity}-000001\n{cycle.end},3.00,EUR,coffee\n", encoding="utf-8")
    imported = run("bank", "import", str(bank)).stdout
    assert imported.startswith("2 lines: 1 matched, 1 for review, 0 already imported") and "'coffee'" in imported
    line_id = imported.split("bank line ")[1].split(")")[0]
    assert run("bank", "assign", line_id, "--ignore", "not ours").stdout.strip() == f"bank line {line_id}: ignored"

    report = tmp_path / "ageing.csv"
    aged = run("ageing", "--as-of", (cycle.end + dt.timedelta(days=25)).isoformat(), "--csv", str(report)).stdout
    row = next(r for r in csv.DictReader(report.open()) if r["partner_id"] == parent)
    assert row["1-30"] == "214.76" and row["current"] == "0" and "Parent" in aged  # 326.66 - 11.90 - 100

    pdf = tmp_path / "invoice.pdf"
    run("invoices", "pdf", f"{entity}-000002", "--out", str(pdf))
    assert f"CREDIT NOTE {entity}-000002" in pdf_text(pdf.read_bytes())
    export = tmp_path / "invoices.csv"
    assert "wrote 2 documents" in run("invoices", "export", "--partner", parent, "--out", str(export)).stdout
    rows = list(csv.DictReader(export.open()))
    assert {r["document_number"] for r in rows} == {f"{entity}-000001", f"{entity}-000002"} and len(rows) == 4
