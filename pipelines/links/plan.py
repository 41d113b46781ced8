"""Tracked links at plan time (URL-1…5, ENC-6): the message's URLs as short links of 19 characters, one per
sendable recipient and link, written to links.parquet beside recipients.parquet.

The plan renders the message with each URL replaced by a placeholder of the short link's exact length (the domain,
`/`, then `XXXXXXX1`, `XXXXXXX2` …), so lengths, parts, credits and the editor's worst case count the short link,
not the long URL (ENC-6). In the plan's worker threads each row of a batch gets its tokens (`tokens`), its targets
personalised, field values percent-encoded, the URL's fixed parts kept as written (URL-2), and its preview title
and description (URL-4); once the batch's statuses are final, the sendable rows' placeholders are replaced by
their short links and only their links are written, so no token points at a message never sent.

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

    @property
    def preview_fields(self) -> list[str]:
        return list(dict.fromkeys(name for template in (self.title, self.description) if template is not None
                                  for name in template.fields))

    def prepare(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Per row of a batch, all `attach` needs: whether each URL field is empty (`empty_column`: status 5 as
        in the message, MSG-4), each link's target (URL-2), short link and token (URL-5), the preview's title and
        description (URL-4). Whole columns, in the plan's worker threads, ahead of the batch's statuses: rows
        that turn out unsendable only waste their tokens (drawn, never written)."""
        height = frame.height
        fields = {name: frame.get_column(name) if name in frame.columns else
                  pl.Series(name, [None] * height, dtype=pl.String)  # a field only another list has: empty here
                  for name in dict.fromkeys([*self.target_fields, *self.preview_fields])}
        columns = []
        values = {}
        for name in self.target_fields:
            trimmed = fields[name].str.strip_chars()
            empty = trimmed.is_null() | (trimmed.str.len_bytes() == 0)
            value = pl.select(pl.when(empty).then(pl.lit(self.defaults.get(name), dtype=pl.String))
                              .otherwise(trimmed)).to_series().fill_null("")
            columns.append(empty.alias(empty_column(name)))
            values[name] = encode_values(value)
        encoded = pl.DataFrame(values) if values else pl.DataFrame({"_": pl.Series([None] * height, dtype=pl.String)})
        assert self.pool is not None
        codes = self.pool.draw(height * len(self.targets))
        shorts = pl.from_arrow(text_column(codes, f"{self.domain}/".encode()).cast(pa.string_view()))
        tokens = pl.from_arrow(text_column(codes).cast(pa.string_view()))
        for index, target in enumerate(self._targets(encoded, height)):
            columns += [target.alias(f"\x00target{index}"),
                        shorts.slice(index * height, height).alias(f"\x00short{index}"),
                        tokens.slice(index * height, height).alias(f"\x00token{index}")]
        rows = pl.DataFrame(list(fields.values())) if fields else None
        for kind, template in (("title", self.title), ("description", self.description)):
            columns.append(self._preview(rows, height, template).alias(f"\x00{kind}"))
        return pl.DataFrame(columns)

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
                    pieces.append(pl.col(name))
            targets.append(values.select(pl.concat_str(pieces)).to_series())
        return targets

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

    def _preview(self, rows: pl.DataFrame | None, height: int, template: Template | None) -> pl.Series:
        """URL-4: the personalised title or description of each row (null without a preview)."""
        if template is None:
            return pl.repeat(None, height, dtype=pl.String, eager=True)
        if not template.fields and template.jinja is None:
            return pl.repeat(template.literal_parts[0], height, dtype=pl.String, eager=True)
        if rows is None:  # a Jinja2 text that uses no field
            rows = pl.DataFrame({"_": pl.Series([None] * height, dtype=pl.String)})
        return self._rendered(rows, template)

    def _cut(self, texts: pl.Series, limit: int, kind: str) -> pl.Series:
        """URL-4: a rendering past `limit` characters is cut to it (an ellipsis last) and counted in the
        summary's warnings, rather than leaving the recipient unsent."""
        long = texts.str.len_chars() > limit
        count = int(long.sum())
        if not count:
            return texts
        self.shortened[kind] += count
        return pl.select(pl.when(long).then(texts.str.slice(0, limit - 1) + "…").otherwise(texts)).to_series()

    def attach(self, composed: pl.DataFrame, candidates: pl.Series, prepared: pl.DataFrame,
               keys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The sendable rows of a batch (STATUS_CODE null in `composed`, the batch's `candidates` rows) with their
        short links: their MESSAGE with each placeholder replaced by the row's short link, and their rows of
        links.parquet. `prepared`: `prepare()` of the whole batch; `keys`: its REF_LIST and ID_LINE."""
        sendable = composed.select(pl.arg_where(pl.col("STATUS_CODE").is_null())).to_series()
        count = sendable.len()
        if not count or not self.targets:
            return composed, pl.from_arrow(LINKS_SCHEMA.empty_table())
        rows = candidates.gather(sendable)
        prepared, keys = prepared[rows], keys[rows]
        messages = composed.get_column("MESSAGE").gather(sendable)
        title = self._cut(prepared.get_column("\x00title"), PREVIEW_TITLE_LENGTH, "title")
        description = self._cut(prepared.get_column("\x00description"), PREVIEW_DESCRIPTION_LENGTH, "description")
        frames = []
        for index, placeholder in enumerate(self.placeholders):
            short = prepared.get_column(f"\x00short{index}")
            present = messages.str.contains(placeholder, literal=True) if self.jinja else None
            messages = pl.DataFrame({"m": messages, "s": short}).select(
                pl.col("m").str.replace(placeholder, pl.col("s"), literal=True, n=1)).to_series()
            frame = pl.DataFrame({"token": prepared.get_column(f"\x00token{index}"), "short_url": short,
                                  "ref_list": keys.get_column("REF_LIST"), "id_line": keys.get_column("ID_LINE"),
                                  "link": pl.repeat(index + 1, count, dtype=pl.Int32, eager=True),
                                  "target": prepared.get_column(f"\x00target{index}"), "title": title,
                                  "description": description})
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
