"""pipelines.storage on a real moto_server and on local folders (issue 13): the same operations, the same
answers, a missing object named by its URL as a missing file is by its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import storage
from pipelines.storage import ObjectUrl


@pytest.fixture(params=["s3", "local"])
def root(request, tmp_path: Path):
    """Where each test writes: a fresh bucket on moto_server, or a local folder."""
    if request.param == "s3":
        return ObjectUrl.parse(request.getfixturevalue("s3_server").url("root/"))
    return tmp_path / "root"


def test_write_read_exists_size(root):
    target = root / "incoming" / "vip.csv"
    assert not storage.exists(target)
    storage.write_bytes(target, b"MOBILE;Nom\n0612345678;Dupont\n")
    assert storage.exists(target)
    assert storage.size(target) == 29
    assert storage.read_bytes(target) == b"MOBILE;Nom\n0612345678;Dupont\n"
    assert storage.read_head(target, 6) == b"MOBILE"
    assert storage.read_head(target, 1 << 16) == storage.read_bytes(target)  # shorter than asked: read whole
    storage.write_bytes(target, b"replaced")  # a write replaces the whole object
    assert storage.read_bytes(target) == b"replaced"


def test_an_empty_object_reads_as_nothing_like_an_empty_file(root):
    target = root / "incoming" / "empty.csv"
    storage.write_bytes(target, b"")
    assert storage.read_head(target, 1 << 16) == b"" == storage.read_bytes(target)
    assert storage.size(target) == 0


def test_open_read_streams_and_seeks(root):
    data = bytes(range(256)) * 40_000  # ~10 MB: more than one read block of the reader's buffer
    target = root / "big.bin"
    storage.write_bytes(target, data)
    with storage.open_read(target) as stream:
        assert stream.read(4) == data[:4]
        stream.seek(5_000_000)
        assert stream.read(10) == data[5_000_000:5_000_010]
        assert stream.tell() == 5_000_010
        stream.seek(0)
        assert stream.read() == data


def test_missing_object_is_file_not_found_naming_it(root):
    missing = root / "incoming" / "gone.csv"
    for operation in (storage.read_bytes, storage.size, lambda where: storage.read_head(where, 10),
                      lambda where: storage.local_copy(where, Path("/nonexistent-never-written"))):
        with pytest.raises(FileNotFoundError) as error:
            operation(missing)
        assert str(missing) in str(error.value)
    with pytest.raises(FileNotFoundError):
        storage.move(missing, root / "processed" / "gone.csv")


def test_listing_under_a_prefix_is_recursive_sorted_and_bounded_by_folder(root):
    for key in ("in/b.csv", "in/a.csv", "in/sub/c.csv", "inx/d.csv", "other.csv"):
        storage.write_bytes(root / key, b"x")
    found = [str(where) for where in storage.listing(root / "in")]
    assert found == [str(root / "in" / "a.csv"), str(root / "in" / "b.csv"), str(root / "in" / "sub" / "c.csv")]
    assert storage.listing(root / "nothing") == []


def test_move_leaves_the_source_gone_and_the_target_whole(root):
    source, target = root / "incoming" / "vip.csv", root / "processed" / "vip.csv"
    storage.write_bytes(source, b"MOBILE\n0612345678\n")
    storage.move(source, target)
    assert not storage.exists(source)
    assert storage.read_bytes(target) == b"MOBILE\n0612345678\n"


def test_local_copy_stages_an_object_and_leaves_a_file_where_it_is(root, tmp_path: Path):
    source = root / "incoming" / "vip.csv"
    storage.write_bytes(source, b"MOBILE\n0612345678\n")
    staged = storage.local_copy(source, tmp_path / "staging")
    assert staged.read_bytes() == b"MOBILE\n0612345678\n"
    if isinstance(root, ObjectUrl):
        assert staged == tmp_path / "staging" / "vip.csv"
        assert [entry.name for entry in (tmp_path / "staging").iterdir()] == ["vip.csv"]  # no partial file left
    else:
        assert staged == source  # a real file already: never copied


def test_moves_between_local_and_s3(s3_server, tmp_path: Path):
    local = tmp_path / "export.csv"
    local.write_bytes(b"MOBILE\n0612345678\n")
    remote = ObjectUrl.parse(s3_server.url("incoming/export.csv"))
    storage.move(local, remote)
    assert not local.exists() and storage.read_bytes(remote) == b"MOBILE\n0612345678\n"
    storage.move(remote, tmp_path / "back" / "export.csv")
    assert not storage.exists(remote) and (tmp_path / "back" / "export.csv").read_bytes() == b"MOBILE\n0612345678\n"


def test_upload_writes_a_large_file_whole(s3_server, tmp_path: Path):
    local = tmp_path / "report.csv"
    local.write_bytes(b"0123456789" * 700_000)  # 7 MB: a multipart upload
    remote = ObjectUrl.parse(s3_server.url("reports/report.csv"))
    storage.upload(local, remote)
    assert storage.read_bytes(remote) == local.read_bytes()


def test_endpoint_and_credentials_come_from_the_aws_settings(s3_server, monkeypatch):
    """Nothing but AWS_* says where S3 is: another endpoint in them, and the same URL is no longer reachable."""
    url = s3_server.url("settings.txt")
    storage.write_bytes(url, b"here")
    assert storage.read_bytes(url) == b"here"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing answers
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(OSError):
        storage.read_bytes(url)


def test_object_url_folds_dots_and_names_like_a_path():
    url = ObjectUrl.parse("s3://crm/incoming/./vip/../vip.csv")
    assert str(url) == "s3://crm/incoming/vip.csv"
    assert (url.name, str(url.parent), url.parts) == ("vip.csv", "s3://crm/incoming", ("s3://crm", "incoming",
                                                                                       "vip.csv"))
    assert url.is_relative_to(ObjectUrl.parse("s3://crm/incoming/"))
    assert not url.is_relative_to(ObjectUrl.parse("s3://crm/incom"))
    assert not url.is_relative_to(ObjectUrl.parse("s3://other/"))
    with pytest.raises(ValueError):
        ObjectUrl.parse("s3:///key")
    with pytest.raises(TypeError):  # never opened as a local file by mistake
        open(url)  # noqa: SIM115


def test_a_missing_moto_server_fails_saying_how_to_install_it(monkeypatch, tmp_path: Path):
    """The S3 tests are never skipped: without moto_server they fail, and say why."""
    import sys

    from s3 import moto_server

    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"moto_server is not installed.*make install"):
        with moto_server(tmp_path / "moto.log"):
            pass


def test_a_listing_s3_refuses_is_an_oserror_naming_the_url_not_a_traceback(s3_server):
    """obstore lists lazily: the refusal (here: no such bucket) comes while the listing is read, and still becomes
    an OSError naming the s3:// URL, as every other call's errors do (the receiver and the mirror catch OSError)."""
    with pytest.raises(OSError, match=r"s3://no-such-bucket-here/in"):
        storage.listing("s3://no-such-bucket-here/in/")


def test_a_key_that_climbs_out_of_the_working_copy_is_never_a_local_path():
    from pipelines.storage.mirror import _outside

    assert not _outside("campaigns/c1/plan/recipients.parquet")
    assert all(_outside(key) for key in ("../x", "campaigns/../../x", "/etc/passwd", "a//b", "a/./b", ""))
