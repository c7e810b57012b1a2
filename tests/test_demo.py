"""`make run` loads the demo: every domain's data, once, with the logins it prints."""

from __future__ import annotations

from models.dispatch import ServiceRequest
from models.marketplace import Marketplace
from models.membership import Membership
from models.messaging import Message
from resolvers.document import ensure_document_types
from service import demo


async def test_the_demo_loads_every_domain_once_and_prints_the_same_guide_again():
    await ensure_document_types()
    first = await demo.load_demo_data()
    counts = (
        await Marketplace.all().count(),
        await Membership.all().count(),
        await ServiceRequest.all().count(),
        await Message.all().count(),
    )
    assert counts[0] == 2
    assert min(counts) > 0

    again = await demo.load_demo_data()
    assert again == first
    assert counts == (
        await Marketplace.all().count(),
        await Membership.all().count(),
        await ServiceRequest.all().count(),
        await Message.all().count(),
    )
    banner = demo.banner(again)
    assert "boss@menage-plus.demo" in banner
    assert "pro@menage-plus.demo" in banner
