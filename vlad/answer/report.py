"""The report of a batch run: one self-contained HTML page (and optionally Markdown).

:func:`write_report` reads only the result records it is given (the ``results/<id>.json``
records of a batch folder) and the picture files they name under that folder. The HTML page
needs nothing else: its CSS and JavaScript are inline, each video's timeline is an inline SVG
drawn from ``record["timeline"]``, and keyframes and heat-map overlays are embedded as
``data:`` URIs while they are small (a page that can be mailed or moved on its own), or
linked relatively to ``results/<id>/...`` when they are not (a batch of thousands of inputs
must not become a page of gigabytes; the links keep working when the folder moves whole).
Nothing is fetched from the network, and every text that came from a user (file names,
definitions, model text) is escaped.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vlad.errors import ConfigError
from vlad.utils.clock import clock, span
from vlad.utils.io import atomic_write_text

__all__ = [
    "EMBED_BUDGET_BYTES",
    "EMBED_LIMIT_BYTES",
    "REPORT_FORMATS",
    "report_order",
    "timeline_svg",
    "write_report",
]

REPORT_FORMATS = ("html", "md")
"""The report formats :func:`write_report` writes (``report.html``, ``report.md``)."""

EMBED_LIMIT_BYTES = 512 * 1024
"""Pictures up to this size are embedded in the HTML page as ``data:`` URIs."""

EMBED_BUDGET_BYTES = 32 * 1024 * 1024
"""Once this many bytes of pictures are embedded, the others are linked relatively."""

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
_VERDICT_RANK = {"anomalous": 0, "normal": 1, "failed": 2}
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#d62728",
)


def write_report(
    out_dir: str | os.PathLike[str],
    records: Iterable[Mapping[str, Any]],
    *,
    formats: Sequence[str] = ("html",),
    embed_limit_bytes: int = EMBED_LIMIT_BYTES,
    embed_budget_bytes: int = EMBED_BUDGET_BYTES,
) -> list[Path]:
    """Write ``report.html`` (and ``report.md``) of a batch folder from its result records.

    The summary table lists every input, failed ones included (with their one-sentence
    error), most anomalous first; in the HTML page it sorts by score or verdict when a
    header is clicked, and a click on a row opens that input's details: its timeline (fused
    and per-definition scores, the threshold, the anomalous intervals shaded, time in m:ss),
    its keyframes and heat-map overlays, the evidence, the text and the notes. Both files
    are written atomically.

    Args:
        out_dir: The batch folder; picture paths in the records are relative to it, and the
            reports are written into it.
        records: Result records (``Explanation.to_record()`` plus ``id``, ``timeline`` and
            ``artifacts``; or a failed input's ``{id, input, status, error}``).
        formats: Any of ``"html"`` and ``"md"``.
        embed_limit_bytes: Pictures up to this size are embedded in the HTML page; larger
            ones are linked relatively.
        embed_budget_bytes: Total size of the embedded pictures, beyond which the others are
            linked.

    Returns:
        The files written, in the order of ``formats``.

    Raises:
        ConfigError: When a format is not one of :data:`REPORT_FORMATS`, or none is given.
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in REPORT_FORMATS]
    if unknown or not wanted:
        raise ConfigError(
            f"formats must be among {', '.join(REPORT_FORMATS)}, got "
            f"{', '.join(map(repr, unknown)) or 'none'}; choose html and/or md.",
            param="formats",
        )
    folder = Path(out_dir)
    ordered = report_order(records)
    written: list[Path] = []
    for fmt in wanted:
        if fmt == "html":
            embedder = _Embedder(folder, embed_limit_bytes, embed_budget_bytes)
            page = _html_page(folder, ordered, embedder)
            written.append(atomic_write_text(folder / "report.html", page))
        else:
            written.append(atomic_write_text(folder / "report.md", _markdown(folder, ordered)))
    return written


