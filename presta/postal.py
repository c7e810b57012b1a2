"""Where a French postal code lies: its centroid, from a file the project ships.

``postal_centroids.tsv`` is derived by ``scripts/postal_centroids.py`` from GeoNames' postal
code data (CC BY 4.0); it is read once, never fetched. Matching uses a centroid for an
address given without coordinates, so that circle zones can hold it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

CENTROIDS = Path(__file__).with_name("postal_centroids.tsv")


def centroid(postal_code: str) -> tuple[float, float] | None:
    """(latitude, longitude) of the postal code's centroid; None for a code not listed."""
    return _centroids().get(postal_code)


@cache
def _centroids() -> dict[str, tuple[float, float]]:
    found = {}
    for line in CENTROIDS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, latitude, longitude = line.split("\t")
            found[code] = (float(latitude), float(longitude))
    return found
