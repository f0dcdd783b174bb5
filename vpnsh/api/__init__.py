"""The PAN-OS XML API over HTTPS (``vpnshd --api-listen ADDR:PORT``).

So that pan-os-python, pan-python and Ansible drive vpnsh as they drive a PAN-OS firewall.
Modules, from the wire inward:

* :mod:`.server`    aiohttp application, TLS, ``/api/`` GET and POST, request -> handler
* :mod:`.tls`       the self-signed certificate made on first start
* :mod:`.keys`      ``type=keygen``: API keys for the SSH admins, stored as hashes, revocable
* :mod:`.replies`   PAN-OS ``<response>`` XML, success and error codes
* :mod:`.xpath`     PAN-OS config xpaths -> paths of vpnsh's config tree
* :mod:`.document`  the config tree as PAN-OS's config XML, and XML elements -> set tokens
* :mod:`.control`   the one thin layer onto the daemon's control ops (the ones the shell uses)
* :mod:`.handlers`  ``type=config|op|commit|export`` on top of those

Reference: docs/xml-api.md and ../shared/reference/panos-policy-monitor-pki-api.md section F.
"""
