"""``report.html``: one self-contained page (inline CSS, no script, no external asset), every text escaped.

A phase timeline (bars proportional to seconds), the four sections in order (broke in this rehearsal, predicted to
break, already broken, not judged; an empty one says so), the coverage and safety blocks, all checks, findings, notes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from harness.report import facts
from harness.report.model import CheckOutcome, Fleet, Phase, Report

FILENAME = "report.html"

_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--err:#8250df;--skip:#6e7781;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;margin:0 auto;
  max-width:1200px;padding:24px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.meta{color:#57606a;margin:0 0 16px}
.verdict{display:inline-block;padding:2px 10px;border-radius:6px;color:#fff;font-weight:600}
.v-pass{background:var(--ok)}.v-broke{background:var(--bad)}.v-error{background:var(--err)}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.count{border:1px solid var(--line);border-radius:6px;padding:6px 12px;background:var(--bg)}
.count b{font-size:18px;display:block}
.count.hot{border-color:var(--bad)}.count.hot b{color:var(--bad)}
.failure{border-left:4px solid var(--err);background:#fbefff;padding:8px 12px;margin:12px 0;white-space:pre-wrap}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg)}
td.msg{white-space:pre-wrap;word-break:break-word}
.s-ok,.s-pass{color:var(--ok)}.s-broke,.s-fail,.s-failed,.s-blocker{color:var(--bad);font-weight:600}
.s-already-broken,.s-warning{color:var(--warn)}.s-error{color:var(--err);font-weight:600}
.s-skipped,.s-skip,.s-not-run,.s-info,.s-fixed,.s-unverified,.s-not-judged{color:var(--skip)}
.e-predicted{color:var(--warn)}.e-simulated{color:var(--err)}
.sec h2 .n{color:#57606a;font-weight:400}
.coverage dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}
.coverage dt{font-weight:600}.coverage dd{margin:0}
.timeline{margin:8px 0}
.tl-row{display:flex;align-items:center;gap:8px;margin:3px 0}
.tl-name{flex:0 0 200px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.tl-track{flex:1 1 auto;background:var(--bg);border:1px solid var(--line);height:16px;position:relative}
.tl-bar{position:absolute;top:0;bottom:0;min-width:2px}
.tl-sec{flex:0 0 90px;text-align:right;color:#57606a}
.b-ok{background:var(--ok)}.b-failed{background:var(--bad)}.b-error{background:var(--err)}.b-skipped{background:var(--skip)}
.empty{color:#57606a}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _page(page_title: str, body: Iterable[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(page_title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        *body,
        "</body>",
        "</html>",
        "",
    ])


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """A table of already escaped cell HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    attr = f' class="{_e(cls)}"' if cls else ""
    return f"<table{attr}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _td(text: str, *, cls: str = "") -> str:
    attr = f' class="{_e(cls)}"' if cls else ""
    return f"<td{attr}>{_e(text) if text else '—'}</td>"


def _status(word: str) -> str:
    return f'<td class="s-{_e(word)}">{_e(facts.CLASSIFICATION_WORDS.get(word, word))}</td>'


def _run(run: CheckOutcome | None) -> str:
    if run is None:
        return "<td>—</td>"
    return f'<td class="s-{_e(run.outcome)}">{_e(run.outcome)} <small>({run.seconds:.1f} s)</small></td>'


def _count(number: int, label: str, *, hot: bool = False) -> str:
    return f'<div class="count{" hot" if hot and number else ""}"><b>{number}</b>{_e(label)}</div>'


def timeline(phases: Sequence[Phase]) -> str:
    """Horizontal bars, one per phase, placed and sized in proportion to seconds (a Gantt chart without script)."""
    if not phases:
        return '<p class="empty">No phase was recorded.</p>'
    total = sum(max(p.seconds, 0.0) for p in phases) or 1.0
    start = 0.0
    rows = []
    for phase in phases:
        seconds = max(phase.seconds, 0.0)
        left, width = 100.0 * start / total, 100.0 * seconds / total
        start += seconds
        tip = f"{phase.name}: {phase.status}, {seconds:.1f} s" + (f" — {phase.message}" if phase.message else "")
        rows.append(
            f'<div class="tl-row"><span class="tl-name" title="{_e(tip)}">{_e(phase.name)}</span>'
            f'<span class="tl-track"><span class="tl-bar b-{_e(phase.status)}" '
            f'style="left:{left:.2f}%;width:{width:.2f}%" title="{_e(tip)}"></span></span>'
            f'<span class="tl-sec">{_e(facts.duration(seconds))}</span></div>'
        )
    return '<div class="timeline">\n' + "\n".join(rows) + "\n</div>"


