"""URL-4: the link preview's image, checked with the spec's files: a real JPG or PNG (its content, read by Pillow,
not its extension), under 300 kB; 600×280 is advised, so another size is a warning, not a refusal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.spec.locations import confine, resolve_location
from pipelines.spec.problems import Problem, SpecError
from pipelines.storage import ObjectUrl, Staged

MAX_IMAGE_BYTES = 300_000  # "under 300 kB" (URL-4), kB as 1,000 bytes: the stricter reading
ADVISED_SIZE = (600, 280)  # URL-4: what Android Messages shows uncropped
IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png"}
IMAGE_FIELD = "tracking.preview.image"


@dataclass(frozen=True)
class PreviewImage:
    """A preview image that passed URL-4: where it is, its real format and size, and what is merely advised."""

    path: Path
    extension: str  # jpg or png, from the content
    width: int
    height: int
    size_bytes: int
    warnings: tuple[str, ...] = field(default=())
    # An s3:// image (issue 13): `path` is its local copy, kept as long as this is (the plan copies it from there)
    staged: Staged | None = field(default=None, compare=False, repr=False)

    @property
    def file_name(self) -> str:
        """Its name once copied into the plan folder (the links service serves it from there)."""
        return f"preview.{self.extension}"


def _refused(location: str, message: str) -> SpecError:
    return SpecError([Problem(field=IMAGE_FIELD, value=location, rule="URL-4", message=message)])


def inspect_image(location: str, base: Path, roots: Sequence[Path] | None = None) -> PreviewImage:
    """The preview image a spec names (relative to `base`, inside `roots` when given, or s3://), or a SpecError
    (URL-4). An s3:// image is measured by its size first, then copied locally (300 kB at most) to be checked."""
    from PIL import Image, UnidentifiedImageError

    from pipelines import storage

    where = resolve_location(location, base, IMAGE_FIELD) if roots is None else confine(location, base, roots,
                                                                                        IMAGE_FIELD)
    try:
        size = storage.size(where)
    except FileNotFoundError:
        raise _refused(location, f"preview image not found: {where}") from None
    except OSError as error:
        raise _refused(location, f"the preview image cannot be read: {error}") from None
    if size > MAX_IMAGE_BYTES:
        raise _refused(location, f"the preview image is {size:,} bytes; at most {MAX_IMAGE_BYTES:,} (300 kB)")
    staged = None
    if isinstance(where, ObjectUrl):
        try:
            staged = Staged(where)
        except OSError as error:
            raise _refused(location, f"the preview image cannot be read: {error}") from None
    path = staged.path if staged is not None else where
    try:
        with Image.open(path) as image:
            kind, (width, height) = image.format, image.size
            image.verify()  # a truncated or corrupt file fails here, not on a phone
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        reason = "not an image" if isinstance(error, UnidentifiedImageError) else f"a damaged image ({error})"
        raise _refused(location, f"the preview image is {reason}: a JPG or PNG is needed") from None
    if kind not in IMAGE_FORMATS:
        raise _refused(location, f"the preview image is a {kind} image: a JPG or PNG is needed, whatever its name")
    warnings = () if (width, height) == ADVISED_SIZE else (
        f"the preview image is {width}×{height}; {ADVISED_SIZE[0]}×{ADVISED_SIZE[1]} is advised, other sizes may be "
        "cropped (URL-4)",)
    return PreviewImage(path, IMAGE_FORMATS[kind], width, height, size, warnings, staged)


def image_problems(raw: Mapping[str, Any], base: Path, roots: Sequence[Path] | None = None) -> list[Problem]:
    """The preview image of a spec as written (not yet validated), checked when it names one (URL-4)."""
    tracking = raw.get("tracking")
    preview = tracking.get("preview") if isinstance(tracking, Mapping) else None
    location = preview.get("image") if isinstance(preview, Mapping) else None
    if not isinstance(location, str) or not location:
        return []
    try:
        inspect_image(location, base, roots)
    except SpecError as error:
        return error.problems
    return []
