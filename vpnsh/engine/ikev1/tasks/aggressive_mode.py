"""Aggressive mode (RFC 2409 5): three messages, identities in clear; both roles.

    initiator                                   responder
    1  HDR, SA, KE, Ni, IDii             -->
                                         <--    2  HDR, SA, KE, Nr, IDir, [CERT,] proof_R
    3  HDR, [CERT,] proof_I              -->

Vendor IDs (messages 1-2) and NAT-D (2-3) are the :mod:`.vendor` and :mod:`.natd` tasks'
part of the same messages; the proofs are :class:`~.auth.Phase1Auth`'s.
"""

from __future__ import annotations

from ..message import IdPayload, KePayload, NoncePayload, NotifyType
from .base import Incoming, Outgoing, Status
from .phase1 import Phase1Task


class AggressiveMode(Phase1Task):
    mode_words = "aggressive mode"
    last = 3

    # --- initiator: builds 1 and 3, processes 2 ------------------------------------------
    def build_i(self, out: Outgoing) -> Status:
        sa = self.sa
        if out.number == 1:
            payload = self.sa_payload()
            if payload is None:
                return Status.FAILED
            self.new_key_pair(sa.offered[0].group)
            sa.id_local = self.auth.local_id(sa.policy)
            out.payloads += [payload, KePayload(sa.g_xi), NoncePayload(sa.ni), sa.id_local]
            return Status.MORE
        out.payloads += self.auth.proof(sa, self.hash_i())  # 3
        out.retransmit = False
        return Status.DONE

    def process_i(self, inc: Incoming) -> Status:
        sa, ctx = self.sa, self.ctx
        if self.step != 1:
            return self.unexpected()
        status = self.chosen(inc)
        if status is not None:
            return status
        msg = inc.msg
        ke, nr, idir = msg.get(KePayload), msg.get(NoncePayload), msg.get(IdPayload)
        if not (isinstance(ke, KePayload) and isinstance(nr, NoncePayload)
                and isinstance(idir, IdPayload) and self.auth.has_proof(msg)):
            ctx.fail_p1(sa, "aggressive mode message 2 lacks KE, nonce, ID or hash")
            return Status.FAILED
        sa.g_xr, sa.nr, sa.id_remote = ke.data, nr.data, idir
        if not self.derive_initiator():
            return Status.FAILED
        if not self.auth.verify(sa, msg, self.hash_r()):
            ctx.fail_p1(sa, "authentication failed: the peer's HASH_R does not verify "
                            f"({self.auth.hint})", notify=NotifyType.AUTHENTICATION_FAILED)
            return Status.FAILED
        if not self.check_peer_id(idir):
            return Status.FAILED
        return Status.MORE

    # --- responder: processes 1 and 3, builds 2 ------------------------------------------
    def process_r(self, inc: Incoming) -> Status:
        sa, ctx, msg = self.sa, self.ctx, inc.msg
        if self.step == 0:
            if self.mode_refused():
                return Status.FAILED
            self._reply_sa = self.choose(inc)
            if self._reply_sa is None:
                return Status.FAILED
            ke, ni, idii = msg.get(KePayload), msg.get(NoncePayload), msg.get(IdPayload)
            if not (isinstance(ke, KePayload) and isinstance(ni, NoncePayload)
                    and isinstance(idii, IdPayload)):
                ctx.fail_p1(sa, "aggressive mode message 1 lacks KE, nonce or ID",
                            notify=NotifyType.PAYLOAD_MALFORMED)
                return Status.FAILED
            if not idii.matches(sa.policy.peer_id):
                ctx.fail_p1(sa, f"peer ID {idii.to_identity()} does not match the configured "
                                f"peer-id {sa.policy.peer_id}",
                            notify=NotifyType.INVALID_ID_INFORMATION)
                return Status.FAILED
            sa.id_remote = idii
            sa.g_xi, sa.ni = ke.data, ni.data
            shared = self.dh_respond()
            if shared is None:
                return Status.FAILED
            sa.id_local = self.auth.local_id(sa.policy)
            self.derive(shared)
            return Status.MORE
        if self.step == 2:
            if not self.auth.has_proof(msg):
                ctx.drop("aggressive mode message 3 without hash")
                return Status.DROPPED
            if not self.auth.verify(sa, msg, self.hash_i()):
                ctx.fail_p1(sa, "authentication failed: the peer's HASH_I does not verify "
                                f"({self.auth.hint})", notify=NotifyType.AUTHENTICATION_FAILED)
                return Status.FAILED
            if inc.encrypted:
                sa.iv = inc.next_iv
            self.initial_contact_in(inc)
            return Status.DONE
        return self.unexpected()

    def build_r(self, out: Outgoing) -> Status:
        sa = self.sa
        assert self._reply_sa is not None and sa.id_local is not None
        out.payloads += [self._reply_sa, KePayload(sa.g_xr), NoncePayload(sa.nr), sa.id_local,
                         *self.auth.proof(sa, self.hash_r())]
        return Status.MORE
