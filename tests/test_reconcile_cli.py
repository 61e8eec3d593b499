"""`hotelctl reconcile`: the command-line contract on hand-written files (the tricky cases)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

ORDER_HEADER = "order_id,supplier_code,supplier_ref,hotel_id,check_in,check_out,status,net_amount,currency"
STATEMENT_HEADER = "supplier_ref,check_in,check_out,status,amount,currency"
STAY = "2026-11-02,2026-11-05"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _run(tmp_path: Path, orders: str, statement: str, *extra: str):
    orders_path = _write(tmp_path / "orders.csv", orders)
    statement_path = _write(tmp_path / "statement.csv", statement)
    out = tmp_path / "discrepancies.csv"
    result = CliRunner().invoke(app, ["reconcile", "--orders", str(orders_path), "--statement", str(statement_path),
                                      "--out", str(out), *extra])
    return result, out


def _rows(out: Path) -> list[dict[str, str]]:
    with out.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _by_ref(out: Path) -> dict[str, list[dict[str, str]]]:
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in _rows(out):
        grouped.setdefault(row["supplier_ref"].strip().lower(), []).append(row)
    return grouped


def test_amount_spelling_ref_case_and_spaces_pair_and_agree(tmp_path):
    orders = "\n".join([ORDER_HEADER,
                        f"O1,A,  Ref-1 ,H1,{STAY},confirmed,100.1,USD",
                        f"O2,A,REF-2,H1,{STAY},confirmed,250,EUR",
                        f"O3,A,ref-3,H1,{STAY},confirmed,99.999,USD"]) + "\n"
    statement = "\n".join([STATEMENT_HEADER,
                           f"ref-1,{STAY},charged,100.10,USD",
                           f" ref-2  ,{STAY},charged,250.0000,EUR",
                           f"REF-3,{STAY},charged,100.009,USD"]) + "\n"
    result, out = _run(tmp_path, orders, statement)
    assert result.exit_code == 0, result.output
    assert _rows(out) == []
    assert out.read_text().splitlines() == [
        "supplier_ref,order_id,class,platform_amount,statement_amount,difference,currency"]
    assert "pairs matched: 3 (3 agree, 0 with a discrepancy)" in result.stdout
    assert "discrepancies: 0" in result.stdout


def test_tolerance_is_inclusive(tmp_path):
    orders = "\n".join([ORDER_HEADER,
                        f"O1,A,T1,H1,{STAY},confirmed,100.00,USD",
                        f"O2,A,T2,H1,{STAY},confirmed,100.00,USD",
                        f"O3,A,T3,H1,{STAY},confirmed,100.00,USD",
                        f"O4,A,T4,H1,{STAY},confirmed,100.00,USD"]) + "\n"
    statement = "\n".join([STATEMENT_HEADER,
                           f"T1,{STAY},charged,100.01,USD",     # +0.01: exactly the tolerance
                           f"T2,{STAY},charged,99.99,USD",      # -0.01: exactly the tolerance
                           f"T3,{STAY},charged,100.0101,USD",   # just past it
                           f"T4,{STAY},charged,99.98,USD"]) + "\n"
    result, out = _run(tmp_path, orders, statement)
    assert result.exit_code == 0, result.output
    rows = _by_ref(out)
    assert set(rows) == {"t3", "t4"}
    assert rows["t3"][0]["class"] == "amount_mismatch"
    assert rows["t3"][0]["difference"] == "0.0101"
    assert rows["t4"][0] == {"supplier_ref": "T4", "order_id": "O4", "class": "amount_mismatch",
                             "platform_amount": "100.00", "statement_amount": "99.98", "difference": "-0.02",
                             "currency": "USD"}

    result, out = _run(tmp_path, orders, statement, "--tolerance", "0.02")
    assert result.exit_code == 0, result.output
    assert _rows(out) == []
    result, out = _run(tmp_path, orders, statement, "--tolerance", "0")
    assert {row["supplier_ref"] for row in _rows(out)} == {"T1", "T2", "T3", "T4"}


def test_class_precedence(tmp_path):
    orders = "\n".join([ORDER_HEADER,
                        f"O1,A,P1,H1,{STAY},confirmed,100,USD",   # currency + status + amount differ
                        f"O2,A,P2,H1,{STAY},confirmed,100,USD",   # status + dates + amount differ
                        f"O3,A,P3,H1,{STAY},cancelled,30,USD",    # dates + amount differ
                        f"O4,A,P4,H1,{STAY},no_show,50,USD",      # amount only
                        f"O5,A,P5,H1,{STAY},no_show,50,USD",      # agrees: no_show <-> no_show
                        f"O6,A,P6,H1,{STAY},cancelled,20,USD"]) + "\n"  # agrees: cancelled <-> cancelled
    statement = "\n".join([STATEMENT_HEADER,
                           f"P1,{STAY},cancelled,120,EUR",
                           "P2,2026-11-03,2026-11-05,no_show,80,USD",
                           "P3,2026-11-02,2026-11-06,cancelled,35,USD",
                           f"P4,{STAY},no_show,50.5,USD",
                           f"P5,{STAY},no_show,50,USD",
                           f"P6,{STAY},cancelled,20,USD"]) + "\n"
    result, out = _run(tmp_path, orders, statement)
    assert result.exit_code == 0, result.output
    classes = {ref: rows[0]["class"] for ref, rows in _by_ref(out).items()}
    assert classes == {"p1": "currency_mismatch", "p2": "status_mismatch", "p3": "date_mismatch",
                       "p4": "amount_mismatch"}
    currency_row = _by_ref(out)["p1"][0]
    assert currency_row["platform_amount"] == "100.00" and currency_row["statement_amount"] == "120.00"
    assert currency_row["difference"] == "" and currency_row["currency"] == "USD"
    assert _by_ref(out)["p2"][0]["difference"] == "-20.00"
    assert [row["class"] for row in _rows(out)] == ["currency_mismatch", "status_mismatch", "date_mismatch",
                                                    "amount_mismatch"]
    assert "pairs matched: 6 (2 agree, 4 with a discrepancy)" in result.stdout


def test_missing_sides_and_cancelled_zero(tmp_path):
    orders = "\n".join([ORDER_HEADER,
                        f"O1,A,M1,H1,{STAY},confirmed,10,USD",     # not in statement
                        f"O2,A,M2,H1,{STAY},cancelled,0,USD",      # cancelled, zero: not a discrepancy
                        f"O3,A,M3,H1,{STAY},cancelled,0.00,USD",   # same, written 0.00
                        f"O4,A,M4,H1,{STAY},cancelled,5,USD",      # cancelled with a fee: missing
                        f"O5,A,M5,H1,{STAY},confirmed,0,USD"]) + "\n"  # confirmed at zero: still missing
    statement = "\n".join([STATEMENT_HEADER, f"X1,{STAY},charged,77.5,JPY"]) + "\n"
    result, out = _run(tmp_path, orders, statement)
    assert result.exit_code == 0, result.output
    rows = _by_ref(out)
    assert {ref: r[0]["class"] for ref, r in rows.items()} == {
        "m1": "missing_in_statement", "m4": "missing_in_statement", "m5": "missing_in_statement",
        "x1": "missing_in_platform"}
    assert rows["m1"][0] == {"supplier_ref": "M1", "order_id": "O1", "class": "missing_in_statement",
                             "platform_amount": "10.00", "statement_amount": "", "difference": "-10.00",
                             "currency": "USD"}
    assert rows["x1"][0] == {"supplier_ref": "X1", "order_id": "", "class": "missing_in_platform",
                             "platform_amount": "", "statement_amount": "77.5", "difference": "77.5",
                             "currency": "JPY"}
    assert "missing_in_statement: 3" in result.stdout and "missing_in_platform: 1" in result.stdout


def test_every_repeat_in_the_statement_is_a_duplicate(tmp_path):
    orders = "\n".join([ORDER_HEADER, f"O1,A,D1,H1,{STAY},confirmed,100,USD"]) + "\n"
    statement = "\n".join([STATEMENT_HEADER,
                           f"D1,{STAY},charged,100,USD",
                           f"d1 ,{STAY},charged,100,USD",
                           f" D1,{STAY},charged,100.00,USD",
                           f"Z9,{STAY},charged,40,USD",
                           f"z9,{STAY},charged,41,USD"]) + "\n"
    result, out = _run(tmp_path, orders, statement)
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert [(r["supplier_ref"].lower(), r["class"]) for r in rows] == [
        ("z9", "missing_in_platform"), ("d1", "duplicate_in_statement"), ("d1", "duplicate_in_statement"),
        ("z9", "duplicate_in_statement")]
    d1 = [r for r in rows if r["supplier_ref"].lower() == "d1"]
    assert all(r["order_id"] == "O1" and r["statement_amount"] == "100.00" and r["platform_amount"] == ""
               for r in d1)
    assert rows[-1]["statement_amount"] == "41.00"  # the first Z9 line is the one paired/missing
    assert "duplicate_in_statement: 3" in result.stdout
    assert "pairs matched: 1 (1 agree, 0 with a discrepancy)" in result.stdout


def test_bom_crlf_quotes_extra_and_reordered_columns(tmp_path):
    orders = ("\ufeff" + " Currency,NET_AMOUNT, status ,check_out,check_in,hotel_id,supplier_ref,supplier_code,"
              "order_id,note\r\n"
              '"USD","1000.5","Confirmed","2026-11-05","2026-11-02","H1","Q-1","A","O1","a, quoted; note"\r\n'
              '\r\n'
              'usd,20,CANCELLED,2026-11-05,2026-11-02,H1,Q-2,A,O2,"multi\r\nline note"\r\n')
    statement = ("\ufeff" + STATEMENT_HEADER + ",memo\r\n"
                 f'"q-1",{STAY},charged,"1000.50",USD,"x, y"\r\n'
                 f'Q-2,{STAY},cancelled,21,USD,\r\n')
    result, out = _run(tmp_path, orders, statement)
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert [(r["supplier_ref"], r["class"], r["difference"]) for r in rows] == [("Q-2", "amount_mismatch", "1.00")]


def test_header_only_files(tmp_path):
    result, out = _run(tmp_path, ORDER_HEADER + "\n", STATEMENT_HEADER + "\r\n")
    assert result.exit_code == 0, result.output
    assert _rows(out) == [] and out.read_text().startswith("supplier_ref,order_id,class")
    assert "pairs matched: 0" in result.stdout


@pytest.mark.parametrize(("orders", "statement", "expected"), [
    (ORDER_HEADER.replace(",hotel_id", "") + f"\nO1,A,R1,{STAY},confirmed,1,USD\n", STATEMENT_HEADER + "\n",
     "orders.csv: line 1, column hotel_id: missing column"),
    (ORDER_HEADER + "\n", "supplier_ref,check_in,check_out,status,currency\n",
     "statement.csv: line 1, column amount: missing column"),
    (ORDER_HEADER + f"\nO1,A,R1,H1,{STAY},confirmed,1,USD\nO2,A,R2,H1,{STAY},confirmed,1O.5,USD\n",
     STATEMENT_HEADER + "\n", "orders.csv: line 3, column net_amount: unparsable amount '1O.5'"),
    (ORDER_HEADER + "\n", STATEMENT_HEADER + f"\nR1,{STAY},charged,1.00001,USD\n",
     "statement.csv: line 2, column amount: more than 4 decimal places"),
    (ORDER_HEADER + "\n", STATEMENT_HEADER + "\nR1,2026-11-02,2026-13-01,charged,1,USD\n",
     "statement.csv: line 2, column check_out: unparsable date"),
    (ORDER_HEADER + "\n", STATEMENT_HEADER + "\nR1,02/11/2026,2026-11-05,charged,1,USD\n",
     "statement.csv: line 2, column check_in: unparsable date"),
    (ORDER_HEADER + f"\nO1,A,R1,H1,{STAY},pending,1,USD\n", STATEMENT_HEADER + "\n",
     "orders.csv: line 2, column status: unknown status"),
    (ORDER_HEADER + "\n", STATEMENT_HEADER + f"\nR1,{STAY},confirmed,1,USD\n",
     "statement.csv: line 2, column status: unknown status"),
    (ORDER_HEADER + f'\nO1,A,R1,H1,{STAY},confirmed,1,USD\nO2,A," r1",H1,{STAY},confirmed,2,USD\n',
     STATEMENT_HEADER + "\n", "orders.csv: line 3, column supplier_ref: supplier_ref 'r1' repeats the order on line 2"),
    (ORDER_HEADER + f'\nO1,A,R1,H1,{STAY},confirmed,1,USD\n"O2",A,"R2\n",H1,{STAY},confirmed,1,USD\n'
     f"O3,A,R3,H1,{STAY},confirmed,,USD\n",
     STATEMENT_HEADER + "\n", "orders.csv: line 5, column net_amount: empty value"),
    (ORDER_HEADER + "\n", "", "statement.csv: line 1: empty file"),
])
def test_bad_input_names_file_line_column_and_writes_nothing(tmp_path, orders, statement, expected):
    out = tmp_path / "discrepancies.csv"
    out.write_text("previous run\n")
    result, _ = _run(tmp_path, orders, statement)
    assert result.exit_code == 1
    assert expected in result.stderr
    assert out.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["discrepancies.csv", "orders.csv", "statement.csv"]


def test_installed_command_runs_end_to_end(tmp_path):
    """The real `hotelctl` entry point, as finance would call it."""
    orders = _write(tmp_path / "o.csv", ORDER_HEADER + f"\nO1,A,R1,H1,{STAY},confirmed,1500,JPY\n")
    statement = _write(tmp_path / "s.csv", STATEMENT_HEADER + f"\nR1,{STAY},charged,1499,JPY\n")
    out = tmp_path / "d.csv"
    hotelctl = Path(sys.executable).parent / "hotelctl"
    done = subprocess.run([str(hotelctl), "reconcile", "--orders", str(orders), "--statement", str(statement),
                           "--out", str(out), "--tolerance", "0.5"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _rows(out) == [{"supplier_ref": "R1", "order_id": "O1", "class": "amount_mismatch",
                           "platform_amount": "1500", "statement_amount": "1499", "difference": "-1",
                           "currency": "JPY"}]
    assert "amount_mismatch: 1" in done.stdout
    assert "JPY: platform 1500 (1 orders), statement 1499 (1 lines)" in done.stdout
