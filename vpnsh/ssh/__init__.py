"""The vpnsh shell over SSH (``vpnshd --ssh-listen ADDR:PORT``).

``server``: the asyncssh server and one shell per connection; ``terminal``: the
line editor on the SSH channel (echo, TAB, ``?``, history, the pager);
``passwords``: the hashed password file; ``keys``: the host key and the
authorized keys, all under ``STATE_DIR/ssh/``.
"""
