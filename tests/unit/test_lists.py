"""LIST-1 … LIST-6: CRM exports read exactly as written."""

from __future__ import annotations

import polars as pl
import pytest
from helpers import write_list

from pipelines.lists import ListError, detect_encoding, inspect_list, read_list_batches


def read_all(path):
    layout = inspect_list(path)
    return layout, pl.concat(list(read_list_batches(layout)))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_list1_encodings_read_without_garbling(tmp_path, encoding):
    text = "Prénom;Ville;Mobile\r\nÉlodie;Besançon;0612345678\r\nZoë;Orléans;0712345678\r\n"
    layout, frame = read_all(write_list(tmp_path / "l.csv", text, encoding))
    assert layout.columns == ["Prénom", "Ville", "Mobile"]
    assert frame.get_column("Prénom").to_list() == ["Élodie", "Zoë"]
    assert frame.get_column("Ville").to_list() == ["Besançon", "Orléans"]


def test_list1_windows_1252_detected_even_when_the_first_accent_is_far_down(tmp_path):
    rows = "".join(f"Client{i};06123456{i % 100:02d}\n" for i in range(60_000))
    path = write_list(tmp_path / "l.csv", "Nom;GSM\n" + rows + "Hélène;0612345678\n", "cp1252")
    assert path.stat().st_size > 1 << 20
    layout, frame = read_all(path)
    assert layout.encoding != "utf-8"
    assert frame.get_column("Nom")[-1] == "Hélène"


def test_list1_windows_1252_bytes_undefined_in_python_are_kept(tmp_path):
    path = tmp_path / "l.csv"
    path.write_bytes(b"Nom;GSM\nA\x81B\xe9;0612345678\n")
    _, frame = read_all(path)
    assert frame.get_column("Nom")[0] == "A\x81Bé"


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_list1_delimiter_detected(tmp_path, delimiter):
    text = delimiter.join(["Nom", "Mobile", "CP"]) + "\n" + delimiter.join(["Dupont", "0612345678", "01000"]) + "\n"
    layout, frame = read_all(write_list(tmp_path / "l.txt", text))
    assert layout.delimiter == delimiter
    assert frame.row(0)[:3] == ("Dupont", "0612345678", "01000")  # leading zeros kept


def test_list1_quoted_fields_with_delimiters_quotes_and_newlines(tmp_path):
    text = 'Nom;Adresse;Mobile\n"Dupont; fils";"12 rue ""du"" Port\nBât. B";0612345678\nMartin;;0712345678\n'
    _, frame = read_all(write_list(tmp_path / "l.csv", text))
    assert frame.get_column("Nom").to_list() == ["Dupont; fils", "Martin"]
    assert frame.get_column("Adresse").to_list() == ['12 rue "du" Port\nBât. B', ""]
    assert frame.get_column("ID_LINE").to_list() == [1, 2]


def test_list6_id_line_counts_data_rows_and_skips_blank_lines(tmp_path):
    text = "Nom;Mobile\nA;0612345678\n\nB;0612345679\r\n\r\nC;0612345670\n\n"
    _, frame = read_all(write_list(tmp_path / "l.csv", text))
    assert frame.select("Nom", "ID_LINE").rows() == [("A", 1), ("B", 2), ("C", 3)]


@pytest.mark.parametrize("bad_row", ["B;0612345679", "B;0612345679;x;y"])
def test_list1_ragged_row_is_an_error_naming_file_and_line(tmp_path, bad_row):
    text = 'Nom;Mobile;CP\nA;0612345678;75001\n"multi\nline";0612345677;75002\n\n' + bad_row + "\nC;0612345670;1\n"
    path = write_list(tmp_path / "ragged.csv", text)
    with pytest.raises(ListError) as error:
        read_all(path)
    assert error.value.line == 6
    assert "ragged.csv" in str(error.value) and "line 6" in str(error.value) and "LIST-1" in str(error.value)


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


def test_list1_detect_encoding_prefers_utf8(tmp_path):
    assert detect_encoding(write_list(tmp_path / "a.csv", "Nom\nÉ\n")) == "utf-8"
    assert detect_encoding(write_list(tmp_path / "b.csv", "Nom\nÉ\n", "cp1252")) != "utf-8"


def test_list1_excel_sep_hint_line_names_the_delimiter(tmp_path):
    text = "sep=,\nNom;Prénom,GSM\nDupont;Jean,0612345678\n"
    layout, frame = read_all(write_list(tmp_path / "excel.csv", text))
    assert (layout.delimiter, layout.columns) == (",", ["Nom;Prénom", "GSM"])
    assert frame.select("Nom;Prénom", "ID_LINE").rows() == [("Dupont;Jean", 1)]


def test_list1_old_mac_line_endings_and_trailing_delimiters(tmp_path):
    layout, frame = read_all(write_list(tmp_path / "mac.csv", "Nom;Mobile;\rA;0611111111;\rB;0622222222;\r"))
    assert layout.columns == ["Nom", "Mobile", "column_3"]
    assert frame.select("Nom", "Mobile").rows() == [("A", "0611111111"), ("B", "0622222222")]
