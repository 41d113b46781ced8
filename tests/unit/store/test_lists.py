"""LIST-4: saved lists in the account store (both backends): imported from any list file smsflow reads, versioned
without copying rows, searched by any number format, written out for a campaign whose REF_LIST is the saved name."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

from pipelines.lists import inspect_list
from pipelines.store import create_account
from pipelines.store.lists import (
    SavedListError, add, delete, import_list, list_lists, materialise, remove, resolve_saved_lists, search, show,
)
from tests.helpers import write_list

CRM_EXPORT = "Prénom,Mobile,Ville\r\nAndré,06 12 34 56 78,Évry\r\nZoé,+33 6 98 76 54 32,Orléans\r\nNoé,,Sète\r\n"


@pytest.fixture
def vip(store, tmp_path: Path) -> Path:
    """`clients-vip` saved in the default account from a Windows-1252, comma-delimited CRM export."""
    path = write_list(tmp_path / "export" / "clients.csv", CRM_EXPORT, encoding="cp1252")
    import_list(store, "default", "clients-vip", path)
    return path


def test_list4_import_reads_a_cp1252_comma_delimited_csv_as_written(store, vip):
    view = show(store, "default", "clients-vip")
    assert (view.saved.version, view.saved.rows, view.saved.mobile_column) == (1, 3, "Mobile")
    assert view.saved.columns == ("Prénom", "Mobile", "Ville")
    assert [(r["line"], r["number"], r["int_mobile"], r["fields"]) for r in view.recipients] == [
        (1, "06 12 34 56 78", "+33612345678", {"Prénom": "André", "Ville": "Évry"}),
        (2, "+33 6 98 76 54 32", "+33698765432", {"Prénom": "Zoé", "Ville": "Orléans"}),
        (3, "", None, {"Prénom": "Noé", "Ville": "Sète"}),  # kept: the plan gives it its status
    ]
    assert [item.name for item in list_lists(store, "default")] == ["clients-vip"]


def test_list4_add_and_remove_make_versions_and_old_versions_keep_their_rows(store, vip):
    added = add(store, "default", "clients-vip", "07 81 22 33 44", {"Prénom": "Léa"})
    removed = remove(store, "default", "clients-vip", "+33612345678")
    assert (added.version, added.rows, removed.version, removed.rows) == (2, 4, 3, 3)
    numbers = {version: [r["int_mobile"] for r in show(store, "default", "clients-vip", version).recipients]
               for version in (1, 2, 3)}
    assert numbers == {1: ["+33612345678", "+33698765432", None],
                       2: ["+33612345678", "+33698765432", None, "+33781223344"],
                       3: ["+33698765432", None, "+33781223344"]}
    view = show(store, "default", "clients-vip")
    assert [(v.version, v.rows, v.change) for v in view.versions] == [
        (1, 3, "import clients.csv"), (2, 4, "add +33781223344"), (3, 3, "remove +33612345678")]
    assert view.recipients[-1]["fields"] == {"Prénom": "Léa", "Ville": ""}  # a field not given is empty


def test_list4_importing_again_makes_a_version_that_replaces_the_rows(store, vip, tmp_path):
    other = write_list(tmp_path / "new.csv", "GSM;Nom\n0601020304;Martin\n")
    again = import_list(store, "default", "clients-vip", other)
    assert (again.version, again.rows, again.columns, again.mobile_column) == (2, 1, ("GSM", "Nom"), "GSM")
    first = show(store, "default", "clients-vip", version=1)
    assert (first.version.columns, first.version.rows) == (("Prénom", "Mobile", "Ville"), 3)
    old = materialise(store, "default", "clients-vip", 1, tmp_path / "campaign")
    assert old.read_text(encoding="utf-8").splitlines()[0] == "Mobile;Prénom;Ville"  # v1 keeps its own columns


def test_list4_search_finds_a_number_in_any_format(store, vip):
    for written in ("06 98 76 54 32", "0698765432", "+33698765432", "0033 6 98 76 54 32", "6.98.76.54.32",
                    "+33 (0)6 98-76-54-32"):
        assert [r["line"] for r in search(store, "default", "clients-vip", written).recipients] == [2], written


def test_list4_search_finds_a_field_value_whatever_the_case(store, vip):
    assert [r["fields"]["Prénom"] for r in search(store, "default", "clients-vip", "sÈTE").recipients] == ["Noé"]
    assert [r["line"] for r in search(store, "default", "clients-vip", "É").recipients] == [1, 2, 3]
    assert search(store, "default", "clients-vip", "Paris").recipients == []


def test_list4_add_refuses_a_bad_number_an_unknown_field_or_a_number_already_there(store, vip):
    with pytest.raises(SavedListError, match=r"'0123' is not a valid mobile number \[LIST-4, NUM-2\]"):
        add(store, "default", "clients-vip", "0123")
    with pytest.raises(SavedListError, match=r"no column 'Email'; its fields are 'Prénom', 'Ville'"):
        add(store, "default", "clients-vip", "0781223344", {"Email": "a@b.fr"})
    with pytest.raises(SavedListError, match=r"\+33612345678 is already in saved list 'clients-vip' \(line 1\)"):
        add(store, "default", "clients-vip", "+33 6 12 34 56 78")
    with pytest.raises(SavedListError, match=r"'\+33700000000' is not in saved list 'clients-vip'"):
        remove(store, "default", "clients-vip", "07 00 00 00 00")
    assert show(store, "default", "clients-vip").saved.version == 1  # nothing refused made a version


def test_list4_a_saved_list_name_must_be_usable_as_a_list_name(store, vip):
    for name in ("", "a/b", "..", ".hidden", "manual", "x" * 129):
        with pytest.raises(SavedListError, match=r"saved list name .* \[LIST-4\]"):
            import_list(store, "default", name, vip)
    assert [item.name for item in list_lists(store, "default")] == ["clients-vip"]


def test_acc3_another_accounts_saved_list_is_not_found(store, vip):
    create_account(store, "acme")
    with pytest.raises(SavedListError, match=r"no saved list 'clients-vip' in account 'acme'"):
        show(store, "acme", "clients-vip")
    with pytest.raises(SavedListError, match="in account 'acme'"):
        add(store, "acme", "clients-vip", "0781223344")
    assert list_lists(store, "acme") == []


def test_list4_delete_removes_the_list_and_its_versions(store, vip):
    add(store, "default", "clients-vip", "0781223344")
    assert delete(store, "default", "clients-vip").version == 2
    assert list_lists(store, "default") == []
    with pytest.raises(SavedListError, match="no saved list 'clients-vip'"):
        search(store, "default", "clients-vip", "0781223344")
    import_list(store, "default", "clients-vip", vip)  # the name is free again, from version 1
    assert show(store, "default", "clients-vip").saved.version == 1


def test_list4_materialised_version_reads_as_a_list_named_after_the_saved_list(store, vip, tmp_path):
    path = materialise(store, "default", "clients-vip", None, tmp_path / "campaign")
    layout = inspect_list(path)
    assert (layout.name, layout.delimiter, layout.encoding, layout.columns) == (
        "clients-vip", ";", "utf-8", ["Mobile", "Prénom", "Ville"])
    assert path.read_text(encoding="utf-8").splitlines()[1:] == [
        "06 12 34 56 78;André;Évry", "+33 6 98 76 54 32;Zoé;Orléans", '"";Noé;Sète']  # an empty number, quoted


def test_list4_a_value_with_the_delimiter_quotes_or_a_line_break_survives_materialising(store, tmp_path):
    tricky = write_list(tmp_path / "tricky.csv", 'Nom;SMS\n"Dupont; fils";0611111111\n"Le ""Roi""\nde Paris";'
                                                 '0622222222\n')
    import_list(store, "default", "tricky", tricky)
    path = materialise(store, "default", "tricky", 1, tmp_path / "campaign")
    assert [r["fields"]["Nom"] for r in show(store, "default", "tricky").recipients] == [
        "Dupont; fils", 'Le "Roi"\nde Paris']
    again = import_list(store, "default", "again", path)  # what materialise wrote reads back the same
    assert [r["fields"]["Nom"] for r in show(store, "default", "again").recipients] == [
        "Dupont; fils", 'Le "Roi"\nde Paris']
    assert again.columns == ("SMS", "Nom")


def _spec(**fields):
    from pipelines.spec import validate_spec

    return validate_spec({"name": "VIP", "type": "notification", "message": "Bonjour ${Prénom}", **fields})


def _plan(spec, campaign: Path) -> pl.DataFrame:
    from pipelines.plan import plan_campaign

    result = plan_campaign(spec, campaign, campaign / "plan")
    return pl.read_parquet(result.out_dir / "recipients.parquet")


def test_list4_a_spec_naming_a_saved_list_plans_with_ref_list_the_saved_name(store, vip, tmp_path):
    campaign = tmp_path / "campaigns" / "vip-1"
    spec, versions = resolve_saved_lists(store, _spec(lists=[{"saved": "clients-vip"}]), "default", campaign)
    assert versions == {"clients-vip": 1}
    assert spec.lists == [str(campaign.resolve() / "saved-lists" / "v1" / "clients-vip")]
    plan = _plan(spec, campaign)
    assert plan["REF_LIST"].unique().to_list() == ["clients-vip"]
    assert plan.sort("ID_LINE")["INT_MOBILE"].to_list() == ["+33612345678", "+33698765432", None]
    assert plan.sort("ID_LINE")["Prénom"].to_list() == ["André", "Zoé", "Noé"]


def test_list4_two_campaigns_use_versions_1_and_2_and_each_keeps_its_own(store, vip, tmp_path):
    first, second = tmp_path / "campaigns" / "a", tmp_path / "campaigns" / "b"
    spec_a, used_a = resolve_saved_lists(store, _spec(lists=[{"saved": "clients-vip"}]), "default", first)
    add(store, "default", "clients-vip", "0781223344", {"Prénom": "Léa"})
    spec_b, used_b = resolve_saved_lists(store, _spec(lists=[{"saved": "clients-vip"}, "extra.csv"]), "default",
                                         second)
    assert (used_a, used_b) == ({"clients-vip": 1}, {"clients-vip": 2})
    assert spec_b.lists[1] == "extra.csv"  # files are left as the spec names them
    replay, used = resolve_saved_lists(store, _spec(lists=[{"saved": "clients-vip", "version": 1}]), "default",
                                       tmp_path / "campaigns" / "a-again")
    assert used == {"clients-vip": 1}
    sizes = [_plan(spec.model_copy(update={"lists": spec.lists[:1]}), folder).height
             for spec, folder in ((spec_a, first), (spec_b, second), (replay, tmp_path / "campaigns" / "a-again"))]
    assert sizes == [3, 4, 3]


def test_list4_an_unknown_saved_list_or_version_is_named_with_its_account(store, vip, tmp_path):
    create_account(store, "acme")
    with pytest.raises(SavedListError, match=r"no saved list 'clients-vip' in account 'acme'"):
        resolve_saved_lists(store, _spec(lists=[{"saved": "clients-vip"}]), "acme", tmp_path)
    with pytest.raises(SavedListError, match=r"'clients-vip' of account 'default' has no version 4 \(versions 1 to 1\)"):
        resolve_saved_lists(store, _spec(lists=[{"saved": "clients-vip", "version": 4}]), "default", tmp_path)
    add(store, "default", "clients-vip", "0781223344")
    with pytest.raises(SavedListError, match="versions 2 and 1: a campaign uses one version"):
        resolve_saved_lists(store, _spec(lists=[{"saved": "clients-vip"}, {"saved": "clients-vip", "version": 1}]),
                            "default", tmp_path)
    assert not (tmp_path / "saved-lists").exists()  # nothing written for a refused spec


def test_list4_a_saved_list_not_resolved_is_refused_by_the_plan_naming_it(store, tmp_path):
    from pipelines.spec import SpecError

    with pytest.raises(SpecError, match=r"saved list 'clients-vip' is read from the account store"):
        _plan(_spec(lists=[{"saved": "clients-vip"}]), tmp_path)


def test_list4_a_100k_row_list_imports_in_seconds(store, tmp_path):
    rows = "".join(f"06{10_000_000 + i:08d};Client {i};{i % 100_000:05d}\n" for i in range(100_000))
    path = write_list(tmp_path / "big.csv", "Mobile;Nom;CodePostal\n" + rows)
    started = time.monotonic()
    saved = import_list(store, "default", "big", path)
    again = import_list(store, "default", "big", path)
    elapsed = time.monotonic() - started
    assert (saved.rows, again.rows, again.version) == (100_000, 100_000, 2)
    assert elapsed < 30, f"two imports of 100k rows took {elapsed:.1f} s"  # row by row, they take minutes
    assert [r["line"] for r in search(store, "default", "big", "+33610099999").recipients] == [100_000]


def _add_numbers(url: str, numbers: list[str]) -> list[int]:
    from pipelines.store import open_store

    engine = open_store(url)
    return [add(engine, "default", "clients-vip", number).version for number in numbers]


@pytest.mark.integration  # real processes at once: not the fast unit part
def test_list4_processes_adding_at_once_each_make_their_own_version(store_url, vip):
    import multiprocessing

    batches = [[f"07812233{i:02d}" for i in range(0, 4)], [f"07812233{i:02d}" for i in range(4, 8)]]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        made = pool.starmap(_add_numbers, [(store_url, batch) for batch in batches])
    from pipelines.store import open_store

    engine = open_store(store_url)
    assert sorted(made[0] + made[1]) == list(range(2, 10))  # no version made twice, none lost
    view = show(engine, "default", "clients-vip", limit=None)
    assert (view.saved.version, view.saved.rows, len(view.recipients)) == (9, 11, 11)
    assert [v.rows for v in view.versions] == list(range(3, 12))