def _evidence_td(word: str, text: str) -> str:
    return f'<td class="e-{_e(word)}">{_e(text)}</td>'


def _section(key: str, title: str, rows: Sequence[facts.Row], *, empty: str,
             clusters: Sequence[str] | None = None) -> list[str]:
    """One section: its heading with the number of rows, then a table (object, cause, fix, evidence, hop) or the
    sentence an empty section says."""
    head = [f'<section class="sec" id="sec-{_e(key)}">', f'<h2>{_e(title)} <span class="n">({len(rows)})</span></h2>']
    if not rows:
        return [*head, f'<p class="empty">{_e(empty)}</p>', "</section>"]
    with_hop = any(r.hop for r in rows)
    header = ["Object", "Cause", "Fix", "Evidence", *(["Hop"] if with_hop else [])]
    cells = [[_td(r.object), _td(r.cause, cls="msg"), _td(r.fix, cls="msg"),
              _evidence_td(r.evidence, facts.evidence_text(r)), *([_td(r.hop or "")] if with_hop else [])]
             for r in rows]
    if clusters is not None:
        header = ["Cluster", *header]
        cells = [[_td(c), *row] for c, row in zip(clusters, cells, strict=True)]
    return [*head, _table(header, cells), "</section>"]


def coverage(report: Report) -> list[str]:
    """The coverage block: objects recreated, Helm releases, checks by evidence, simulated parts, and the objects
    not recreated with their reasons."""
    items = "".join(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>" for label, text in facts.coverage_items(report))
    out = ['<section class="coverage" id="coverage">', "<h2>Coverage</h2>", f"<dl>{items}</dl>"]
    missing = report.coverage.not_recreated if report.coverage is not None else []
    if missing:
        out += ["<h3>Not recreated</h3>", _table(["Object", "Reason"], (
            [_td(facts.object_text(n.object)), _td(n.reason, cls="msg")] for n in missing))]
    return [*out, "</section>"]


def safety(report: Report) -> list[str]:
    """The safety block: production endpoints not called (each with its field, host and reason), egress opened."""
    items = facts.safety_items(report)
    if not items:
        return []
    dl = "".join(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>" for label, text in items)
    out = ['<section class="coverage" id="safety">', "<h2>Safety</h2>", f"<dl>{dl}</dl>"]
    neutralised = report.safety.neutralised if report.safety is not None else []
    if neutralised:
        out.append(_table(["Object", "Field", "Host", "Reason"], (
            [_td(facts.object_text(n.object)), _td(n.field), _td(n.host), _td(n.reason, cls="msg")]
            for n in neutralised)))
    return [*out, "</section>"]


def render(report: Report) -> str:
    """The text of ``report.html`` for one report."""
    checks = facts.check_counts(report)
    findings = facts.finding_counts(report)
    meta = [f"provider {report.provider}", f"took {facts.duration(report.seconds)}"]
    if report.scenario:
        meta.insert(0, f"scenario {report.scenario}")
    if report.started:
        meta.append(f"started {report.started}")
    downtime = "not measured" if report.api_downtime_seconds is None else facts.duration(report.api_downtime_seconds)
    body = [
        f'<h1><span class="verdict v-{_e(report.verdict)}">{_e(facts.verdict_word(report.verdict))}</span> '
        f"{_e(facts.upgrade_path(report))}{' — ' + _e(report.name) if report.name else ''}</h1>",
        f'<p class="meta">{_e(" · ".join(meta))}</p>',
        '<div class="counts">',
        *(_count(checks[k], f"checks {facts.CLASSIFICATION_WORDS[k]}", hot=k == "broke")
          for k in facts.CLASSIFICATIONS),
        *(_count(findings[s], f"{s} findings", hot=s == "blocker") for s in facts.SEVERITIES),
        f'<div class="count"><b>{_e(downtime)}</b>API downtime</div>',
        "</div>",
    ]
    if report.error:
        body.append(f'<div class="failure"><b>Infrastructure failure:</b> {_e(report.error)}</div>')
    body.append(f'<p class="meta" id="coverage-line">Coverage: {_e(facts.coverage_line(report))}</p>')
    body += ["<h2>Timeline</h2>", timeline(report.phases)]
    for section in facts.sections(report):
        body += _section(section.key, section.title, section.rows, empty=section.empty)
    body += coverage(report)
    body += safety(report)
    body.append(f"<h2>Checks ({len(report.checks)})</h2>")
    if report.checks:
        body.append(_table(["Check", "Id", "Before", "After", "Result", "Evidence", "Message"], (
            [_td(c.name), _td(c.id), _run(c.before), _run(c.after), _status(c.classification),
             _evidence_td(c.evidence, facts.check_evidence(c)),
             _td(c.message or (c.after.message if c.after else ""), cls="msg")] for c in report.checks)))
    else:
        body.append('<p class="empty">No check ran.</p>')
    body.append(f"<h2>Findings ({len(report.findings)})</h2>")
    if report.findings:
        body.append(_table(["Severity", "Kind", "Object", "Hop", "Check", "Cause", "Fix", "Evidence"], (
            [f'<td class="s-{_e(f.severity)}">{_e(f.severity)}</td>', _td(f.kind), _td(facts.object_text(f.object)),
             _td(f.hop or ""), _td(f.check or ""), _td(f.cause, cls="msg"), _td(f.fix, cls="msg"),
             _evidence_td(f.evidence, facts.finding_evidence(f))] for f in report.findings)))
    else:
        body.append('<p class="empty">No findings.</p>')
    if report.phases:
        body.append("<h2>Phases</h2>")
        body.append(_table(["Phase", "Status", "Seconds", "Message"], (
            [_td(p.name), f'<td class="s-{_e(p.status)}">{_e(p.status)}</td>', _td(f"{p.seconds:.1f}"),
             _td(p.message, cls="msg")] for p in report.phases)))
    if report.notes or report.versions_used:
        body.append("<h2>Notes</h2>")
        items = [f"<li>{_e(n)}</li>" for n in report.notes]
        items += [f"<li>{_e(k)}: {_e(v)}</li>" for k, v in report.versions_used.items()]
        body.append("<ul>" + "".join(items) + "</ul>")
    return _page(f"rehearse: {facts.title(report)}", body)


def render_fleet(fleet: Fleet) -> str:
    """The text of a fleet's ``report.html``: the cluster table, then what broke where."""
    counts = facts.verdict_counts(fleet)
    rows = facts.fleet_rows(fleet)
    body = [
        f'<h1><span class="verdict v-{_e(fleet.verdict)}">{_e(facts.verdict_word(fleet.verdict))}</span> '
        f"fleet of {len(rows)} clusters</h1>",
        '<div class="counts">',
        _count(counts["pass"], "passed"), _count(counts["broke"], "broke", hot=True), _count(counts["error"], "error"),
        "</div>",
        "<h2>Clusters</h2>",
        _table(["Cluster", "Upgrade", "Verdict", "Broke", "Findings", "Note"], (
            [_td(r.cluster), _td(r.upgrade), f'<td class="s-{_e(r.verdict)}">{_e(facts.verdict_word(r.verdict))}</td>',
             _td("" if r.broke is None else str(r.broke)), _td("" if r.findings is None else str(r.findings)),
             _td(r.note, cls="msg")] for r in rows)),
    ]
    broke, where = facts.fleet_broke_rows(fleet)
    body += _section("broke", facts.SECTION_TITLES["broke"], broke, clusters=where,
                     empty="Nothing broke in any cluster.")
    for member in fleet.members:
        if member.report is not None and member.report.phases:
            body += [f"<h2>Timeline: {_e(member.name)}</h2>", timeline(member.report.phases)]
    if fleet.notes:
        body += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in fleet.notes) + "</ul>"]
    return _page(f"rehearse fleet: {facts.verdict_word(fleet.verdict)}", body)
