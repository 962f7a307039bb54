"""A tiny document model (headings, paragraphs, field lists, tables) rendered to Markdown and to HTML.

Reports build one `Doc` and render it twice, so the Markdown and HTML versions can never say different
things. Every value is plain text; the renderers escape it, because report text comes from crawled
data (domains, titles, user agents) that a hostile site controls.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

Cell = str | int | float | None


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Fields:
    """Label: value pairs, as the template's question/answer lines."""

    items: list[tuple[str, Cell]]


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    empty: str = "none"


Block = Heading | Para | Fields | Bullets | Table


@dataclass
class Doc:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(Heading(level, text))

    def p(self, text: str) -> None:
        self.blocks.append(Para(text))

    def fields(self, *items: tuple[str, Cell]) -> None:
        self.blocks.append(Fields(list(items)))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(Bullets(items))

    def table(self, headers: list[str], rows: list[list[Cell]], empty: str = "none") -> None:
        self.blocks.append(Table(headers, rows, empty))


def fmt(value: Cell) -> str:
    """Numbers with thousands separators (shares as percentages are formatted by the caller)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _label(label: str) -> str:
    """'Question?' stays as it is; any other label gets a colon."""
    return label if label.endswith(("?", ":")) else label + ":"


_MD_INLINE = re.compile(r"([\\`*_\[\]|~])")
_MD_LINE_START = re.compile(r"^(\d+)([.)])(?=\s)|^([#+>-])(?=\s)")


def md_escape(text: str) -> str:
    """Plain text safe inside Markdown: no emphasis, links, code, table breaks or raw HTML; one line."""
    text = " ".join(str(text).split())
    text = html.escape(text, quote=False)  # raw HTML in Markdown would be rendered by most viewers
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", text)


def to_markdown(doc: Doc) -> str:
    out = [f"# {md_escape(doc.title)}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += [f"{'#' * min(block.level + 1, 6)} {md_escape(block.text)}", ""]
        elif isinstance(block, Para):
            out += [md_escape(block.text), ""]
        elif isinstance(block, Fields):
            out += [f"- **{md_escape(_label(label))}** {md_escape(fmt(value))}" for label, value in block.items]
            out.append("")
        elif isinstance(block, Bullets):
            out += [f"- {md_escape(item)}" for item in block.items] or ["- none"]
            out.append("")
        elif isinstance(block, Table):
            if not block.rows:
                out += [f"*{md_escape(block.empty)}*", ""]
                continue
            out.append("| " + " | ".join(md_escape(h) for h in block.headers) + " |")
            out.append("|" + "|".join("---" for _ in block.headers) + "|")
            out += ["| " + " | ".join(md_escape(fmt(c)) for c in row) + " |" for row in block.rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
line-height:1.45;color:#1a1a1a}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.1rem}table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}dt{font-weight:600}dd{margin:0 0 .4rem 1.2rem}
"""


def _e(value: Cell) -> str:
    return html.escape(fmt(value), quote=True)


def to_html(doc: Doc) -> str:
    """A self-contained page: inline CSS, no scripts, no external assets (and a CSP that forbids them)."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(doc.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(doc.title)}</h1>",
    ]
    for block in doc.blocks:
        if isinstance(block, Heading):
            level = min(block.level + 1, 6)
            out.append(f"<h{level}>{_e(block.text)}</h{level}>")
        elif isinstance(block, Para):
            out.append(f"<p>{_e(block.text)}</p>")
        elif isinstance(block, Fields):
            out.append("<dl>" + "".join(f"<dt>{_e(_label(k))}</dt><dd>{_e(v)}</dd>" for k, v in block.items) + "</dl>")
        elif isinstance(block, Bullets):
            items = block.items or ["none"]
            out.append("<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>")
        elif isinstance(block, Table):
            if not block.rows:
                out.append(f"<p><em>{_e(block.empty)}</em></p>")
                continue
            head = "".join(f"<th>{_e(h)}</th>" for h in block.headers)
            body = "".join(
                "<tr>"
                + "".join(
                    f'<td class="n">{_e(c)}</td>' if isinstance(c, int | float) else f"<td>{_e(c)}</td>" for c in row
                )
                + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
