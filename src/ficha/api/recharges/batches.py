"""Batches: generate, list, get."""

from __future__ import annotations

from ninja import Path, Query, Router
from ninja import Status as HttpStatus

from ficha.recharges import services as recharges
from ficha.recharges.models import Batch

from ..auth import actor, require
from ..schemas import ERRORS, Id, paginate
from .common import _counts, _get_batch, batch_out
from .payloads import BatchFilter, BatchOut, BatchPage, GenerateIn, S

router = Router()


@router.post("/recharges/batches", response={201: BatchOut, **ERRORS},
             auth=require("generate_recharges"), summary="Generate a batch of recharges")
def generate(request, payload: GenerateIn):
    """Creates ``count`` unsold codes of ``amount`` each (1 to 100,000). Expiry:
    ``expires_at`` (a date: valid to the end of that venue-local day) or ``valid_days``,
    or neither (never expires). Codes follow the venue's code settings and are never
    reused. Unsold codes are worth nothing until sold."""
    batch = recharges.generate(actor(request), count=payload.count,
                               amount=payload.minor("amount"), expires_at=payload.expires_at,
                               valid_days=payload.valid_days, label=payload.label)
    return HttpStatus(201, batch_out(_get_batch(batch.pk), {S.UNSOLD: batch.count}))


@router.get("/recharges/batches", response={200: BatchPage, **ERRORS},
            auth=require("view_recharges"), summary="List batches")
def list_batches(request, filters: Query[BatchFilter]):
    """Newest first, each with its codes counted per status."""
    qs = Batch.objects.select_related("created_by").order_by("-id")
    if filters.q.strip():
        qs = qs.filter(label__icontains=filters.q.strip())
    items, meta = paginate(qs, filters.page, filters.page_size)
    counts = _counts([b.pk for b in items])
    return {**meta, "items": [batch_out(b, counts[b.pk]) for b in items]}


@router.get("/recharges/batches/{batch_id}", response={200: BatchOut, **ERRORS},
            auth=require("view_recharges"), summary="Get a batch")
def get_batch(request, batch_id: Path[Id]):
    return batch_out(_get_batch(batch_id))

