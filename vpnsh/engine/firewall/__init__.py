"""Zones, security rules and NAT enforced in the kernel by one nftables table; sessions and
traffic logs from conntrack.

    policy.py   the running config -> a :class:`~.policy.Policy` (zones, rules in order, the
                two default rules); ``Policy.match`` answers ``test security-policy-match``
    nft.py      a Policy -> the nftables JSON of table ``inet vpnsh``, applied with
                ``nft -j -f -`` in one transaction (delete + add of the table)
    manager.py  the daemon's firewall: apply per commit, rule ids and generations, hit counts
    sessions.py conntrack entries as sessions, ``clear session``
"""
