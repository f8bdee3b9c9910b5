"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

The Content-Security-Policy meta tag forbids every network request (`default-src 'none'`),
so the page opens the same from disk, from `worktime dev`'s `/dashboard`, or as an e-mail
attachment, and a browser test can prove that nothing leaves it. Every value from the
database is HTML-escaped (repo names and logins are user-controlled).
"""

from __future__ import annotations

import datetime as dt
from html import escape

from worktime_cli.admin.report import Dashboard, Line, Report, hours

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1f24;
background:#fff;max-width:64rem}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}
p.meta{color:#57606a;margin:0 0 1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;
border-bottom:1px solid #d0d7de}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
svg{display:block;max-width:100%;height:auto}svg text{font:12px system-ui,sans-serif;fill:#1b1f24}
.bar{fill:#2f6fdf}.empty{color:#57606a}.grid{stroke:#d0d7de;stroke-width:1}
.axis{stroke:#57606a;stroke-width:1}svg text.tick{font-size:11px;fill:#57606a}
svg text.axis-title{font-size:11px;fill:#57606a}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}
svg text{fill:#e6edf3}th,td{border-color:#30363d}.bar{fill:#58a6ff}.grid{stroke:#30363d}}
"""


def _tick_step(top_hours: float) -> float:
    """A round step (in hours) that puts four to eight gridlines under `top_hours`."""
    for step in (0.25, 0.5, 1, 2, 4, 6, 12, 24, 48, 96, 168):
        if top_hours / step <= 6:
            return step
    return float(round(top_hours / 6))


def _hours_label(value: float) -> str:
    return f"{value:g} h"


def _columns(lines: tuple[Line, ...], label: str) -> str:
    """Vertical bars (time per day) over a y-axis in hours and an x-axis of dates."""
    if not lines:
        return '<p class="empty">No tracked time.</p>'
    width, height = 720, 220
    left, right, top_pad, bottom = 56, 12, 12, 40  # room for the axis labels
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    step_h = _tick_step(max(line.total_seconds for line in lines) / 3600)
    peak = max(line.total_seconds for line in lines) / 3600
    scale_top = step_h * max(1, -(-peak // step_h))  # the first gridline at or above the peak
    parts = []
    tick = 0.0
    while tick <= scale_top + 1e-9:
        y = top_pad + plot_h * (1 - tick / scale_top)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_hours_label(tick)}</text>"
        )
        tick += step_h
    step = plot_w / len(lines)
    for i, line in enumerate(lines):
        h = plot_h * (line.total_seconds / 3600) / scale_top
        x = left + i * step
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{h:.1f}">'
            f"<title>{escape(line.key)}: {hours(line.total_seconds)}</title></rect>"
        )
    # Dates under the axis: first, last and a few between, never crowding each other.
    every = max(1, -(-len(lines) // 6))
    for i in sorted({*range(0, len(lines), every), len(lines) - 1}):
        if i != len(lines) - 1 and len(lines) - 1 - i < every / 2:
            continue  # too close to the last label
        x = left + (i + 0.5) * step
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle">'
            f"{escape(lines[i].key)}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{left}" x2="{left}" y1="{top_pad}" y2="{top_pad + plot_h}"/>'
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top_pad + plot_h}" '
        f'y2="{top_pad + plot_h}"/>'
        f'<text class="axis-title" x="12" y="{top_pad + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top_pad + plot_h / 2:.1f})">hours per day</text>'
        f'<text class="axis-title" x="{left + plot_w / 2:.1f}" y="{height - 4}" '
        'text-anchor="middle">day (UTC)</text>'
    )
    return (
        f'<svg role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'data-chart="{escape(label)}" data-bars="{len(lines)}">' + "".join(parts) + "</svg>"
    )


def _every_day(lines: tuple[Line, ...], first: str | None, last: str | None) -> tuple[Line, ...]:
    """Days without tracked time as zero-height bars, so the axis is real calendar time."""
    by_day = {line.key: line for line in lines}
    try:
        start = dt.date.fromisoformat(first or min(by_day))
        end = dt.date.fromisoformat(last or max(by_day))
    except ValueError:
        return lines  # an odd date in daily_stats: show what is there, in order
    if (end - start).days > 3660:
        return lines
    days = (start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    return tuple(by_day.get(d.isoformat(), Line(d.isoformat(), 0, 0)) for d in days)


def _rows(lines: tuple[Line, ...], label: str) -> str:
    """Horizontal bars with their labels (time per repo, top PRs)."""
    if not lines:
        return '<p class="empty">No tracked time.</p>'
    row_h, label_w, bar_w = 22, 260, 380
    top = max(line.total_seconds for line in lines) or 1
    height = row_h * len(lines) + 4
    parts = []
    for i, line in enumerate(lines):
        y = i * row_h + 2
        w = bar_w * line.total_seconds / top
        parts.append(
            f'<text x="0" y="{y + 15}">{escape(line.key)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}">'
            f"<title>{escape(line.key)}: {hours(line.total_seconds)}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{hours(line.total_seconds)}</text>'
        )
    return (
        f'<svg role="img" aria-label="{escape(label)}" viewBox="0 0 {label_w + bar_w + 80} {height}" '
        f'data-chart="{escape(label)}" data-bars="{len(lines)}">' + "".join(parts) + "</svg>"
    )


def _table(report: Report, heading: str) -> str:
    body = "".join(
        f'<tr><td>{escape(line.key)}</td><td class="n">{hours(line.total_seconds)}</td>'
        f'<td class="n">{line.sessions}</td></tr>'
        for line in report.lines
    )
    return (
        f'<table><thead><tr><th>{escape(heading)}</th><th class="n">time</th>'
        f'<th class="n">sessions</th></tr></thead><tbody>{body}</tbody></table>'
    )


def page(dashboard: Dashboard, *, title: str = "worktime report") -> str:
    """The whole page as text."""
    f = dashboard.filters
    total = dashboard.per_day.total_seconds
    per_day = (
        _every_day(dashboard.per_day.lines, f.date_from, f.date_to)
        if dashboard.per_day.lines
        else ()
    )
    # The period as dates: the filters where given, else the first and last tracked day.
    first = f.date_from or (per_day[0].key if per_day else None)
    last = f.date_to or (per_day[-1].key if per_day else None)
    span = f"{first} – {last}" if first and last else "no tracked time yet"
    heading = f"{title}, {span}" if first and last else title
    active_rows = "".join(
        f"<tr><td>{escape(str(a.get('login') or ''))}</td><td>{escape(str(a['repo']))}"
        f"#{escape(str(a['pr_number']))}</td><td>{escape(str(a['start_time']))}</td></tr>"
        for a in dashboard.active
    )
    active = (
        "<table><thead><tr><th>user</th><th>PR</th><th>started</th></tr></thead>"
        f"<tbody>{active_rows}</tbody></table>"
        if dashboard.active
        else '<p class="empty">No active sessions.</p>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(heading)}</h1>"
        f'<p class="meta">{escape(span)} · {hours(total)} tracked in '
        f"{dashboard.per_day.sessions} sessions</p>"
        f'<h2 id="per-day">Time per day</h2>{_columns(per_day, "time per day")}'
        f'<h2 id="per-repo">Time per repo</h2>{_rows(dashboard.per_repo.lines, "time per repo")}'
        f"{_table(dashboard.per_repo, 'repo')}"
        f'<h2 id="top-prs">Top PRs</h2>{_rows(dashboard.top_prs.lines, "top PRs")}'
        f'<h2 id="active">Active sessions</h2>{active}'
        "</body></html>\n"
    )
