"""Tracked links at plan time (URL-1…5, ENC-6): the message's URLs as short links of 19 characters, one per
sendable recipient and link, written to links.parquet beside recipients.parquet.

The plan renders the message with each URL replaced by a placeholder of the short link's exact length (the domain,
`/`, then `XXXXXXX1`, `XXXXXXX2` …), so lengths, parts, credits and the editor's worst case count the short link,
not the long URL (ENC-6). Once a batch's statuses are final, each sendable row gets fresh tokens (`tokens`) and
its placeholders are replaced by its short links; its targets are personalised, field values percent-encoded,
the URL's fixed parts kept as written (URL-2); its preview title and description personalised (URL-4). Only
sendable rows get links, so no token points at a message never sent.

links.parquet (the contract with the links service): token, short_url, ref_list, id_line, link, target, title,
description, image, expires_at — see LINKS_SCHEMA.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pyarrow as pa

from pipelines.links.detect import LinkError, TrackedMessage, find_urls
from pipelines.links.tokens import TokenPool, text_column
from pipelines.render import Template, TemplateError, compile_template, empty_column, render
from pipelines.spec import CampaignSpec, Problem, SpecError
from pipelines.spec.model import PREVIEW_DESCRIPTION_LENGTH, PREVIEW_TITLE_LENGTH
from pipelines.spec.tracking import PreviewImage, inspect_image

LINKS_SCHEMA = pa.schema([
    ("token", pa.large_string()), ("short_url", pa.large_string()), ("ref_list", pa.large_string()),
    ("id_line", pa.int64()), ("link", pa.int32()), ("target", pa.large_string()), ("title", pa.large_string()),
    ("description", pa.large_string()), ("image", pa.large_string()), ("expires_at", pa.timestamp("us", tz="UTC")),
])
LINKS_DICTIONARY = ("ref_list", "title", "description", "image")  # few distinct values: dictionary-encoded
LINKS_STATISTICS = ("id_line", "link")
_URL_SAFE = r"^[A-Za-z0-9_.~-]*$"  # RFC 3986 unreserved: a value made only of these is its own encoding
_URI_KEPT = "!#$%&'()*+,/:;=?@[]~"  # RFC 3986 reserved characters and "%": a URL's fixed parts keep them as written


def encode_values(values: pl.Series) -> pl.Series:
    """Field values percent-encoded for any part of a URL (`a b&c` → `a%20b%26c`, UTF-8 for accents): the usual
    value (an id, a code) needs nothing and is checked on the whole column; the others are encoded once per
    distinct value."""
    plain = values.str.contains(_URL_SAFE).fill_null(True)
    if plain.all():
        return values
    distinct = values.filter(~plain).unique()
    return values.replace(distinct, pl.Series([quote(value, safe="") for value in distinct], dtype=pl.String))


def _value_column(name: str) -> str:
    return f"{name}\x00url"


@dataclass
class LinkPlan:
    """What a tracked plan carries from batch to batch: the URLs, their target templates, the preview, the tokens
    drawn so far, and what the summary reports."""

    tracked: TrackedMessage
    domain: str
    token_length: int
    lifetime_days: int
    expires_at: datetime
    targets: list[Template]
    defaults: dict[str, str]
    title: Template | None = None
    description: Template | None = None
    image: PreviewImage | None = None
    jinja: bool = False  # the message is a Jinja2 template: a URL under a condition may be absent from a row
    pool: TokenPool | None = None
    links: int = 0
    shortened: Counter = field(default_factory=Counter)

    @classmethod
    def of(cls, spec: CampaignSpec, columns: list[str], base: Path, roots: Sequence[Path] | None = None,
           now: datetime | None = None) -> LinkPlan | None:
        """The link plan of a tracked spec (None when tracking is off); a SpecError names what cannot be tracked."""
        tracking = spec.tracking
        if tracking is None:
            return None
        try:
            tracked = find_urls(spec.message)
        except LinkError as error:
            raise SpecError([Problem(field="message", value=spec.message, rule=error.rule,
                                     message=str(error).removeprefix("message: ").rsplit(" [", 1)[0])]) from None
        now = now or datetime.now(timezone.utc)
        plan = cls(tracked, tracking.domain_or_default, tracking.token_length, tracking.lifetime_days,
                   (now + timedelta(days=tracking.lifetime_days)).astimezone(timezone.utc), [],
                   dict(spec.defaults), jinja=any(marker in spec.message for marker in ("{{", "{%", "{#")))
        plan.pool = TokenPool(plan.token_length)
        plan.targets = [_compiled(url.target_template, columns, "message") for url in tracked.urls]
        for target in plan.targets:  # an accent or a space in a fixed part: percent-encoded (UTF-8), all else kept
            target.literal_parts = [quote(part, safe=_URI_KEPT) for part in target.literal_parts]
        preview = tracking.preview
        if preview is not None:
            plan.title = _compiled(preview.title, columns, "tracking.preview.title")
            plan.description = _compiled(preview.description, columns, "tracking.preview.description")
            if preview.image:
                plan.image = inspect_image(preview.image, base, roots)
        return plan

    @cached_property
    def placeholders(self) -> list[str]:
        """The text standing for link n while the message is rendered and measured: as long as its short link,
        GSM7 basic characters only (ENC-1, ENC-6), never a text the message already holds."""
        for filler in "XYZW":
            found = [f"{self.domain}/{str(url.n).rjust(self.token_length, filler)}" for url in self.tracked.urls]
            if not any(text in self.tracked.source for text in found):
                return found
        raise SpecError([Problem(field="message", value=self.tracked.source, rule="URL-1",
                                 message="holds every placeholder text of the short links")])

    @property
    def message(self) -> str:
        """The message the plan renders and measures: each URL as its placeholder."""
        return self.tracked.replaced(self.placeholders)

    @property
    def target_fields(self) -> list[str]:
        return list(dict.fromkeys(name for target in self.targets for name in target.field_parts))

    def values(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Per row, each target field's value as inserted in a URL (trimmed, its default when empty: MSG-4,
        percent-encoded: URL-2) and whether the list value is empty (`empty_column`, status 5 as in the message).
        Whole columns; runs in the plan's worker threads with the rest of a batch's preparation."""
        columns = []
        for name in self.target_fields:
            raw = frame.get_column(name) if name in frame.columns else pl.Series(name, [None] * frame.height,
                                                                                  dtype=pl.String)
            trimmed = raw.str.strip_chars()
            empty = trimmed.is_null() | (trimmed.str.len_bytes() == 0)
            value = pl.select(pl.when(empty).then(pl.lit(self.defaults.get(name), dtype=pl.String))
                              .otherwise(trimmed)).to_series().fill_null("")
            columns += [empty.alias(empty_column(name)), encode_values(value).alias(_value_column(name))]
        return pl.DataFrame(columns) if columns else pl.DataFrame({"_": pl.Series([None] * frame.height,
                                                                                  dtype=pl.String)})

    def _targets(self, values: pl.DataFrame, height: int) -> list[pl.Series]:
        targets = []
        for template in self.targets:
            if not template.field_parts:
                targets.append(pl.repeat(template.literal_parts[0], height, dtype=pl.String, eager=True))
                continue
            pieces: list[pl.Expr] = []
            for literal, name in zip(template.literal_parts, [*template.field_parts, None]):
                if literal:
                    pieces.append(pl.lit(literal))
                if name is not None:
                    pieces.append(pl.col(_value_column(name)))
            targets.append(values.select(pl.concat_str(pieces)).to_series())
        return targets

    @property
    def row_columns(self) -> list[str]:
        """The plan columns `attach` reads of each row: its key and the preview's fields."""
        previews = [template for template in (self.title, self.description) if template is not None]
        return list(dict.fromkeys(["REF_LIST", "ID_LINE", *(name for template in previews
                                                             for name in template.fields)]))

    def _rendered(self, rows: pl.DataFrame, template: Template) -> pl.Series:
        """A preview text per row: a ${Field} template as one concat_str of trimmed values (their default when
        empty, MSG-4), no GSM7 replacement (a web page shows UTF-8); a Jinja2 one through the message's renderer."""
        if template.jinja is not None:
            return render(rows, template, self.defaults)
        pieces: list[pl.Expr] = []
        for literal, name in zip(template.literal_parts, [*template.field_parts, None]):
            if literal:
                pieces.append(pl.lit(literal))
            if name is not None:
                value = pl.col(name).str.strip_chars()
                pieces.append(pl.when(value.is_null() | (value.str.len_bytes() == 0))
                              .then(pl.lit(self.defaults.get(name, ""), dtype=pl.String)).otherwise(value))
        return rows.select(pl.concat_str(pieces)).to_series()

    def _preview(self, rows: pl.DataFrame, template: Template | None, limit: int, kind: str) -> pl.Series:
        """URL-4: the personalised title or description; a rendering past `limit` characters is cut to it (an
        ellipsis last) and counted in the summary's warnings, rather than leaving the recipient unsent."""
        if template is None:
            return pl.repeat(None, rows.height, dtype=pl.String, eager=True)
        if not template.fields and template.jinja is None:
            return pl.repeat(template.literal_parts[0], rows.height, dtype=pl.String, eager=True)
        texts = self._rendered(rows, template)
        long = texts.str.len_chars() > limit
        count = int(long.sum())
        if count:
            self.shortened[kind] += count
            texts = pl.select(pl.when(long).then(texts.str.slice(0, limit - 1) + "…").otherwise(texts)).to_series()
        return texts

    def attach(self, composed: pl.DataFrame, values: pl.DataFrame, rows: pl.DataFrame) -> tuple[pl.DataFrame,
                                                                                                 pl.DataFrame]:
        """Short links for the sendable rows of a batch (STATUS_CODE null in `composed`): their MESSAGE with each
        placeholder replaced by the row's short link, and their rows of links.parquet. `values`: `values()` of
        the same rows; `rows`: the same rows' `row_columns`."""
        assert self.pool is not None
        sendable = composed.select(pl.arg_where(pl.col("STATUS_CODE").is_null())).to_series()
        count, links = sendable.len(), len(self.tracked.urls)
        if not count or not links:
            return composed, pl.from_arrow(LINKS_SCHEMA.empty_table())
        rows, values = rows[sendable], values[sendable]
        messages = composed.get_column("MESSAGE").gather(sendable)
        codes = self.pool.draw(count * links)
        tokens = pl.from_arrow(text_column(codes).cast(pa.string_view()))
        shorts = pl.from_arrow(text_column(codes, f"{self.domain}/".encode()).cast(pa.string_view()))
        common = {
            "ref_list": rows.get_column("REF_LIST"), "id_line": rows.get_column("ID_LINE"),
            "title": self._preview(rows, self.title, PREVIEW_TITLE_LENGTH, "title"),
            "description": self._preview(rows, self.description, PREVIEW_DESCRIPTION_LENGTH, "description"),
        }
        frames = []
        for index, (placeholder, target) in enumerate(zip(self.placeholders, self._targets(values, count))):
            short = shorts.slice(index * count, count)
            present = messages.str.contains(placeholder, literal=True) if self.jinja else None
            messages = pl.DataFrame({"m": messages, "s": short}).select(
                pl.col("m").str.replace(placeholder, pl.col("s"), literal=True, n=1)).to_series()
            frame = pl.DataFrame({"token": tokens.slice(index * count, count), "short_url": short,
                                  "ref_list": common["ref_list"], "id_line": common["id_line"],
                                  "link": pl.repeat(index + 1, count, dtype=pl.Int32, eager=True), "target": target,
                                  "title": common["title"], "description": common["description"]})
            frames.append(frame if present is None else frame.filter(present))
        image = self.image.file_name if self.image is not None else None
        links_frame = pl.concat(frames).with_columns(
            pl.lit(image, dtype=pl.String).alias("image"),
            pl.lit(self.expires_at, dtype=pl.Datetime("us", "UTC")).alias("expires_at"))
        self.links += links_frame.height
        message = composed.get_column("MESSAGE").scatter(sendable, messages)
        return composed.with_columns(message.alias("MESSAGE")), links_frame

    def with_links(self, message: str, links: pl.DataFrame, ref_list: str, id_line: int) -> str:
        """A message rendered for one row (the SEND-3 test) with that row's short links in place of the
        placeholders; a row without links (not sendable) keeps them."""
        mine = links.filter((pl.col("ref_list") == ref_list) & (pl.col("id_line") == id_line))
        for link, short in mine.select("link", "short_url").iter_rows():
            message = message.replace(self.placeholders[link - 1], short, 1)
        return message

    def warnings(self) -> list[str]:
        notes = list(self.image.warnings) if self.image is not None else []
        if not self.tracked.urls:
            notes.append("tracking is on but the message has no URL: nothing to track (URL-1)")
        for kind, limit in (("title", PREVIEW_TITLE_LENGTH), ("description", PREVIEW_DESCRIPTION_LENGTH)):
            if self.shortened[kind]:
                notes.append(f"{self.shortened[kind]:,} personalised preview {kind}s were longer than {limit} "
                             f"characters and were cut to {limit} (URL-4): shorten the {kind} or its fields")
        return notes


def _compiled(source: str, columns: list[str], field_path: str) -> Template:
    """A URL or preview template resolved against the lists' columns; an unknown field names where it is."""
    try:
        return compile_template(source, columns)
    except TemplateError as error:
        raise SpecError([Problem(field=field_path, value=source, rule=error.rule,
                                 message=str(error).removeprefix("message: ").rsplit(" [", 1)[0])]) from None
