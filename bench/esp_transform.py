"""Microseconds per 1400-byte packet through the pure ESP transform (a figure, not a test).

    python bench/esp_transform.py [rounds]

Same as ``python -m vpnsh.engine.dataplane.esp``.
"""

from __future__ import annotations

import sys

from vpnsh.engine.dataplane.esp import bench

if __name__ == "__main__":
    bench(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
