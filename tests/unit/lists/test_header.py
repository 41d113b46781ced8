"""LIST-1, LIST-2, LIST-3: a list's header — the mobile column, trimmed and unique names (pipelines/lists/header.py)."""

from __future__ import annotations

import pytest
from helpers import write_list

from pipelines.lists import ListError, inspect_list


@pytest.mark.parametrize("header", ["  Gsm ", "PORTABLE", "portable", "Mobile", "SMS", "sms", "Portablé", " MOBILE"])
def test_list2_mobile_column_matched_case_accent_and_space_insensitively(tmp_path, header):
    layout = inspect_list(write_list(tmp_path / "l.csv", f"Nom;{header};Ville\nA;0612345678;Paris\n"))
    assert layout.mobile_column == header.strip()
    assert layout.personalisation_columns == ["Nom", "Ville"]  # LIST-3


def test_list2_no_mobile_column_names_file_and_columns_found(tmp_path):
    path = write_list(tmp_path / "clients.csv", "Nom;Téléphone;Ville\nA;0612345678;Paris\n")
    with pytest.raises(ListError) as error:
        inspect_list(path)
    message = str(error.value)
    assert "clients.csv" in message and "'Nom', 'Téléphone', 'Ville'" in message and "LIST-2" in message


def test_list3_headers_trimmed_and_duplicates_or_blanks_named(tmp_path):
    layout = inspect_list(write_list(tmp_path / "l.csv", " Nom ;Mobile;Nom; \nA;0612345678;B;x\n"))
    assert layout.columns == ["Nom", "Mobile", "Nom (2)", "column_4"]


def test_list1_empty_file_is_an_error(tmp_path):
    with pytest.raises(ListError, match="header row"):
        inspect_list(write_list(tmp_path / "empty.csv", ""))


@pytest.mark.parametrize("encoding,text", [
    ("utf-8-sig", "Nom;Mobile;Prénom\nA;0612345678;Zoé\n"),
    ("utf-16", "Nom\tMobile\tPrénom\r\nA\t0612345678\tZoé\r\n"),
    ("cp1252", "sep=|\nNom|Mobile|Prénom\nA|0612345678|Zoé\n"),
])
def test_list1_read_header_names_the_columns_as_inspect_list_from_the_first_bytes(tmp_path, encoding, text):
    from pipelines.lists import read_header

    path = write_list(tmp_path / "l.csv", text, encoding)
    layout = inspect_list(path)
    assert read_header(path) == (layout.columns, layout.mobile_column) == (["Nom", "Mobile", "Prénom"], "Mobile")


def test_list2_read_header_refuses_a_missing_file_and_a_list_without_mobile_column(tmp_path):
    from pipelines.lists import read_header

    with pytest.raises(ListError, match=r"file not found \[LIST-1\]"):
        read_header(tmp_path / "none.csv")
    with pytest.raises(ListError, match=r"no mobile number column.*\[LIST-2\]"):
        read_header(write_list(tmp_path / "l.csv", "Nom;Tel\nA;0612345678\n"))
