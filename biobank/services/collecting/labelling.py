"""Tube labels: what goes on them, printing and reprinting as events, pre-labelled kit batches.

A label carries the sample ID, the tube code and the collection date in the site's time zone;
never the participant ID. ``labels/`` renders; this module decides what and records who printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

import labels
from biobank.errors import ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Collection,
    EventType,
    LabelBatch,
    LabelKit,
    Sample,
    SiteKind,
    User,
)
from biobank.services.collecting import collections
from biobank.services.core import policy
from biobank.services.core.custody import record_event
from biobank.services.core.pages import Page, paginate
from biobank.services.core.privacy import check_free_text
from biobank.services.core.samples import already_had
from biobank.services.core.sites import site_field
from biobank.services.core.timebounds import in_zone
from biobank.unit_of_work import get_record

LabelFormat = Literal["pdf", "zpl"]
MAX_KITS_PER_BATCH = 200
MEDIA_TYPES = {"pdf": "application/pdf", "zpl": "application/vnd.zebra-zpl"}


@dataclass(frozen=True)
class PrintJob:
    content: bytes
    media_type: str
    filename: str
    labels: int


def label_spec(sample: Sample) -> labels.LabelSpec:
    """The label for one tube; pre-labelled kit tubes not yet collected carry no date."""
    when = sample.collected_at
    if when is None and sample.collection is not None:
        when = sample.collection.created_at
    date = in_zone(when, ZoneInfo(sample.site.timezone)).date() if when else None
    return labels.LabelSpec(
        sample_id=sample.barcode,
        tube_code=sample.tube_type.code,
        date=date,
        copies=sample.tube_type.labels_per_tube,
    )


def resolve_stock(code: str | None) -> labels.LabelStock:
    try:
        return labels.get_stock(code or labels.DEFAULT_STOCK)
    except labels.UnknownStock as unknown:
        raise ValidationFailed.for_field("stock", str(unknown)) from None


def print_labels(
    actor: User,
    samples: Sequence[Sample],
    *,
    name: str,
    fmt: LabelFormat = "pdf",
    stock: str | None = None,
    start_position: int = 1,
    reason: str | None = None,
    collection: Collection | None = None,
) -> PrintJob:
    """Render labels and record ``labelled`` (first print) or ``label_reprinted`` events.

    A reprint needs a reason: a second label for a tube is how tubes get swapped.
    """
    prepared = prepare_print(
        actor, samples, fmt=fmt, stock=stock, start_position=start_position, reason=reason
    )
    record_label_prints(actor, samples, prepared, collection=collection)
    return PrintJob(
        content=prepared.content,
        media_type=MEDIA_TYPES[fmt],
        filename=f"{name}.{fmt}",
        labels=prepared.labels,
    )


@dataclass(frozen=True)
class PreparedPrint:
    """Labels rendered and checked, not yet recorded: what ``record_label_prints`` records
    once they are printed (at once for a download; once a printer took them for a printer)."""

    stock: labels.LabelStock
    fmt: LabelFormat
    specs: list[labels.LabelSpec]
    content: bytes
    reason: str | None
    printed_before: frozenset[int]

    @property
    def labels(self) -> int:
        return sum(spec.copies for spec in self.specs)


def prepare_print(
    actor: User,
    samples: Sequence[Sample],
    *,
    fmt: LabelFormat,
    stock: str | None,
    start_position: int = 1,
    reason: str | None = None,
) -> PreparedPrint:
    """The labels rendered, the reason checked (a reprint needs one), nothing recorded."""
    label_stock, specs, content = _rendered(actor, samples, fmt, stock, start_position)
    reason = check_free_text(reason, "reason")
    printed_before = already_had(samples, EventType.LABELLED)
    if printed_before and not reason:
        raise ValidationFailed.for_field(
            "reason",
            f"Labels for {len(printed_before)} of these tubes were printed before: a reprint "
            "needs a reason (e.g. 'label smudged').",
        )
    return PreparedPrint(label_stock, fmt, specs, content, reason, frozenset(printed_before))


def record_label_prints(
    actor: User,
    samples: Sequence[Sample],
    prepared: PreparedPrint,
    *,
    collection: Collection | None = None,
    details: dict[str, object] | None = None,
) -> None:
    """One ``labelled`` event per tube printed for the first time, ``label_reprinted`` (with
    the reason) per tube printed before: the one way every print is recorded. ``details``
    adds to what each event says (a printer job names itself)."""
    shared = {"stock": prepared.stock.code, "format": prepared.fmt, **(details or {})}
    for sample, spec in zip(samples, prepared.specs, strict=True):
        reprint = sample.id in prepared.printed_before
        record_event(
            EventType.LABEL_REPRINTED if reprint else EventType.LABELLED,
            actor=actor,
            sample=sample,
            collection=collection or sample.collection,
            reason=prepared.reason if reprint else None,
            details={**shared, "copies": spec.copies},
        )
    db.session.flush()


def _rendered(
    actor: User,
    samples: Sequence[Sample],
    fmt: LabelFormat,
    stock: str | None,
    start_position: int,
) -> tuple[labels.LabelStock, list[labels.LabelSpec], bytes]:
    policy.require(actor, policy.Action.PRINT_LABELS)
    for sample in samples:
        policy.ensure_visible(actor, sample, "sample")
    if not samples:
        raise ValidationFailed.for_field("barcodes", "There are no tubes to print labels for.")
    label_stock = resolve_stock(stock)
    specs = [label_spec(sample) for sample in samples]
    try:
        if fmt == "zpl":
            content = labels.render_zpl(specs, label_stock)
        else:
            content = labels.render_pdf(specs, label_stock, start_position=start_position)
    except labels.LabelError as refused:
        field = "start_position" if "start_position" in str(refused) else "stock"
        raise ValidationFailed.for_field(field, str(refused)) from None
    return label_stock, specs, content


def preview_labels(
    actor: User,
    samples: Sequence[Sample],
    *,
    name: str,
    fmt: LabelFormat = "pdf",
    stock: str | None = None,
    start_position: int = 1,
) -> PrintJob:
    """The labels as they would print, recording nothing: a look before printing (``GET``
    in the API, which must be safe to repeat). Printing is ``print_labels``."""
    _, specs, content = _rendered(actor, samples, fmt, stock, start_position)
    return PrintJob(
        content=content,
        media_type=MEDIA_TYPES[fmt],
        filename=f"{name}-preview.{fmt}",
        labels=sum(spec.copies for spec in specs),
    )


def _print_or_preview(
    actor: User,
    samples: Sequence[Sample],
    name: str,
    preview: bool,
    *,
    collection: Collection | None = None,
    reason: str | None = None,
    **options,
) -> PrintJob:
    """A print (recorded; a reprint's ``reason`` checked) or a preview (nothing recorded, so
    no reason asked)."""
    if preview:
        return preview_labels(actor, samples, name=name, **options)
    return print_labels(actor, samples, name=name, collection=collection, reason=reason, **options)


def collection_labels(
    actor: User,
    collection: Collection,
    *,
    barcodes: Sequence[str] = (),
    preview: bool = False,
    **options,
) -> PrintJob:
    """Labels for a collection's tubes (all, or the ones named); ``preview`` renders them
    without recording a print (and without asking a reprint's reason)."""
    samples = collection_samples(collection, barcodes)
    # A single tube's reprint is named for the tube, not mistaken for the whole set.
    name = (
        f"tube-{samples[0].barcode}-label"
        if barcodes and len(samples) == 1
        else f"collection-{collection.id}-labels"
    )
    return _print_or_preview(actor, samples, name, preview, collection=collection, **options)


def collection_samples(collection: Collection, barcodes: Sequence[str] = ()) -> list[Sample]:
    """A collection's tubes to print: all of them, or the ones named (in the order named)."""
    if barcodes:
        return [collections.collection_sample(collection, barcode) for barcode in barcodes]
    return list(collection.samples)


# --- pre-labelled kits -----------------------------------------------------------------------


def create_label_batch(actor: User, *, site: str, kit: str, count: int) -> LabelBatch:
    """``count`` pre-labelled kits for a clinic: pending tubes with IDs, claimed when used."""
    policy.require(actor, policy.Action.PRINT_LABEL_BATCHES)
    target = site_field(site)
    if target.kind != SiteKind.COLLECTION:
        raise ValidationFailed.for_field(
            "site", f"{target.code} is a biobank: label kits go to collection sites."
        )
    if not 1 <= count <= MAX_KITS_PER_BATCH:
        raise ValidationFailed.for_field(
            "count", f"Print between 1 and {MAX_KITS_PER_BATCH} kits per batch."
        )
    template = collections.kit_for_batch(kit)
    batch = LabelBatch(site=target, kit=template, count=count, created_by_id=actor.id)
    db.session.add(batch)
    db.session.flush()
    for sequence in range(1, count + 1):
        label_kit = LabelKit(batch=batch, sequence=sequence)
        db.session.add(label_kit)
        db.session.flush()
        for sample in collections.new_samples(template.tube_types, target, label_kit=label_kit):
            record_event(
                EventType.CREATED,
                actor=actor,
                site=target,
                sample=sample,
                details={
                    "label_batch": batch.id,
                    "kit": sequence,
                    "tube_type": sample.tube_type.code,
                },
            )
    db.session.flush()
    return batch


def get_label_batch(actor: User, batch_id: int) -> LabelBatch:
    return policy.ensure_visible(actor, get_record(LabelBatch, batch_id), f"label batch {batch_id}")


def list_label_batches(actor: User, *, page: int = 1, per_page: int = 25) -> Page[LabelBatch]:
    """Every label batch, newest first (coordinators print them for every clinic)."""
    policy.require(actor, policy.Action.PRINT_LABEL_BATCHES)
    return paginate(
        sa.select(LabelBatch).order_by(LabelBatch.id.desc()), page=page, per_page=per_page
    )


@dataclass(frozen=True)
class KitInBatch:
    """One kit of a batch: its number, its tubes, and the collection that claimed it."""

    sequence: int
    samples: list[Sample]
    collection_id: int | None


def kits_of(batch: LabelBatch) -> list[KitInBatch]:
    """The batch's kits in print order, each with its tubes and whether a collection has
    claimed it (scanning one of its labels at the clinic)."""
    by_kit: dict[int, list[Sample]] = {}
    for sample in batch_samples(batch):
        by_kit.setdefault(sample.label_kit_id or 0, []).append(sample)
    return [
        KitInBatch(
            kit.sequence,
            by_kit.get(kit.id, []),
            next((s.collection_id for s in by_kit.get(kit.id, []) if s.collection_id), None),
        )
        for kit in batch.kits
    ]


def batch_printed(batch: LabelBatch) -> bool:
    """Whether the batch's labels were printed before (printing again is a reprint)."""
    return bool(already_had(batch_samples(batch), EventType.LABELLED))


def batch_samples(batch: LabelBatch) -> list[Sample]:
    """Kit by kit, tube by tube: the order the labels come off the printer."""
    return list(batch.samples)


def batch_labels(actor: User, batch: LabelBatch, *, preview: bool = False, **options) -> PrintJob:
    return _print_or_preview(
        actor, batch_samples(batch), f"label-batch-{batch.id}", preview, **options
    )
