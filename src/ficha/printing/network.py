"""Sending a print job to a receipt printer on the network (raw TCP, usually port 9100).

Nearly every network receipt printer (Epson TM, Xprinter, Rongta, HPRT, …) accepts raw
ESC/POS on TCP port 9100 ("JetDirect", "raw" or "socket" printing): connect, write the
bytes, close. No driver, no queue. This module only moves bytes; callers build them
(:mod:`ficha.printing.escpos`) and record the printout.
"""

from __future__ import annotations

import socket

from django.utils.translation import gettext as _

DEFAULT_PORT = 9100
CONNECT_TIMEOUT = 5.0  # seconds to reach the printer
STALL_TIMEOUT = 10.0  # seconds the printer may take to accept more bytes (paper, buffer)
_CHUNK = 4096


class PrinterError(ValueError):
    """The printer could not be reached or stopped taking the job; ``sent`` bytes went out."""

    def __init__(self, message: str, *, sent: int = 0) -> None:
        super().__init__(message)
        self.sent = sent


def send(host: str, port: int, data: bytes, *, connect_timeout: float = CONNECT_TIMEOUT,
         stall_timeout: float = STALL_TIMEOUT) -> int:
    """Send ``data`` to ``host:port`` as one raw job; returns the number of bytes sent.

    Raises :class:`PrinterError` with a message for people when the printer cannot be
    reached in ``connect_timeout`` seconds, refuses the connection, or takes no byte for
    ``stall_timeout`` seconds (out of paper, cover open, switched off mid-job).
    """
    where = {"printer": f"{host}:{port}"}
    if not host:
        raise PrinterError(_("No ticket printer is set up (Settings)."))
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
    except socket.gaierror:
        raise PrinterError(_("The printer address %(printer)s is unknown on this network.")
                           % where)
    except TimeoutError:
        raise PrinterError(_(
            "The printer at %(printer)s did not answer within %(seconds)d seconds: is it "
            "switched on and connected to this network?"
        ) % {**where, "seconds": round(connect_timeout)})
    except ConnectionRefusedError:
        raise PrinterError(_(
            "The printer at %(printer)s refused the connection: check the address and the "
            "port (usually 9100)."
        ) % where)
    except OSError as exc:
        raise PrinterError(_("Cannot reach the printer at %(printer)s: %(reason)s")
                           % {**where, "reason": exc.strerror or exc})
    sent = 0
    try:
        with sock:
            sock.settimeout(stall_timeout)
            view = memoryview(data)
            while sent < len(data):
                sent += sock.send(view[sent:sent + _CHUNK])
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
    except TimeoutError:
        raise PrinterError(_(
            "The printer at %(printer)s stopped taking the job after %(sent)d of %(total)d "
            "bytes: check the paper and the cover."
        ) % {**where, "sent": sent, "total": len(data)}, sent=sent)
    except OSError as exc:
        raise PrinterError(_("The printer at %(printer)s dropped the job: %(reason)s")
                           % {**where, "reason": exc.strerror or exc}, sent=sent)
    return sent

