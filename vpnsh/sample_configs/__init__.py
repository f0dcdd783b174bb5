"""Ready configs shipped with vpnsh: the two sites of the lab (``vpnsh lab up``).

Package data, so an installed wheel has them too; in a checkout ``sample-configs/``
points here.  ``read("site-a")`` is the text of ``site-a.set``.
"""

from __future__ import annotations

from importlib import resources


def names() -> list[str]:
    """The config names (``site-a``, ``site-b``)."""
    return sorted(p.name[:-4] for p in resources.files(__name__).iterdir() if p.name.endswith(".set"))


def read(name: str) -> str:
    """The set commands of one config."""
    if name not in names():
        raise FileNotFoundError(f"no sample config {name!r} (have: {', '.join(names())})")
    return resources.files(__name__).joinpath(f"{name}.set").read_text(encoding="utf-8")
