"""Main mode (RFC 2409 5): six messages, identities protected; both roles.

    initiator                                   responder
    1  HDR, SA                           -->
                                         <--    2  HDR, SA
    3  HDR, KE, Ni, [CERTREQ]            -->
                                         <--    4  HDR, KE, Nr, [CERTREQ]
    5  HDR*, IDii, [CERT,] proof_I       -->
                                         <--    6  HDR*, IDir, [CERT,] proof_R

Vendor IDs (messages 1-2) and NAT-D (3-4) are the :mod:`.vendor` and :mod:`.natd` tasks'
part of the same messages; the proofs are :class:`~.auth.Phase1Auth`'s.
"""

from __future__ import annotations

from collections.abc import Callable

from ..message import IdPayload, KePayload, NoncePayload, NotifyPayload, NotifyType, ProtocolId
from .base import Incoming, Outgoing, Status
from .phase1 import Phase1Task


class MainMode(Phase1Task):
    mode_words = "main mode"
    last = 6

    # --- initiator: builds 1, 3, 5; processes 2, 4, 6 ------------------------------------
    def build_i(self, out: Outgoing) -> Status:
        sa = self.sa
        if out.number == 1:
            payload = self.sa_payload()
            if payload is None:
                return Status.FAILED
            out.payloads.append(payload)
        elif out.number == 3:
            assert sa.suite is not None
            self.new_key_pair(sa.suite.group)
            out.payloads += [KePayload(sa.g_xi), NoncePayload(sa.ni), *self.auth.cert_requests()]
        else:  # 5
            sa.id_local = self.auth.local_id(sa.policy)
            out.payloads += [sa.id_local, *self.auth.proof(sa, self.hash_i())]
            if self.is_initial_contact():
                out.payloads.append(NotifyPayload(NotifyType.INITIAL_CONTACT, ProtocolId.ISAKMP,
                                                  sa.cky_i + sa.cky_r))
            out.encrypted = True
        return Status.MORE

    def process_i(self, inc: Incoming) -> Status:
        sa = self.sa
        if self.step == 1:
            return self.chosen(inc) or Status.MORE  # (chosen takes the responder's cookie)
        if self.step == 3:
            ke, nr = inc.msg.get(KePayload), inc.msg.get(NoncePayload)
            if not (isinstance(ke, KePayload) and isinstance(nr, NoncePayload)):
                self.ctx.drop("main mode message 4 without KE and nonce")
                return Status.DROPPED
            sa.g_xr, sa.nr = ke.data, nr.data
            return Status.MORE if self.derive_initiator() else Status.FAILED
        if self.step == 5:
            if not self._peer_authenticated(inc, 6, "HASH_R", self.hash_r):
                return Status.FAILED if self.failed_state() else Status.DROPPED
            return Status.DONE
        return self.unexpected()

    # --- responder: processes 1, 3, 5; builds 2, 4, 6 ------------------------------------
    def process_r(self, inc: Incoming) -> Status:
        sa = self.sa
        if self.step == 0:
            if self.mode_refused():
                return Status.FAILED
            self._reply_sa = self.choose(inc)
            return Status.FAILED if self._reply_sa is None else Status.MORE
        if self.step == 2:
            ke, ni = inc.msg.get(KePayload), inc.msg.get(NoncePayload)
            if not (isinstance(ke, KePayload) and isinstance(ni, NoncePayload)):
                self.ctx.drop("main mode message 3 without KE and nonce")
                return Status.DROPPED
            sa.g_xi, sa.ni = ke.data, ni.data
            shared = self.dh_respond()
            if shared is None:
                return Status.FAILED
            self.derive(shared)
            return Status.MORE
        if self.step == 4:
            if not self._peer_authenticated(inc, 5, "HASH_I", self.hash_i):
                return Status.FAILED if self.failed_state() else Status.DROPPED
            self.initial_contact_in(inc)
            return Status.MORE
        return self.unexpected()

    def build_r(self, out: Outgoing) -> Status:
        sa = self.sa
        out.retransmit = False  # the responder answers duplicates, no timer
        if out.number == 2:
            assert self._reply_sa is not None
            out.payloads.append(self._reply_sa)
            return Status.MORE
        if out.number == 4:
            out.payloads += [KePayload(sa.g_xr), NoncePayload(sa.nr), *self.auth.cert_requests()]
            return Status.MORE
        sa.id_local = self.auth.local_id(sa.policy)  # 6
        out.payloads += [sa.id_local, *self.auth.proof(sa, self.hash_r())]
        out.encrypted = True
        return Status.DONE

    def _peer_authenticated(self, inc: Incoming, number: int, what: str,
                            expected: Callable[[], bytes]) -> bool:
        """Main mode message 5 (responder) or 6 (initiator): the peer's ID and HASH_I/HASH_R,
        compared in constant time; the IV moves on and the ID is checked. False: failed
        (said), or dropped when the message came in plain."""
        sa, ctx = self.sa, self.ctx
        if not inc.encrypted:
            ctx.drop(f"plain main mode message {number}")
            return False
        idp = inc.msg.get(IdPayload)
        if not (isinstance(idp, IdPayload) and self.auth.has_proof(inc.msg)):
            self._auth_failed(f"main mode message {number} lacks ID or hash", inc.now)
            return False
        sa.id_remote = idp
        if not self.auth.verify(sa, inc.msg, expected()):
            self._auth_failed(f"the peer's {what} does not verify", inc.now)
            return False
        if self.auth.proved:
            ctx.log(sa, self.auth.proved)
        sa.iv = inc.next_iv
        return self.auth.checks_id or self.check_peer_id(idp)

    def _auth_failed(self, detail: str, now: float) -> None:
        """The peer did not prove itself: the method's own words when it has them (a
        certificate's chain, revocation, ID), else ``detail`` with the method's hint."""
        if self.auth.failure:
            self.ctx.fail_p1(self.sa, self.auth.failure, notify=NotifyType.AUTHENTICATION_FAILED)
        else:
            self.ctx.auth_failed(self.sa, detail, now)
