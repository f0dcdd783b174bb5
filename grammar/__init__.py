"""The Lark grammars of the vpnsh command surface (package data)."""
