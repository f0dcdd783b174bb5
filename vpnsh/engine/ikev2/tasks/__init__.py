"""One module per exchange, each doing both roles (strongSwan's task split)."""
