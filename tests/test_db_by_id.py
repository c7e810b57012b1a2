"""``presta.db.by_id``: the model tortoise's ``get_or_none`` gives, without its query builder."""

from __future__ import annotations

from typing import Any

from tortoise import Model

from models.account import User
from models.dispatch import ServiceRequest
from models.events import Event
from presta import db
from tests.factories.dispatch import make_world


def _state(instance: Model) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in instance._meta.fields_db_projection}


async def test_a_row_becomes_the_model_get_or_none_gives_every_field_alike():
    world = await make_world(providers=1)
    request_id = await world.request(description="Windows, 3 rooms")
    event = await Event.filter(object_id=request_id).order_by("id").first()
    assert event is not None
    for model, pk in [
        (User, world.providers[0].actor.user_id),
        (ServiceRequest, request_id),  # dates, enums, decimals
        (Event, event.id),  # JSON
    ]:
        fast, usual = await db.by_id(model, pk), await model.get_or_none(pk=pk)
        assert fast is not None
        assert usual is not None
        assert _state(fast) == _state(usual)
        assert fast._saved_in_db
        assert not fast._partial


async def test_no_row_is_none():
    assert await db.by_id(User, 10**9) is None
