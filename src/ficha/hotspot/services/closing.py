"""Sessions closed without a Stop: the NAS restarted (Accounting-On/Off), or it sent
nothing for a long while (worker). They are closed as *stale*; a gateway that reports
more use for one opens it again (``HotspotSession.record_came``)."""

from __future__ import annotations

import datetime as dt

from ficha.core import clock

from ..models import HotspotSession, Nas


def _close_nas_sessions(nas: Nas, why: str) -> int:
    """Accounting-On/Off: the NAS (re)started, none of its sessions survive."""
    return HotspotSession.objects.filter(nas=nas, status=HotspotSession.Status.OPEN).update(
        status=HotspotSession.Status.STALE, stopped_at=clock.now(),
        terminate_cause=f"NAS-Accounting-{why.title()}")


def close_stale_sessions() -> int:
    """Worker job: close open sessions that sent nothing for three interim intervals (at
    least 10 minutes): their NAS forgot them or the Stop was lost. The usage up to their
    last record is already debited."""
    now = clock.now()
    done = 0
    candidates = (HotspotSession.objects.filter(
        status=HotspotSession.Status.OPEN, updated_at__lt=now - dt.timedelta(minutes=10),
        granted_until__isnull=True)  # the portal's metered sessions end by their grant
        .select_related("plan").only("pk", "updated_at", "plan__interim_interval"))
    for session in candidates[:1000]:
        interval = session.plan.interim_interval if session.plan else 300
        if session.updated_at > now - dt.timedelta(seconds=max(600, 3 * interval)):
            continue
        done += HotspotSession.objects.filter(
            pk=session.pk, status=HotspotSession.Status.OPEN,
            updated_at=session.updated_at,
        ).update(status=HotspotSession.Status.STALE, stopped_at=now,
                 terminate_cause="Stale")
    return done
