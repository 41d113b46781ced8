"""LIST-1: the encoding of a list file (pipelines/lists/charsets.py)."""

from __future__ import annotations

from helpers import write_list

from pipelines.lists import detect_encoding


def test_list1_detect_encoding_prefers_utf8(tmp_path):
    assert detect_encoding(write_list(tmp_path / "a.csv", "Nom\nÉ\n")) == "utf-8"
    assert detect_encoding(write_list(tmp_path / "b.csv", "Nom\nÉ\n", "cp1252")) != "utf-8"
