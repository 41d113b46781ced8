"""LIST-1, LIST-2, LIST-6: CRM exports read exactly as written (pipelines/lists/reader.py)."""

from __future__ import annotations

import polars as pl
import pytest
from helpers import write_list

from pipelines.lists import ListError, inspect_list, read_list_batches


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


def test_list1_excel_sep_hint_line_names_the_delimiter(tmp_path):
    text = "sep=,\nNom;Prénom,GSM\nDupont;Jean,0612345678\n"
    layout, frame = read_all(write_list(tmp_path / "excel.csv", text))
    assert (layout.delimiter, layout.columns) == (",", ["Nom;Prénom", "GSM"])
    assert frame.select("Nom;Prénom", "ID_LINE").rows() == [("Dupont;Jean", 1)]


def test_list1_old_mac_line_endings_and_trailing_delimiters(tmp_path):
    layout, frame = read_all(write_list(tmp_path / "mac.csv", "Nom;Mobile;\rA;0611111111;\rB;0622222222;\r"))
    assert layout.columns == ["Nom", "Mobile", "column_3"]
    assert frame.select("Nom", "Mobile").rows() == [("A", "0611111111"), ("B", "0622222222")]


def swallowed_list(line_ending: str = "\n", close_at: int | None = None) -> str:
    """100 contacts; row 3 opens a quote it never closes (or closes inside row `close_at`)."""
    rows = ["Mobile;Prenom;Ville"] + [f"06120000{i:02d};Ann{i};Paris" for i in range(100)]
    rows[3] = '0612000002;"Bonjour Ann;Paris'
    if close_at is not None:
        rows[close_at + 1] = f'06120000{close_at:02d};Ann{close_at}";Paris'
    return line_ending.join(rows) + line_ending


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"])
def test_list1_quote_swallowing_rows_stops_with_file_line_where_it_opened_and_column(tmp_path, line_ending):
    path = write_list(tmp_path / "crm.csv", swallowed_list(line_ending, close_at=49))  # read as 53 rows before
    with pytest.raises(ListError) as error:
        read_all(path)
    assert (error.value.line, error.value.column, error.value.rule) == (4, "Prenom", "LIST-1")
    assert "crm.csv, line 4, column 'Prenom'" in str(error.value) and "unclosed quote" in str(error.value)


def test_list1_quote_never_closed_stops_with_the_line_where_it_opened(tmp_path):
    path = write_list(tmp_path / "crm.csv", swallowed_list())
    with pytest.raises(ListError) as error:
        read_all(path)
    assert (error.value.line, error.value.column) == (4, "Prenom")
    assert "never closes" in str(error.value)


def test_list1_swallowed_rows_never_reach_a_plan(tmp_path):
    from helpers import write_spec

    from pipelines.plan import plan_file

    write_list(tmp_path / "list.csv", swallowed_list(close_at=49))
    with pytest.raises(ListError, match="line 4"):
        plan_file(write_spec(tmp_path, lists=["list.csv"], message="Bonjour ${Prenom}"), tmp_path / "plan")
    assert not (tmp_path / "plan" / "recipients.parquet").exists()


@pytest.mark.parametrize("last_row", ['0612345679;"Martin\n', '0612345679;"Martin;Lyon\n'])
def test_list1_quote_left_open_on_the_last_row_is_an_error_naming_its_line(tmp_path, last_row):
    header, first = ("Mobile;Nom\n", "0612345678;Dupont\n") if last_row.count(";") == 1 else \
        ("Mobile;Nom;Ville\n", "0612345678;Dupont;Paris\n")
    with pytest.raises(ListError) as error:
        read_all(write_list(tmp_path / "end.csv", header + first + last_row))
    assert (error.value.line, error.value.column) == (3, "Nom") and "never closes" in str(error.value)


def test_list1_multiline_values_as_crm_write_them_still_read(tmp_path):
    address = "Résidence Les Pins\nBât. B, esc. 2\n12, rue du Port\nBP 42\n13002 Marseille\nFRANCE"
    text = f'Mobile;Adresse;Note\r\n0612345678;"{address}";"Rappeler ""lundi""\r\nmatin"\r\n0612345679;x;y\r\n'
    _, frame = read_all(write_list(tmp_path / "l.csv", text))
    assert frame.get_column("Adresse").to_list() == [address, "x"]
    assert frame.get_column("Note").to_list() == ['Rappeler "lundi"\r\nmatin', "y"]


