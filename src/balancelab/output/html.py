"""Self-contained HTML pages: inline CSS, images embedded as base64 PNG, no script, no network.

A report page must open the same way in any browser, on a laptop without network, years later,
and when mailed as a single file: so nothing it shows may live outside the file, except the
links to the run folders it describes (relative, so the sweep folder can be moved as a whole).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Iterable, Optional, Sequence

import pandas as pd

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em auto; max-width: 1500px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.0em; margin-bottom: 0.3em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #f2f2f2; } td.text, th.text { text-align: left; }
td.better { background: #d8f0d8; font-weight: bold; } td.worse { background: #f6d5d5; font-weight: bold; }
td.failed { color: #b00; } p.answer { font-size: 1.15em; background: #f4f8ff; border-left: 4px solid #4a78c2;
padding: 0.6em 0.9em; } details { margin: 1em 0; } summary { cursor: pointer; } .note { color: #555; font-size: 0.9em; } .warning { color: #8a5300; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; } .grid figure { margin: 0; max-width: 48%; }
figcaption { font-size: 0.85em; color: #444; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; font-size: 0.9em; }
dl.facts dt { font-weight: bold; } dl.facts dd { margin: 0; }
"""


def escape(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def image_from_file(path: Path, alt: str, caption: Optional[str] = None) -> str:
    """An <img> carrying the PNG file's bytes; empty text when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return ""
    return figure_tag(png_data_uri(path.read_bytes()), alt, caption)


def image_from_figure(figure, alt: str, caption: Optional[str] = None, dpi: int = 110) -> str:
    """An <img> of a matplotlib figure (closed afterwards)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(figure)
    return figure_tag(png_data_uri(buffer.getvalue()), alt, caption)


def figure_tag(src: str, alt: str, caption: Optional[str]) -> str:
    text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{src}" alt="{escape(alt)}">{text}</figure>'


def table(frame: pd.DataFrame, text_columns: Iterable[str] = (), cell_classes: Optional[dict] = None,
          raw_columns: Sequence[str] = ()) -> str:
    """An HTML table of ``frame``; ``cell_classes`` maps column -> function(value) -> CSS class.

    Values are escaped unless their column is in ``raw_columns`` (cells the caller built as HTML).
    """
    text_columns, cell_classes = set(text_columns), cell_classes or {}
    head = "".join(f'<th class="{"text" if c in text_columns else ""}">{escape(c)}</th>' for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column in frame.columns:
            value = row[column]
            classes = ["text"] if column in text_columns else []
            if column in cell_classes:
                extra = cell_classes[column](value)
                if extra:
                    classes.append(extra)
            shown = "—" if value is None or (isinstance(value, float) and pd.isna(value)) else value
            content = str(shown) if column in raw_columns else escape(shown)
            cells.append(f'<td class="{" ".join(classes)}">{content}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def facts(pairs: Iterable[tuple]) -> str:
    """A definition list of (label, value) pairs, values escaped."""
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in pairs)
    return f'<dl class="facts">{items}</dl>'


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")