def report_order(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records in the report's order: analysed inputs by score (highest first), then failed.

    Ties keep the records' own order (a stable sort), so equal scores list as they came.

    Args:
        records: Result records.

    Returns:
        A new list.
    """
    items = list(records)
    return sorted(items, key=lambda r: (_failed(r), -_score(r) if not _failed(r) else 0.0))


def timeline_svg(
    timeline: Mapping[str, Any],
    *,
    threshold: float | None = None,
    low_threshold: float | None = None,
    events: Sequence[Mapping[str, Any]] = (),
    duration_s: float | None = None,
    width: int = 760,
    height: int = 220,
) -> str:
    """An inline SVG of a video's score timeline.

    Draws the fused track (black, thick) and one line per definition (colours as in the
    legend under it), the threshold as a dashed red line (the low threshold dotted), and
    each anomalous event as a shaded band labelled with its evidence id. The time axis reads
    m:ss; scores are drawn on [0, 1].

    Args:
        timeline: ``{"times": [...], "fused": [...], "tracks": {definition: [...]}}``.
        threshold: Score that opens an interval.
        low_threshold: Score that keeps an interval open.
        events: Records with ``start_s``, ``end_s`` and optionally ``id`` (evidence or
            intervals).
        duration_s: Length of the video (the axis ends there; default the last time).
        width: SVG width in pixels.
        height: SVG height in pixels.

    Returns:
        The ``<svg>`` element followed by its legend (a ``<ul>``), as HTML text.

    Raises:
        ValueError: When the times are missing, or a track's length is not the times'.
    """
    times = [float(t) for t in timeline.get("times") or []]
    if not times:
        raise ValueError("the timeline has no times")
    lines: list[tuple[str, str, list[Any]]] = [
        ("fused score", "#111111", timeline.get("fused") or [])
    ]
    tracks = timeline.get("tracks") or {}
    for k, (definition, values) in enumerate(tracks.items()):
        lines.append((str(definition), _PALETTE[k % len(_PALETTE)], list(values or [])))
    for name, _, values in lines:
        if len(values) != len(times):
            raise ValueError(f"track {name!r} has {len(values)} values for {len(times)} times")

    left, right, top, bottom = 44, 12, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    end = max(float(duration_s or 0.0), times[-1], 1e-6)

    def x(t: float) -> float:
        return left + plot_w * min(max(t, 0.0), end) / end

    def y(v: float) -> float:
        return top + plot_h * (1.0 - min(max(v, 0.0), 1.0))

    parts = [
        f'<svg class="timeline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="score timeline">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="plot"/>',
    ]
    for event in events:
        start, stop = float(event.get("start_s", 0.0)), float(event.get("end_s", 0.0))
        x0, x1 = x(start), x(stop)
        label = _esc(str(event.get("id") or ""))
        parts.append(
            f'<rect class="event" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1.0):.1f}" '
            f'height="{plot_h}"><title>{label} {_esc(span(start, stop))}</title></rect>'
        )
        if label:
            parts.append(
                f'<text class="event-label" x="{x0 + 2:.1f}" y="{top + 11}">{label}</text>'
            )
    for value in (0.0, 0.5, 1.0):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}"/><text class="tick" x="{left - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{value:.1f}</text>'
        )
    step = _tick_step(end)
    tick = 0.0
    while tick <= end + 1e-9:
        parts.append(
            f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" '
            f'y2="{top + plot_h}"/><text class="tick" x="{x(tick):.1f}" '
            f'y="{top + plot_h + 16}" text-anchor="middle">{clock(tick)}</text>'
        )
        tick += step
    for value, css, name in (
        (low_threshold, "low-threshold", "low threshold"),
        (threshold, "threshold", "threshold"),
    ):
        if value is None or not math.isfinite(float(value)):
            continue
        parts.append(
            f'<line class="{css}" x1="{left}" x2="{left + plot_w}" y1="{y(float(value)):.1f}" '
            f'y2="{y(float(value)):.1f}"><title>{name} {float(value):.2f}</title></line>'
        )
    # Drawn last-to-first so that the fused line lies on top.
    for index, (name, colour, values) in reversed(list(enumerate(lines))):
        css = "track" if index else "fused"
        for run in _finite_runs(times, values):
            points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            parts.append(
                f'<polyline class="{css}" stroke="{colour}" points="{points}">'
                f"<title>{_esc(name)}</title></polyline>"
            )
    parts.append("</svg>")
    legend = ['<ul class="legend">']
    for name, colour, _ in lines:
        legend.append(
            f'<li><span class="swatch" style="background:{colour}"></span>{_esc(name)}</li>'
        )
    if threshold is not None:
        legend.append(
            f'<li><span class="swatch dashed"></span>threshold {float(threshold):.2f}</li>'
        )
    if events:
        legend.append('<li><span class="swatch band"></span>anomalous interval</li>')
    legend.append("</ul>")
    return "".join(parts) + "".join(legend)


# --- HTML ---------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1b1b1b;
background:#fafafa;line-height:1.4}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
.counts{color:#444;margin:0 0 1rem}
table{border-collapse:collapse;background:#fff}
th,td{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:left;vertical-align:top}
#summary tbody tr{cursor:pointer}#summary tbody tr:hover{background:#eef4ff}
#summary tbody tr.selected{background:#dde9ff}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{font-weight:600;padding:0 .35rem;border-radius:3px}
.verdict.anomalous{background:#fde2e1;color:#a40000}.verdict.normal{background:#e1f5e4;color:#11602a}
.verdict.failed{background:#eee;color:#555}
details.input{background:#fff;border:1px solid #ddd;border-radius:4px;margin:.6rem 0;
padding:.4rem .8rem}
details.input>summary{cursor:pointer;font-weight:600}
.meta{color:#444}.error{color:#a40000}.text{white-space:pre-wrap}
svg.timeline{display:block;margin:.6rem 0 .2rem;max-width:100%;height:auto}
svg .plot{fill:#fff;stroke:#999}svg .grid{stroke:#e6e6e6}svg .tick{font-size:11px;fill:#444}
svg .event{fill:#ff8c00;fill-opacity:.2}svg .event-label{font-size:11px;fill:#8a4b00}
svg .threshold{stroke:#d00;stroke-dasharray:6 4}svg .low-threshold{stroke:#d88;stroke-dasharray:2 3}
svg polyline{fill:none}svg .fused{stroke-width:2.2}svg .track{stroke-width:1.2;stroke-opacity:.85}
ul.legend{list-style:none;padding:0;margin:0 0 .6rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;
font-size:.85rem}
.swatch{display:inline-block;width:1.2rem;height:.25rem;margin-right:.3rem;vertical-align:middle}
.swatch.dashed{border-top:2px dashed #d00;height:0}
.swatch.band{background:#ff8c00;opacity:.3;height:.8rem}
.frames{display:flex;flex-wrap:wrap;gap:.8rem}
figure{margin:0}figure img{max-width:320px;max-height:240px;border:1px solid #ccc;display:block}
figcaption{font-size:.85rem;color:#444}
.missing{font-size:.85rem;color:#a40000}
"""

_JS = """
(function () {
  var table = document.getElementById("summary");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rank = {anomalous: 0, normal: 1, failed: 2};
  function score(row) {
    var s = parseFloat(row.getAttribute("data-score"));
    return isNaN(s) ? -Infinity : s;
  }
  function failed(row) { return row.getAttribute("data-verdict") === "failed" ? 1 : 0; }
  function order(row) { return parseInt(row.getAttribute("data-order"), 10); }
  var compare = {
    score: function (a, b) { return score(a) - score(b) || order(b) - order(a); },
    verdict: function (a, b) {
      var r = (rank[a.getAttribute("data-verdict")] || 0) -
        (rank[b.getAttribute("data-verdict")] || 0);
      return r || score(b) - score(a) || order(a) - order(b);
    },
    order: function (a, b) { return order(a) - order(b); }
  };
  var headers = table.querySelectorAll("th[data-sort]");
  Array.prototype.forEach.call(headers, function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var key = th.getAttribute("data-sort");
      var current = th.getAttribute("aria-sort");
      var first = key === "score" ? "descending" : "ascending";
      var next = current === first ? (first === "ascending" ? "descending" : "ascending") : first;
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", next);
      var sign = next === "ascending" ? 1 : -1;
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        // Failed inputs have no score: they stay below the analysed ones either way.
        if (key === "score" && failed(a) !== failed(b)) { return failed(a) - failed(b); }
        return sign * compare[key](a, b);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  function open(id, scroll) {
    var detail = document.getElementById(id);
    if (!detail) { return; }
    detail.open = true;
    Array.prototype.forEach.call(body.rows, function (row) {
      row.classList.toggle("selected", row.getAttribute("data-target") === id);
    });
    if (scroll) { detail.scrollIntoView({block: "start"}); }
  }
  Array.prototype.forEach.call(body.rows, function (row) {
    row.addEventListener("click", function (event) {
      event.preventDefault();
      var id = row.getAttribute("data-target");
      open(id, true);
      if (history.replaceState) { history.replaceState(null, "", "#" + id); }
    });
    row.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { open(row.getAttribute("data-target"), true); }
    });
  });
  if (location.hash.length > 1) { open(decodeURIComponent(location.hash.slice(1)), true); }
})();
"""


class _Embedder:
    """Turns a picture path of a record into an ``src``: a data URI, or a relative link."""

    def __init__(self, folder: Path, limit: int, budget: int) -> None:
        self.folder = folder
        self.root = folder.resolve()
        self.limit = limit
        self.budget = budget
        self.used = 0

    def source(self, relative: str) -> str | None:
        """The ``src`` for a picture, or None when it is missing or outside the folder."""
        path = _inside(self.root, relative)
        if path is None or not path.is_file():
            return None
        size = path.stat().st_size
        mime = _MIME.get(path.suffix.lower())
        if mime and size <= self.limit and self.used + size <= self.budget:
            self.used += size
            return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        return _href(path.relative_to(self.root).as_posix())


def _html_page(folder: Path, records: list[Mapping[str, Any]], embedder: _Embedder) -> str:
    counts = _counts(records)
    rows, details, failures = [], [], []
    for order, record in enumerate(records, start=1):
        target = f"input-{order}"
        rows.append(_summary_row(folder, record, order, target))
        details.append(_detail(folder, record, target, embedder))
        if _failed(record):
            failures.append(
                f"<li><b>{_esc(_name(record))}</b> ({_esc(str(record.get('input', '')))}): "
                f'<span class="error">{_esc(str(record.get("error") or "failed"))}</span></li>'
            )
    failed_block = (
        f'<h2>Failed inputs</h2><ul id="failed">{"".join(failures)}</ul>' if failures else ""
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>vlad report: {_esc(folder.name)}</title><style>{_CSS}</style></head><body>"
        f"<h1>vlad report: {_esc(folder.name)}</h1>"
        f'<p class="counts">{_esc(counts)}</p>'
        '<table id="summary"><thead><tr>'
        '<th data-sort="order"><button type="button">#</button></th>'
        "<th>Input</th>"
        '<th data-sort="verdict"><button type="button">Verdict</button></th>'
        '<th data-sort="score" aria-sort="descending"><button type="button">Score</button></th>'
        "<th>Events</th><th>Length</th><th>Seconds</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"{failed_block}<h2>Inputs</h2>{''.join(details)}"
        f"<script>{_JS}</script></body></html>\n"
    )


def _summary_row(folder: Path, record: Mapping[str, Any], order: int, target: str) -> str:
    verdict = _verdict(record)
    failed = _failed(record)
    score = "" if failed else f"{_score(record):.3f}"
    events = "" if failed else str(len(_events(record)))
    length = ""
    if not failed and record.get("kind") == "video":
        length = clock(float(record.get("duration_s") or 0.0))
    elif not failed:
        length = "image"
    seconds = record.get("seconds")
    seconds_text = f"{float(seconds):.1f}" if isinstance(seconds, int | float) else ""
    return (
        f'<tr data-order="{order}" data-score="{score}" data-verdict="{_esc(verdict)}" '
        f'data-target="{target}" tabindex="0">'
        f'<td class="num">{order}</td>'
        f'<td><a class="open" href="#{target}">{_esc(_name(record))}</a></td>'
        f'<td><span class="verdict {_esc(verdict)}">{_esc(verdict)}</span></td>'
        f'<td class="num">{score}</td><td class="num">{events}</td>'
        f'<td class="num">{_esc(length)}</td><td class="num">{seconds_text}</td></tr>'
    )


def _detail(folder: Path, record: Mapping[str, Any], target: str, embedder: _Embedder) -> str:
    verdict = _verdict(record)
    input_text = str(record.get("input", ""))
    href = _input_href(folder, input_text)
    linked = (
        f'<a class="input-link" href="{_esc(href)}">{_esc(input_text)}</a>'
        if href
        else _esc(input_text)
    )
    head = (
        f'<details class="input" id="{target}" data-verdict="{_esc(verdict)}">'
        f'<summary><span class="verdict {_esc(verdict)}">{_esc(verdict)}</span> '
        f"{_esc(_name(record))}"
        + ("" if _failed(record) else f" &middot; score {_score(record):.3f}")
        + "</summary>"
    )
    parts = [head, f'<p class="meta">Input: {linked}']
    if record.get("id") is not None:
        parts.append(f" &middot; id {_esc(str(record['id']))}")
    if _failed(record):
        parts.append(f'</p><p class="error">{_esc(str(record.get("error") or "failed"))}</p>')
        parts.append("</details>")
        return "".join(parts)
    kind = str(record.get("kind") or "")
    threshold = record.get("threshold")
    if kind == "video":
        parts.append(f" &middot; video, {_esc(clock(float(record.get('duration_s') or 0.0)))}")
    elif kind:
        parts.append(f" &middot; {_esc(kind)}")
    if isinstance(threshold, int | float):
        parts.append(f" &middot; threshold {float(threshold):.2f}")
    definitions = [str(d) for d in record.get("definitions") or []]
    parts.append("</p>")
    if definitions:
        parts.append(
            '<p class="meta">Definitions: '
            + "; ".join(f"&ldquo;{_esc(d)}&rdquo;" for d in definitions)
            + "</p>"
        )
    timeline = record.get("timeline")
    if kind == "video" and isinstance(timeline, Mapping):
        try:
            parts.append(
                timeline_svg(
                    timeline,
                    threshold=threshold if isinstance(threshold, int | float) else None,
                    low_threshold=_number(record.get("low_threshold")),
                    events=_events(record),
                    duration_s=_number(record.get("duration_s")),
                )
            )
        except (ValueError, TypeError) as error:
            parts.append(
                f'<p class="missing">The timeline could not be drawn: {_esc(str(error))}.</p>'
            )
    elif kind == "video":
        parts.append('<p class="missing">No timeline in this record.</p>')
    text = str(record.get("text") or "")
    if text:
        source = record.get("text_source")
        by = " (language model, checked)" if source == "llm" else ""
        parts.append(f'<h3>Text{by}</h3><p class="text">{_esc(text)}</p>')
    parts.append(_evidence_html(record))
    parts.append(_frames_html(record, embedder))
    notes = [str(n) for n in record.get("notes") or []]
    if record.get("stopped_early"):
        notes.append(f"Decoding stopped early: {record['stopped_early']}")
    if notes:
        parts.append('<h3>Notes</h3><ul class="notes">')
        parts.extend(f"<li>{_esc(n)}</li>" for n in notes)
        parts.append("</ul>")
    parts.append("</details>")
    return "".join(parts)


def _evidence_html(record: Mapping[str, Any]) -> str:
    evidence = list(record.get("evidence") or [])
    if not evidence:
        return ""
    image = record.get("kind") == "image"
    rows = []
    for item in evidence:
        where = (
            "" if image else span(float(item.get("start_s", 0.0)), float(item.get("end_s", 0.0)))
        )
        what = "<br>".join(_esc(_describe(i)) for i in item.get("items") or [])
        when_cell = "" if image else f"<td>{_esc(where)}</td>"
        rows.append(
            f"<tr><td>{_esc(str(item.get('id', '')))}</td>{when_cell}"
            f'<td class="num">{float(item.get("peak_score", 0.0)):.3f}</td><td>{what}</td></tr>'
        )
    when = "" if image else "<th>When</th>"
    return (
        f'<h3>Evidence</h3><table class="evidence"><thead><tr><th>Id</th>{when}'
        f"<th>Peak</th><th>What fired</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _frames_html(record: Mapping[str, Any], embedder: _Embedder) -> str:
    artifacts = [a for a in record.get("artifacts") or [] if isinstance(a, Mapping)]
    if not artifacts:
        return ""
    image = record.get("kind") == "image"
    figures = []
    for artifact in artifacts:
        kind = str(artifact.get("kind") or "picture")
        path = str(artifact.get("path") or "")
        caption = _artifact_caption(artifact, image=image)
        source = embedder.source(path)
        if source is None:
            figures.append(
                f'<figure class="{_esc(kind)}"><p class="missing">missing: {_esc(path)}</p>'
                f"<figcaption>{_esc(caption)}</figcaption></figure>"
            )
            continue
        figures.append(
            f'<figure class="{_esc(kind)}"><img src="{_esc(source)}" alt="{_esc(caption)}" '
            f'loading="lazy"><figcaption>{_esc(caption)}</figcaption></figure>'
        )
    return f'<h3>Keyframes and heat maps</h3><div class="frames">{"".join(figures)}</div>'


# --- Markdown -----------------------------------------------------------------------------


def _markdown(folder: Path, records: list[Mapping[str, Any]]) -> str:
    lines = [f"# vlad report: {_md(folder.name)}", "", _md(_counts(records)), ""]
    lines += ["| # | Input | Verdict | Score | Events | Length |", "|---:|---|---|---:|---:|---|"]
    for order, record in enumerate(records, start=1):
        failed = _failed(record)
        score = "" if failed else f"{_score(record):.3f}"
        events = "" if failed else str(len(_events(record)))
        length = ""
        if not failed:
            kind = record.get("kind")
            length = clock(float(record.get("duration_s") or 0.0)) if kind == "video" else "image"
        cells = [str(order), _md(_name(record)), _verdict(record), score, events, length]
        lines.append("| " + " | ".join(cells) + " |")
    failures = [r for r in records if _failed(r)]
    if failures:
        lines += ["", "## Failed inputs", ""]
        lines += [
            f"- {_md(str(r.get('input', '')))}: {_md(str(r.get('error') or 'failed'))}"
            for r in failures
        ]
    for order, record in enumerate(records, start=1):
        if _failed(record):
            continue
        lines += ["", f"## {order}. {_md(_name(record))}", ""]
        input_text = str(record.get("input", ""))
        href = _input_href(folder, input_text)
        shown = f"[{_md(input_text)}](<{href}>)" if href else _md(input_text)
        lines.append(f"- Input: {shown}")
        threshold = _number(record.get("threshold"))
        verdict = f"- Verdict: **{_verdict(record)}**, score {_score(record):.3f}"
        lines.append(verdict + (f" (threshold {threshold:.2f})" if threshold is not None else ""))
        if record.get("kind") == "video":
            lines.append(f"- Length: {clock(float(record.get('duration_s') or 0.0))}")
        image = record.get("kind") == "image"
        for item in record.get("evidence") or []:
            where = (
                ""
                if image
                else " " + span(float(item.get("start_s", 0.0)), float(item.get("end_s", 0.0)))
            )
            fired = "; ".join(_describe(i) for i in item.get("items") or [])
            peak = float(item.get("peak_score", 0.0))
            line = f"- {_md(str(item.get('id', '')))}{where}, peak {peak:.3f}"
            lines.append(line + (f": {_md(fired)}" if fired else ""))
        text = str(record.get("text") or "")
        if text:
            lines += ["", _md(text)]
        notes = [str(n) for n in record.get("notes") or []]
        if notes:
            lines += ["", "Notes:", ""] + [f"- {_md(n)}" for n in notes]
        artifacts = [a for a in record.get("artifacts") or [] if isinstance(a, Mapping)]
        root = folder.resolve()
        pictures = []
        for artifact in artifacts:
            path = str(artifact.get("path") or "")
            if _inside(root, path) is None:
                continue
            caption = _artifact_caption(artifact, image=image)
            pictures.append(f"![{_md(caption)}](<{_href(path)}>)")
        if pictures:
            lines += ["", " ".join(pictures)]
    return "\n".join(lines) + "\n"


# --- helpers ------------------------------------------------------------------------------


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


_MD_SPECIAL = str.maketrans(
    {c: "\\" + c for c in "\\`*_{}[]()#+!|~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def _md(text: str) -> str:
    """Markdown-safe text: one line, punctuation escaped, no raw HTML."""
    return " ".join(text.split()).translate(_MD_SPECIAL)


def _href(relative: str) -> str:
    return quote(relative, safe="/")


def _inside(root: Path, relative: str) -> Path | None:
    """The file a record's relative path names, if it lies inside the batch folder."""
    if not relative or Path(relative).is_absolute() or "://" in relative:
        return None
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None


def _input_href(folder: Path, input_text: str) -> str | None:
    """A link from the report to the input, which opens it when the page is read via file://.

    An input given by a relative path is linked relatively (the folder and the inputs can
    move together); one given by an absolute path gets its absolute ``file://`` URI (the
    report folder can be copied elsewhere on the machine). Streams and URLs are not linked.
    """
    if not input_text or "://" in input_text:
        return None  # a stream or URL: shown, never linked (the page fetches nothing)
    path = Path(input_text)
    if path.is_absolute():
        return path.as_uri()
    try:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    except ValueError:  # another drive (Windows): an absolute file:// URI
        return Path(os.path.abspath(path)).as_uri()
    return _href(Path(relative).as_posix())


def _name(record: Mapping[str, Any]) -> str:
    input_text = str(record.get("input") or record.get("id") or "?")
    name = Path(input_text).name or input_text
    return name


def _failed(record: Mapping[str, Any]) -> bool:
    return record.get("status") == "failed" or record.get("verdict") == "failed"


def _verdict(record: Mapping[str, Any]) -> str:
    if _failed(record):
        return "failed"
    return str(record.get("verdict") or record.get("label") or "unknown")


def _score(record: Mapping[str, Any]) -> float:
    value = _number(record.get("score"))
    return value if value is not None else 0.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _events(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The merged events (evidence); the record's intervals when it has no evidence."""
    evidence = [e for e in record.get("evidence") or [] if isinstance(e, Mapping)]
    if evidence:
        return evidence
    return [i for i in record.get("intervals") or [] if isinstance(i, Mapping)]


def _counts(records: list[Mapping[str, Any]]) -> str:
    verdicts = [_verdict(r) for r in records]
    noun = "input" if len(records) == 1 else "inputs"
    return (
        f"{len(records)} {noun}: {verdicts.count('anomalous')} anomalous, "
        f"{verdicts.count('normal')} normal, {verdicts.count('failed')} failed."
    )


def _describe(item: Mapping[str, Any]) -> str:
    kind = item.get("kind")
    text = str(item.get("text", ""))
    score = float(item.get("score", 0.0))
    if kind == "memory":
        return f'memory neighbour "{text}" ({item.get("label")}, similarity {score:.2f})'
    if kind == "rule":
        return f'rule {item.get("ref")} "{text}" scored {score:.2f}'
    if kind == "image":
        return f"{text} {score:.2f}"
    return f'definition "{text}" scored {score:.2f}'


def _artifact_caption(artifact: Mapping[str, Any], *, image: bool) -> str:
    kind = {"keyframe": "keyframe", "overlay": "heat map"}.get(str(artifact.get("kind")), "picture")
    evidence = artifact.get("evidence_id")
    when = artifact.get("time_s")
    where = "" if image or not isinstance(when, int | float) else f" at {clock(float(when))}"
    return f"{evidence + ' ' if evidence else ''}{kind}{where}"


def _tick_step(end: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if end / step <= 10:
            return float(step)
    return float(math.ceil(end / 10 / 3600) * 3600)


def _finite_runs(times: list[float], values: list[Any]) -> list[list[tuple[float, float]]]:
    """Split a track at missing values (null, NaN) into runs of drawable points."""
    runs: list[list[tuple[float, float]]] = [[]]
    for t, v in zip(times, values, strict=True):
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v)):
            runs[-1].append((t, float(v)))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]
