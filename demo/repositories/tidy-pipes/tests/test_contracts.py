import pytest

from tidy_pipes import Contract, ContractViolation, stable_id, upsert


def test_contract_reports_every_problem_at_once():
    contract = Contract(key="id", not_null=["amount"], non_negative=["amount"])
    rows = [{"id": 1, "amount": None}, {"id": 1, "amount": -5}]
    with pytest.raises(ContractViolation) as error:
        contract.check(rows, table="orders")
    assert len(error.value.problems) == 3


def test_stable_id_depends_only_on_source():
    assert stable_id("orders", "42") == stable_id("orders", "42")
    assert stable_id("orders", "42") != stable_id("orders", "43")


def test_rerun_with_nothing_new_changes_nothing():
    rows = [{"id": 1, "v": "a"}]
    merged, counts = upsert(rows, rows, key="id")
    assert merged == rows
    assert counts == {"inserted": 0, "updated": 0, "unchanged": 1}
