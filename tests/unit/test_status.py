"""STAT, PLUS-4: status codes by name, named sets, and the rules the one derivation (sql/status.sql) reads."""

from __future__ import annotations

from pipelines import status
from pipelines.status import BILLED, DELIVERED, FAILED, PENDING, RECEIPT_STATUS, STATUSES
from pipelines.warehouse import connect


def test_stat_named_sets_are_the_stat_table():
    assert DELIVERED == {16, 17, 21} and all(STATUSES[code].category == "delivered" for code in DELIVERED)
    assert BILLED == {10, 28, 24, 16, 21, 17, 20, 25, 29, 30, 31, 32, 13, 27, 22, 23, 26}
    assert PENDING == {1, 9, 10, 24, 28}
    assert FAILED <= set(STATUSES) and not FAILED & (DELIVERED | PENDING)
    assert (status.SUBMIT_ACCEPTED, status.NO_FINAL_RECEIPT, status.STOP_REQUESTED, status.PROCESSING) == (
        24, 10, 17, 1)


def test_plus4_the_warehouse_views_read_the_rules_of_status_py(tmp_path):
    with connect(tmp_path / "w.duckdb") as connection:
        receipt_codes = dict(connection.execute("SELECT stat, status_code FROM receipt_codes").fetchall())
        finals = {stat for (stat,) in connection.execute("SELECT stat FROM receipt_codes WHERE final").fetchall()}
        billed, delivered = connection.execute("SELECT billed, delivered FROM status_rules").fetchone()
    assert receipt_codes == RECEIPT_STATUS and finals == status.FINAL_STATES
    assert (set(billed), set(delivered)) == (BILLED, DELIVERED)


def test_plus7_statuses_40_and_41_are_final_unbilled_and_never_sent(tmp_path):
    assert (status.FREQUENCY_CAPPED, status.HOLDOUT) == (40, 41)
    assert STATUSES[40].text == "Pression commerciale : plafond de fréquence atteint"
    assert STATUSES[41].text == "Groupe témoin, non envoyé"
    for code in (40, 41):
        assert STATUSES[code].billed is False and code in status.PRE_SEND
        assert code not in BILLED | PENDING | FAILED | DELIVERED
    # The cap is decided with the person (after blacklists), the holdout among sendable rows before credits.
    order = status.PRE_SEND_PRECEDENCE
    assert order.index(18) < order.index(40) < order.index(5) and order.index(7) < order.index(41) < order.index(8)
    with connect(tmp_path / "w.duckdb") as connection:
        capped, holdout, pre_send, billed = connection.execute(
            "SELECT frequency_capped, holdout, pre_send, billed FROM status_rules").fetchone()
    assert (capped, holdout, set(pre_send)) == (40, 41, status.PRE_SEND) and not {40, 41} & set(billed)