def test_list1_mobile_number_spanning_lines_is_refused(tmp_path):
    text = 'Nom;Mobile\nDupont;"0612345678\n0612345679"\nMartin;0612345670\n'
    with pytest.raises(ListError) as error:
        read_all(write_list(tmp_path / "l.csv", text))
    assert (error.value.line, error.value.column) == (2, "Mobile") and "spans several lines" in str(error.value)


def test_list1_multiline_value_past_the_bound_is_refused(tmp_path):
    note = "\n".join(["ligne"] * 11)
    text = f'Nom;Mobile;Note\nDupont;0612345678;a\nMartin;0612345679;"{note}"\n'
    with pytest.raises(ListError) as error:
        read_all(write_list(tmp_path / "l.csv", text))
    assert (error.value.line, error.value.column) == (3, "Note") and "11 lines" in str(error.value)


@pytest.mark.parametrize("size", [1 << 20, 10 << 20])  # within one read block, and larger than a block
@pytest.mark.parametrize("quoted", [False, True])
def test_list1_oversized_value_is_a_list_error_with_line_and_column(tmp_path, size, quoted):
    value = b"x" * size
    path = tmp_path / "big.csv"
    path.write_bytes(b"Mobile;Nom\n0612345678;a\n0612345679;" + (b'"%s"' % value if quoted else value) + b"\n")
    with pytest.raises(ListError) as error:
        read_all(path)
    assert (error.value.line, error.value.column, error.value.rule) == (3, "Nom", "LIST-1")
    assert f"a value of {size} bytes" in str(error.value)


def test_list1_half_windows_1252_half_utf8_reads_each_line_right_and_says_so(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes("Nom;Mobile\nHélène;0612345678\nAnn;0612345670\n".encode("cp1252")
                     + "Zoë;0612345679\nFrançois;0612345671\n".encode())
    layout, frame = read_all(path)
    assert frame.get_column("Nom").to_list() == ["Hélène", "Ann", "Zoë", "François"]
    assert len(layout.warnings) == 1
    assert all(part in layout.warnings[0] for part in ("mixed.csv", "line 4 is UTF-8", "line 2 is Windows-1252",
                                                       "LIST-1"))


def test_list1_pure_windows_1252_and_utf8_files_carry_no_warning(tmp_path):
    for encoding in ("cp1252", "utf-8", "utf-8-sig"):
        layout, _ = read_all(write_list(tmp_path / f"{encoding}.csv", "Nom;GSM\nHélène;0612345678\n", encoding))
        assert layout.warnings == []


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_list1_utf16_without_bom_is_read(tmp_path, encoding):
    text = "PORTABLE;Prénom\r\n0612345678;Élodie\r\n0612345679;Zoë\r\n"
    layout, frame = read_all(write_list(tmp_path / "unicode.txt", text, encoding))
    assert (layout.columns, layout.mobile_column) == (["PORTABLE", "Prénom"], "PORTABLE")
    assert frame.get_column("Prénom").to_list() == ["Élodie", "Zoë"]


@pytest.mark.parametrize("headers", [("MOBILE", "Portable"), ("Mobile", "Mobile")])
def test_list2_second_mobile_column_is_named_in_a_warning(tmp_path, headers):
    path = write_list(tmp_path / "two.csv", f"Nom;{headers[0]};{headers[1]}\nA;0612345678;0712345678\n")
    layout, frame = read_all(path)
    assert layout.mobile_column == headers[0]
    assert frame.get_column(layout.mobile_column).to_list() == ["0612345678"]
    second = layout.columns[2]
    assert layout.warnings == [f"{path}: several mobile number columns: {headers[0]!r} is used (the first one); "
                               f"{second!r} kept as personalisation fields [LIST-2]"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_list1_multiline_value_closing_the_file_still_reads(tmp_path, encoding):
    text = 'Mobile;Adresse\r\n0612345678;x\r\n0612345679;"12 rue du Port\r\nBât. B"\r\n'
    _, frame = read_all(write_list(tmp_path / "l.csv", text, encoding))
    assert frame.get_column("Adresse").to_list() == ["x", "12 rue du Port\r\nBât. B"]


def test_list1_quote_left_open_in_a_utf16_file_is_an_error_naming_its_line(tmp_path):
    path = write_list(tmp_path / "l.txt", 'Mobile;Adresse\r\n0612345678;x\r\n0612345679;"12 rue du Port\r\n', "utf-16")
    with pytest.raises(ListError) as error:
        read_all(path)
    assert (error.value.line, error.value.column) == (3, "Adresse")
