"""The data-use sheet as a PDF, for security teams that file documents rather than links.

Rendered with fpdf2 (pure Python) from the same SecuritySheet as the page and the JSON. fpdf2's
built-in fonts cover Latin-1 only, so DejaVu Sans (free licence, security_docs/fonts/) is embedded
for Cyrillic; fpdf2 subsets it, so the file stays small.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from django.utils import translation
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from security_docs.content import HEADINGS
from security_docs.selectors import SecuritySheet

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVu"
_LINE = 4.6
_METHOD_BLOCK_MM = 48

# fontTools reports every subsetting step at INFO; that is noise in the application log.
logging.getLogger("fontTools").setLevel(logging.WARNING)


class _SheetPDF(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7.5)
        self.set_text_color(100, 116, 139)
        self.cell(0, 5, f"{self.footer_text}  ·  {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)


@functools.lru_cache(maxsize=8)
def sheet_pdf(sheet: SecuritySheet) -> bytes:
    """The PDF bytes; cached per sheet (sheets are immutable), as the page is public."""
    pdf = _SheetPDF(format="A4")
    pdf.footer_text = sheet.title
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_title(sheet.title)
    pdf.set_author("Keepwarm")
    pdf.set_lang(sheet.language)
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()

    pdf.set_font(FONT, "B", 16)
    _paragraph(pdf, sheet.title, height=8)
    pdf.set_font(FONT, size=9.5)
    _paragraph(pdf, sheet.summary)
    _paragraph(pdf, sheet.how_this_is_built)

    labels = _labels(sheet.language)
    _heading(pdf, labels["scopes"])
    _paragraph(pdf, sheet.scopes_intro)
    for scope in sheet.scopes:
        pdf.set_font(FONT, "B", 9.5)
        _paragraph(pdf, scope.name, after=0.5)
        pdf.set_font(FONT, size=9)
        _paragraph(pdf, scope.why, after=0.5)
        _paragraph(pdf, f"{labels['methods_used']}: {', '.join(scope.methods)}")

    _heading(pdf, labels["methods"])
    _paragraph(pdf, sheet.methods_intro)
    for method in sheet.methods:
        if pdf.will_page_break(_METHOD_BLOCK_MM):  # keep a method's block on one page
            pdf.add_page()
        pdf.set_font(FONT, "B", 9.5)
        _paragraph(pdf, f"{method.name}  —  {method.access_label}, {method.scope}", after=0.5)
        pdf.set_font(FONT, size=8.5)
        rows = [
            (labels["fields"], ", ".join(method.fields) or "—"),
            (labels["params"], ", ".join(method.params) or "—"),
            (labels["purpose"], method.purpose),
            (labels["feature"], method.feature_label),
            (labels["classification"], method.classification_label),
            (labels["where"], method.where),
            (labels["kept_for"], method.kept_for),
            (labels["visible_to"], "; ".join(method.visible_to_labels)),
        ]
        rows += [("", note) for note in method.field_notes]
        _key_values(pdf, rows)
    if sheet.not_read_text:
        pdf.set_font(FONT, size=9)
        _paragraph(pdf, sheet.not_read_text)

    _heading(pdf, labels["inventory"])
    _paragraph(pdf, sheet.inventory_intro)
    for entry in sheet.classifications:
        _paragraph(pdf, f"{entry.label}: {entry.meaning}", after=0.8)
    pdf.set_font(FONT, size=8)
    with pdf.table(
        col_widths=(40, 56, 32, 52),
        text_align="LEFT",
        line_height=4,
        headings_style=_bold_heading(),
    ) as table:
        head = table.row()
        for key in ("table", "contents", "classification", "kept_for"):
            head.cell(labels[key])
        for entry in sheet.data_inventory:
            row = table.row()
            row.cell(f"{entry.table}\n({entry.where})")
            row.cell(entry.contents)
            row.cell(entry.classification_label)
            row.cell(entry.kept_for)

    for section in sheet.sections:
        _heading(pdf, section.title)
        for text in section.paragraphs:
            _paragraph(pdf, text)

    _heading(pdf, labels["subprocessors"])
    _paragraph(pdf, sheet.subprocessors_text)
    for item in sheet.subprocessors:
        _paragraph(
            pdf, " — ".join(part for part in (item.name, item.purpose, item.location) if part)
        )

    report = sheet.security_report
    _heading(pdf, labels["report"])
    _paragraph(pdf, report.text)
    if report.checks:
        pdf.set_font(FONT, size=8)
        with pdf.table(
            col_widths=(40, 24, 86, 30),
            text_align="LEFT",
            line_height=4,
            headings_style=_bold_heading(),
        ) as table:
            head = table.row()
            for key in ("check", "status", "summary", "findings"):
                head.cell(labels[key])
            for check in report.checks:
                row = table.row()
                row.cell(check.name)
                row.cell(check.status_label)
                row.cell(check.summary)
                row.cell(f"{check.high} / {check.medium} / {check.low}")
        pdf.ln(1)
        pdf.set_font(FONT, size=8.5)
        _paragraph(
            pdf,
            f"{labels['date']}: {report.generated_at_display}  ·  "
            f"{labels['commit']}: {report.commit}",
        )

    _heading(pdf, labels["contact"])
    _paragraph(pdf, sheet.contact_text)
    return bytes(pdf.output())


def _bold_heading() -> FontFace:
    return FontFace(emphasis="BOLD", fill_color=(241, 245, 249))


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font(FONT, "B", 12.5)
    _paragraph(pdf, text, height=6.5, after=1)
    pdf.set_font(FONT, size=9.5)


def _paragraph(pdf: FPDF, text: str, *, height: float = _LINE, after: float = 1.8) -> None:
    pdf.multi_cell(0, height, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(after)


def _key_values(pdf: FPDF, rows: list[tuple[str, str]]) -> None:
    width = pdf.epw
    for key, value in rows:
        pdf.set_x(pdf.l_margin + 4)
        pdf.set_font(FONT, "B", 8.5)
        pdf.cell(34, _LINE - 0.6, key)
        pdf.set_font(FONT, size=8.5)
        pdf.multi_cell(
            width - 38, _LINE - 0.6, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    pdf.ln(2)


def _labels(language: str) -> dict[str, str]:
    with translation.override(language):
        return {key: str(label) for key, label in HEADINGS.items()}
