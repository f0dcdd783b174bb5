"""IKE fragmentation, sans-IO: IKEv2 RFC 7383 (SKF) and IKEv1 as strongSwan does it.

* :mod:`.reassembly`  the receiving side for both versions, with limits (fragment count,
                      total size, pending messages, age) and a reason for every drop;
* :mod:`.ikev2`       fragment sizes for a path MTU, splitting and sealing SKF messages,
                      parsing the SKF header;
* :mod:`.ikev1`       the FRAGMENTATION vendor ID and the fragment payload (type 132).

Nothing here does I/O or keeps time itself: the caller passes ``now``.
"""
