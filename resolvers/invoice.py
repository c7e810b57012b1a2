"""Monthly commission invoices: one PDF per provider with completed interventions.

Numbers run without gaps per marketplace: a counter row is locked while an invoice is numbered,
and the number, the document and the counter commit together or not at all. An invoice exists
at most once per membership and month, so the job can run any number of times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from fpdf import FPDF

from models.document import CommissionInvoice, Document, DocumentKind, InvoiceCounter
from models.intervention import Intervention, InterventionStatus
from models.marketplace import Marketplace
from models.membership import Membership
from presta import clock, storage
from presta.tx import atomic
from resolvers.document_upload import document_fields
from resolvers.events import record_event, staff_audience

log = logging.getLogger(__name__)
CENT = Decimal("0.01")
INVOICE_FILED = "invoice.filed"


@dataclass(frozen=True, slots=True)
class Line:
    day: date
    service: str
    price: Decimal
    rate: Decimal
    commission: Decimal


def previous_month(today: date) -> tuple[int, int]:
    return (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)


def _bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = (
        datetime(year + 1, 1, 1, tzinfo=UTC)
        if month == 12
        else datetime(year, month + 1, 1, tzinfo=UTC)
    )
    return start, end


async def build_commission_invoices(year: int | None = None, month: int | None = None) -> list[int]:
    """Invoice every provider with DONE interventions in the month (default: last month)."""
    if year is None or month is None:
        year, month = previous_month(clock.now().date())
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} out of range")
    start, end = _bounds(year, month)
    due = await (
        Intervention.filter(status=InterventionStatus.DONE, starts_at__gte=start, starts_at__lt=end)
        .distinct()
        .values_list("membership_id", flat=True)
    )
    invoiced = (
        set(
            await CommissionInvoice.filter(
                year=year, month=month, membership_id__in=list(due)
            ).values_list("membership_id", flat=True)
        )
        if due
        else set()
    )
    created: list[int] = []
    for membership_id in sorted(int(m) for m in due if m not in invoiced):  # type: ignore[call-overload]
        invoice = await _invoice_membership(membership_id, year, month)
        if invoice is not None:
            created.append(invoice.id)
    if created:
        log.info("filed %d commission invoices for %04d-%02d", len(created), year, month)
    return created


async def _invoice_membership(
    membership_id: int, year: int, month: int
) -> CommissionInvoice | None:
    start, end = _bounds(year, month)
    membership = await Membership.get(id=membership_id).select_related("company", "marketplace")
    marketplace: Marketplace = membership.marketplace
    rows = (
        await Intervention.filter(
            membership_id=membership_id,
            status=InterventionStatus.DONE,
            starts_at__gte=start,
            starts_at__lt=end,
        )
        .select_related("service")
        .order_by("starts_at", "id")
    )
    lines = [
        Line(
            day=r.starts_at.date(),
            service=r.service.name,
            price=r.price,
            rate=r.commission_rate,
            commission=(r.price * r.commission_rate / 100).quantize(CENT, ROUND_HALF_UP),
        )
        for r in rows
    ]
    stored_key: str | None = None
    try:
        async with atomic() as tx:
            counter, _ = await InvoiceCounter.get_or_create(marketplace_id=marketplace.id)
            counter = await InvoiceCounter.filter(id=counter.id).select_for_update().get()
            # Checked again under the lock: a concurrent run may have filed it meanwhile.
            if await CommissionInvoice.filter(
                membership_id=membership_id, year=year, month=month
            ).exists():
                return None
            number = counter.last_number + 1
            label = invoice_number(number)
            pdf = render_invoice(
                number=label,
                marketplace=marketplace.name,
                company=membership.company.name,
                siret=membership.company.siret,
                year=year,
                month=month,
                lines=lines,
            )
            filename = f"commission-{year:04d}-{month:02d}-{label}.pdf"
            stored = storage.save(pdf, storage.PDF)
            stored_key = stored.key
            document = await Document.create(
                kind=DocumentKind.INVOICE,
                marketplace_id=marketplace.id,
                membership_id=membership_id,
                company_id=membership.company.id,
                title=f"Commission invoice {label} ({year:04d}-{month:02d})",
                **document_fields(stored, filename),
            )
            invoice = await CommissionInvoice.create(
                marketplace_id=marketplace.id,
                membership_id=membership_id,
                year=year,
                month=month,
                number=number,
                document=document,
                interventions=len(lines),
                total_price=sum((line.price for line in lines), Decimal("0.00")),
                total_commission=sum((line.commission for line in lines), Decimal("0.00")),
            )
            counter.last_number = number
            await counter.save(update_fields=["last_number"])
            await record_event(
                tx,
                topic=INVOICE_FILED,
                marketplace_id=marketplace.id,
                object_type="Document",
                object_id=document.id,
                audience=[staff_audience(marketplace.id), f"membership:{membership_id}"],
            )
    except BaseException:
        # The transaction rolled back: its number is free again, and so must the file be.
        if stored_key is not None:
            storage.delete(stored_key)
        raise
    return invoice


def invoice_number(number: int) -> str:
    return f"COM-{number:06d}"


def _latin1(text: str) -> str:
    # The PDF core fonts cover Latin-1: enough for French names; anything else degrades to '?'.
    return text.encode("latin-1", "replace").decode("latin-1")


def render_invoice(
    *,
    number: str,
    marketplace: str,
    company: str,
    siret: str,
    year: int,
    month: int,
    lines: list[Line],
) -> bytes:
    pdf = FPDF()
    pdf.set_creator("Presta")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Commission invoice {number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for text in (
        f"Issued by: {marketplace}",
        f"Provider: {company}" + (f" (SIRET {siret})" if siret else ""),
        f"Period: {year:04d}-{month:02d}",
        f"Date: {clock.now().date().isoformat()}",
    ):
        pdf.cell(0, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (28, 80, 28, 22, 32)
    pdf.set_font("Helvetica", "B", 10)
    for width, title in zip(
        widths, ("Date", "Service", "Price", "Rate %", "Commission"), strict=True
    ):
        pdf.cell(width, 8, title, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 10)
    for line in lines:
        cells = (
            line.day.isoformat(),
            line.service[:45],
            f"{line.price:.2f}",
            f"{line.rate:.2f}",
            f"{line.commission:.2f}",
        )
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 7, _latin1(text), border=1)
        pdf.ln()
    total_price = sum((line.price for line in lines), Decimal("0.00"))
    total = sum((line.commission for line in lines), Decimal("0.00"))
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(
        0,
        7,
        f"Interventions: {len(lines)}   Total price: {total_price:.2f} EUR",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.cell(0, 7, f"Commission due: {total:.2f} EUR", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
