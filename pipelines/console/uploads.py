"""Files people upload (LIST-1): stored privately in the bucket, previewed with the plan's own list reader.

An upload lands under `<bucket>/uploads/<account>/<UTC date>/<random>/<safe name>`, outside every served path
(the file keeps its own name, which the plan reports as REF_LIST and a saved list's version as its source):
no route returns its bytes, and its content only ever appears as escaped text in a page. The preview reads the
file with `pipelines.lists` (encoding, delimiter, header, mobile column, rows), so what the page shows is what the
plan will read, and a bad file shows the plan's own ListError.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console.web import account_id, page

MAX_UPLOAD_BYTES = 64 << 20  # a list of ~1M contacts; bigger lists go through the bucket (smsflow lists import)
CHUNK_BYTES = 1 << 20
LIST_EXTENSIONS = (".csv", ".txt")  # LIST-1: a list is a CSV or text file
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_REF = re.compile(r"^\d{4}-\d{2}-\d{2}/[0-9a-f]{16}/[A-Za-z0-9._-]+\.(csv|txt)$")
DELIMITER_WORDS = {";": "point-virgule", ",": "virgule", "\t": "tabulation", "|": "barre verticale"}
ENCODING_WORDS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (avec BOM)", "utf-16": "UTF-16", "utf-16-le": "UTF-16 LE",
                  "utf-16-be": "UTF-16 BE", "smsflow-windows-1252": "Windows-1252",
                  "smsflow-utf-8-or-windows-1252": "UTF-8 et Windows-1252 mélangés"}


class UploadError(ValueError):
    """An upload refused before it is read as a list: its message is for the person (French)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def safe_name(filename: str | None) -> str:
    """The file's name kept to [A-Za-z0-9._-], its extension .csv or .txt (LIST-1), or an UploadError."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    stem, dot, extension = name.rpartition(".")
    if not dot or f".{extension.lower()}" not in LIST_EXTENSIONS:
        raise UploadError(f"« {name or 'sans nom'} » n'est pas une liste : seuls les fichiers .csv et .txt "
                          "sont acceptés (LIST-1).")
    stem = _UNSAFE.sub("_", stem).strip("._-")[:80] or "liste"
    return f"{stem}.{extension.lower()}"


def uploads_dir(bucket: Path, account: str) -> Path:
    """The account's private upload folder in the bucket."""
    return Path(bucket) / "uploads" / _UNSAFE.sub("_", account)


def save_upload(bucket: Path, account: str, upload: UploadFile) -> Path:
    """Copy an uploaded list in chunks to the account's upload folder (at most MAX_UPLOAD_BYTES); its path.

    Blocking: call it through `run_in_threadpool`."""
    name = safe_name(upload.filename)
    folder = uploads_dir(bucket, account) / datetime.now(timezone.utc).strftime("%Y-%m-%d") / secrets.token_hex(8)
    folder.mkdir(parents=True)
    target = folder / name
    size = 0
    upload.file.seek(0)
    try:
        with target.open("xb") as out:
            while chunk := upload.file.read(CHUNK_BYTES):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise UploadError(f"Fichier trop gros : au plus {MAX_UPLOAD_BYTES >> 20} Mo par envoi ; une liste "
                                      "plus grande s'importe par le bucket (smsflow lists import).", 413)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        folder.rmdir()
        raise
    if size == 0:
        target.unlink()
        folder.rmdir()
        raise UploadError(f"« {name} » est vide : une liste commence par une ligne d'en-tête (LIST-1).")
    return target


def upload_ref(bucket: Path, account: str, path: Path) -> str:
    """How a form names a saved upload (`<date>/<random>/<file>`): relative to the account's folder, never a full path."""
    return path.relative_to(uploads_dir(bucket, account)).as_posix()


def upload_path(bucket: Path, account: str, ref: str) -> Path | None:
    """The account's upload a form names, or None (a forged or another account's reference finds nothing)."""
    if not ref or not _REF.fullmatch(ref):
        return None
    path = uploads_dir(bucket, account) / ref
    return path if path.is_file() else None


def display_name(path: Path) -> str:
    """The name the file is shown by (its safe name; the random folder above it stays private)."""
    return path.name


@dataclass
class ListPreview:
    """What the plan will read of a list: encoding, delimiter, columns, mobile column, first rows, problems."""

    file: str
    encoding: str | None = None
    delimiter: str | None = None
    columns: list[str] = field(default_factory=list)
    mobile_column: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None
    problems: list[str] = field(default_factory=list)
    error: Any = None  # the plan's ListError when the file cannot be read as a list

    @property
    def encoding_label(self) -> str:
        return ENCODING_WORDS.get(self.encoding or "", self.encoding or "")

    @property
    def delimiter_label(self) -> str:
        return DELIMITER_WORDS.get(self.delimiter or "", repr(self.delimiter))

    @property
    def ok(self) -> bool:
        return self.error is None


def _said(text: str, path: Path, shown: str) -> str:
    """A message of the list code with the server's path replaced by the file's name."""
    return text.replace(str(path), shown)


def preview(path: Path, rows: int = 5) -> ListPreview:
    """Read `path` as the plan does: its layout, its first `rows` rows and its row count (the whole file is read,
    in Arrow batches, so an error anywhere in it shows now, with its line and column)."""
    from pipelines.lists.header import ListError, inspect_list
    from pipelines.lists.reader import ID_LINE, read_list_batches

    shown = display_name(path)
    result = ListPreview(file=shown)
    try:
        layout = inspect_list(path, name=shown)
        result.encoding, result.delimiter = layout.encoding, layout.delimiter
        result.columns, result.mobile_column = layout.columns, layout.mobile_column
        result.problems += [_said(warning, path, shown) for warning in layout.warnings]
        total = 0
        for batch in read_list_batches(layout):
            if len(result.rows) < rows:
                result.rows += batch.drop(ID_LINE).head(rows - len(result.rows)).to_dicts()
            total += batch.height
        result.total = total
    except ListError as error:
        error.file = shown
        error.args = (_said(str(error), path, shown),)
        result.error = error
        result.problems.append(str(error))
    return result


async def preview_upload(request: Request):
    """POST /lists/preview (htmx, multipart `file`): save the upload, show what the plan will read of it."""
    bucket, account = request.app.state.bucket, account_id(request)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_BYTES + CHUNK_BYTES:
        return _refused(request, UploadError(f"Fichier trop gros : au plus {MAX_UPLOAD_BYTES >> 20} Mo par envoi.",
                                             413))
    async with request.form(max_files=1, max_fields=20) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return _refused(request, UploadError("Choisissez un fichier (.csv ou .txt)."))
        try:
            path = await run_in_threadpool(save_upload, bucket, account, upload)
        except UploadError as error:
            return _refused(request, error)
    shown = await run_in_threadpool(preview, path)
    template = "upload_preview.html" if request.headers.get("hx-request") else "lists_import.html"
    return page(request, template, preview=shown, upload=upload_ref(bucket, account, path))


def _refused(request: Request, error: UploadError):
    """The refusal in the preview's place (200 for htmx, which swaps only successful answers)."""
    status = 200 if request.headers.get("hx-request") else error.status
    template = "upload_preview.html" if request.headers.get("hx-request") else "lists_import.html"
    return page(request, template, status_code=status, preview=None, refusal=str(error), upload=None)


routes = [Route("/lists/preview", preview_upload, methods=["POST"])]
