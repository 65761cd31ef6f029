"""A test gateway's CoA port: a UDP listener that decodes RFC 5176 requests with pyrad,
verifies their Request Authenticator with the NAS secret and answers ACK, or NAK with an
Error-Cause. Used by tests/test_hotspot_coa_udp.py."""

from __future__ import annotations

import socket
import threading

from pyrad import packet as rp

from ficha.hotspot.radius import dictionary


class CoaListener:
    def __init__(self, secret: str = "testing123", host: str = "127.0.0.1"):
        self.secret = secret.encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[dict] = []  # one dict per verified request
        self.rejected = 0  # requests whose authenticator did not verify
        self.answer_nak: int | None = None  # Error-Cause to NAK with; None: ACK
        self.silent = False  # drop everything (a gateway that does not answer)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if self.silent:
                continue
            pkt = rp.CoAPacket(packet=data, secret=self.secret, dict=dictionary())
            if not pkt.VerifyCoARequest() or (
                    "Message-Authenticator" in pkt
                    and not pkt.verify_message_authenticator(secret=self.secret)):
                self.rejected += 1
                continue
            request = {"code": pkt.code}
            for key in pkt.keys():
                request[key] = pkt[key][0] if len(pkt[key]) == 1 else pkt[key]
            self.received.append(request)
            reply = pkt.CreateReply()
            if self.answer_nak is not None:
                reply.code = (rp.DisconnectNAK if pkt.code == rp.DisconnectRequest
                              else rp.CoANAK)
                reply.AddAttribute("Error-Cause", self.answer_nak)
            self.sock.sendto(reply.ReplyPacket(), addr)
