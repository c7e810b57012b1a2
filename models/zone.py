"""Action zones: where a provider company works, and a marketplace's restriction of it.

The entries are what people wrote (postal codes, département prefixes, circles). The keys are
derived lookup rows for matching: one per code, and one per grid cell a circle touches, so an
address finds its candidates with one btree lookup on ``zone_key.key`` on every database.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import User
    from models.membership import Membership, ProviderCompany

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius, the one haversine distances are quoted with
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180
# Grid step of the circle cells, in degrees: a 20 km circle touches ~6 cells, 200 km ~450.
CELL_DEGREES = 0.25
MAX_RADIUS_KM = 200.0

_POSTAL_CODE = re.compile(r"^(?!00)\d{5}$")
# Metropolitan départements 01-95 (20 is split into 2A and 2B), overseas 971-978, Monaco 98.
_PREFIX = re.compile(r"^(?:0[1-9]|1\d|2[1-9]|[3-8]\d|9[0-5]|2A|2B|97[1-8]|98)$")


class ZoneEntryKind(StrEnum):
    POSTAL_CODE = "POSTAL_CODE"
    PREFIX = "PREFIX"
    CIRCLE = "CIRCLE"


def normalize_postal_code(value: str) -> str | None:
    code = value.strip()
    return code if _POSTAL_CODE.match(code) else None


def normalize_prefix(value: str) -> str | None:
    prefix = value.strip().upper()
    return prefix if _PREFIX.match(prefix) else None


def prefix_of(postal_code: str) -> str:
    """The département of a postal code: Corsica 200xx-201xx is 2A, other 20xxx are 2B."""
    if postal_code.startswith("20"):
        return "2A" if postal_code[2] in "01" else "2B"
    if postal_code.startswith("97"):
        return postal_code[:3]
    return postal_code[:2]


def cell_key(latitude: float, longitude: float) -> str:
    return _cell(_lat_index(latitude), _lon_index(longitude))


def circle_cell_keys(latitude: float, longitude: float, radius_km: float) -> list[str]:
    """Every grid cell the circle's bounding box touches (a superset of the circle)."""
    dlat = radius_km / KM_PER_DEGREE
    south, north = max(-90.0, latitude - dlat), min(90.0, latitude + dlat)
    widest = max(abs(south), abs(north))
    if widest >= 89.0:
        west, east = -180.0, 180.0
    else:
        dlon = radius_km / (KM_PER_DEGREE * math.cos(math.radians(widest)))
        west, east = longitude - dlon, longitude + dlon
    lon_indexes = sorted({_lon_index(_wrap(lon)) for lon in _steps(west, east)})
    return [
        _cell(i, j) for i in range(_lat_index(south), _lat_index(north) + 1) for j in lon_indexes
    ]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    a = (
        math.sin(math.radians(lat2 - lat1) / 2) ** 2
        + math.cos(math.radians(lat1))
        * math.cos(math.radians(lat2))
        * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _lat_index(latitude: float) -> int:
    return min(int((latitude + 90.0) // CELL_DEGREES), int(180 / CELL_DEGREES) - 1)


def _lon_index(longitude: float) -> int:
    return min(int((longitude + 180.0) // CELL_DEGREES), int(360 / CELL_DEGREES) - 1)


def _cell(i: int, j: int) -> str:
    return f"@{i}:{j}"


def _wrap(longitude: float) -> float:
    return (longitude + 180.0) % 360.0 - 180.0


def _steps(start: float, stop: float) -> list[float]:
    count = max(1, math.ceil((stop - start) / CELL_DEGREES))
    return [start + k * (stop - start) / count for k in range(count + 1)]


class ZoneEntry(Model):
    """One area of an action zone: of a company (company set) or a restriction (membership set)."""

    id = fields.BigIntField(primary_key=True)
    company: fields.ForeignKeyNullableRelation[ProviderCompany] = fields.ForeignKeyField(
        "models.ProviderCompany", related_name="zone_entries", null=True, on_delete=fields.CASCADE
    )
    company_id: int | None
    membership: fields.ForeignKeyNullableRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="zone_entries", null=True, on_delete=fields.CASCADE
    )
    membership_id: int | None
    kind = fields.CharEnumField(ZoneEntryKind, max_length=16)
    code = fields.CharField(max_length=5, null=True)
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    radius_km = fields.FloatField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "zone_entry"
        indexes = (("company_id",), ("membership_id",))


class ZoneRestriction(Model):
    """Marks a membership whose effective zone is its restriction entries, even when empty."""

    id = fields.BigIntField(primary_key=True)
    membership: fields.OneToOneRelation[Membership] = fields.OneToOneField(
        "models.Membership", related_name="zone_restriction", on_delete=fields.CASCADE
    )
    membership_id: int
    restricted_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="zone_restrictions", null=True, on_delete=fields.SET_NULL
    )
    restricted_by_id: int | None
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "zone_restriction"


class ZoneKey(Model):
    """Lookup row for matching: a postal code, a prefix, or a grid cell touched by a circle."""

    id = fields.BigIntField(primary_key=True)
    entry: fields.ForeignKeyRelation[ZoneEntry] = fields.ForeignKeyField(
        "models.ZoneEntry", related_name="keys", on_delete=fields.CASCADE
    )
    entry_id: int
    company: fields.ForeignKeyNullableRelation[ProviderCompany] = fields.ForeignKeyField(
        "models.ProviderCompany", related_name="zone_keys", null=True, on_delete=fields.CASCADE
    )
    company_id: int | None
    membership: fields.ForeignKeyNullableRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="zone_keys", null=True, on_delete=fields.CASCADE
    )
    membership_id: int | None
    key = fields.CharField(max_length=16)
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    radius_km = fields.FloatField(null=True)

    class Meta:
        table = "zone_key"
        # Matching reads only this index (an index-only scan once vacuumed). The FK columns
        # are indexed for the cascades when a zone is replaced.
        indexes = (
            ("key", "company_id", "membership_id", "latitude", "longitude", "radius_km"),
            ("entry_id",),
            ("company_id",),
            ("membership_id",),
        )
