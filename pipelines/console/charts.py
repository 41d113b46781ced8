"""Server-rendered SVG charts for the report page (REP-1): pure functions from figures to markup, no script.

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` (what a screen reader says) and a `<title>` per
bar or point (the browser's tooltip); every text is escaped. Colours are SVG presentation attributes (`fill=`),
never `style=` (the extranet's CSP has no inline style), and the text font comes from console.css (`svg.chart`).
"""

from __future__ import annotations

from markupsafe import Markup, escape

from pipelines.status import STATUSES

# The status categories' colours (REP-1's download categories), contrast >= 3:1 on white for the bars.
COLOURS = {"delivered": "#1a6b35", "not_delivered": "#a4161a", "pending": "#8a5a00", "errors": "#6b2c91",
           "invalid": "#4a5366", "duplicates": "#4a5366", "blacklisted": "#3d3d3d", "not_allowed": "#4a5366",
           "capped": "#4a5366", "holdout": "#4a5366"}
DELIVERIES, CLICKS = "#1a6b35", "#0b4f9c"
WIDTH = 640


def _number(value: int | float) -> str:
    """A count in French: thin spaces between thousands (1 234 567)."""
    return f"{value:,}".replace(",", "\u202f")


def _svg(ident: str, title: str, desc: str, width: int, height: int, body: list[str]) -> Markup:
    """The chart's frame; `ident` names its title and description for aria-labelledby (unique on the page)."""
    head = (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" aria-labelledby="{ident}-t {ident}-d">'
            f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def status_bars(statuses: list[dict], title: str = "Destinataires par statut") -> Markup:
    """REP-1: one horizontal bar per status (`{"code", "text", "recipients"}`, as `campaign_stats` gives them),
    longest first, its length proportional to its recipients, labelled with the status text and the count."""
    rows = sorted((s for s in statuses if s.get("recipients")), key=lambda s: (-s["recipients"], s["code"]))
    if not rows:
        return _svg("status-chart", title, "Aucun destinataire.", WIDTH, 40,
                    ['<text x="8" y="24">Aucun destinataire.</text>'])
    label_width, bar_height, gap, top = 230, 22, 8, 8
    room = WIDTH - label_width - 90
    largest = max(row["recipients"] for row in rows)
    total = sum(row["recipients"] for row in rows)
    body = []
    for index, row in enumerate(rows):
        y = top + index * (bar_height + gap)
        length = max(1, round(room * row["recipients"] / largest))
        status = STATUSES.get(row["code"])
        colour = COLOURS.get(status.category if status else "", "#4a5366")
        share = row["recipients"] / total * 100
        text = f'{row["text"]} ({row["code"]})'
        body.append(
            f'<g><title>{escape(text)} : {_number(row["recipients"])} destinataires ({f"{share:.1f}".replace(".", ",")} %)</title>'
            f'<text x="{label_width - 8}" y="{y + 16}" text-anchor="end">{escape(text)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length}" height="{bar_height}" fill="{colour}"/>'
            f'<text x="{label_width + length + 6}" y="{y + 16}">{_number(row["recipients"])}</text></g>')
    height = top * 2 + len(rows) * (bar_height + gap)
    desc = "; ".join(f'{row["text"]} : {_number(row["recipients"])}' for row in rows)
    return _svg("status-chart", title, desc, WIDTH, height, body)


def hourly_chart(hours: list[str], deliveries: list[int], clicks: list[int] | None = None,
                 title: str = "Délivrances par heure") -> Markup:
    """Deliveries per hour as bars and, when the campaign tracks its links, clicks per hour as a line (URL-3).

    `hours` are the labels of consecutive hours (Paris time, e.g. "26/11 14h"), `deliveries` and `clicks` their
    counts, same length. The y axis starts at 0; every bar and point carries its hour and count as a <title>.
    """
    if clicks is not None and len(clicks) != len(hours) or len(deliveries) != len(hours):
        raise ValueError("one count per hour")
    if not hours:
        return _svg("hourly-chart", title, "Aucune délivrance pour l'instant.", WIDTH, 40,
                    ['<text x="8" y="24">Aucune délivrance pour l\'instant.</text>'])
    left, right, top, bottom, height = 56, 16, 28, 48, 240
    plot_width, plot_height = WIDTH - left - right, height - top - bottom
    largest = max([*deliveries, *(clicks or []), 1])
    step = plot_width / len(hours)
    bar = max(2.0, step * 0.6)
    body = [f'<line x1="{left}" y1="{top + plot_height}" x2="{WIDTH - right}" y2="{top + plot_height}" '
            'stroke="#4a5366"/>',
            f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{_number(largest)}</text>',
            f'<text x="{left - 6}" y="{top + plot_height}" text-anchor="end">0</text>']
    label_every = max(1, len(hours) // 8)
    for index, (hour, count) in enumerate(zip(hours, deliveries)):
        x = left + index * step + (step - bar) / 2
        length = plot_height * count / largest
        body.append(f'<rect x="{x:.1f}" y="{top + plot_height - length:.1f}" width="{bar:.1f}" '
                    f'height="{length:.1f}" fill="{DELIVERIES}"><title>{escape(hour)} : {_number(count)} '
                    f'délivrés</title></rect>')
        if index % label_every == 0:
            body.append(f'<text x="{left + (index + 0.5) * step:.1f}" y="{top + plot_height + 18}" '
                        f'text-anchor="middle">{escape(hour)}</text>')
    legend = [f'<rect x="{left}" y="6" width="12" height="12" fill="{DELIVERIES}"/>',
              f'<text x="{left + 18}" y="16">Délivrés</text>']
    if clicks is not None:
        points = [(left + (index + 0.5) * step, top + plot_height - plot_height * count / largest)
                  for index, count in enumerate(clicks)]
        body.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
            CLICKS, " ".join(f"{x:.1f},{y:.1f}" for x, y in points)))
        body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{CLICKS}"><title>{escape(hour)} : '
                 f'{_number(count)} clics</title></circle>' for (x, y), hour, count in zip(points, hours, clicks)]
        legend += [f'<line x1="{left + 100}" y1="12" x2="{left + 124}" y2="12" stroke="{CLICKS}" '
                   'stroke-width="2"/>', f'<text x="{left + 130}" y="16">Clics</text>']
    desc = f"{len(hours)} heures, de {hours[0]} à {hours[-1]} : {_number(sum(deliveries))} délivrés" + (
        f", {_number(sum(clicks))} clics" if clicks is not None else "")
    return _svg("hourly-chart", title, desc, WIDTH, height, legend + body)
