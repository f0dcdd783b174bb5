"""X.509 for IKE: the certificate store, chain validation, IKE signature formats.

* :mod:`.store`      certificates, private keys (encrypted with the master key) and CRLs
                     in the state directory; generate, import, export, describe.
* :mod:`.validate`   chain building and checking against a certificate profile's CAs,
                     peer ID against the certificate; failures in plain words.
* :mod:`.ikesig`     IKEv2 AUTH (method 1, RFC 7427 method 14), SIGNATURE_HASH_ALGORITHMS,
                     CERT/CERTREQ contents, IKEv1 RSA-signature HASH_I/HASH_R signing.
* :mod:`.profile`    certificate profiles from the config tree.

Everything here is sans-IO except the store's file access; nothing imports the IKE engines.
"""
