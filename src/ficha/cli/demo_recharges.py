"""Demo recharges for `ficha serve --demo`: two batches, some sold, one redeemed."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from ficha.accounts.models import Customer
from ficha.core import audit, roles
from ficha.core.money import Money
from ficha.core.services import currency
from ficha.recharges import services as recharges


def load_demo_recharges(cashier_user, shift) -> str:
    """Generate a 500 and a 1000 batch, sell part of them in ``shift``, redeem one."""
    if recharges.Batch.objects.filter(label__startswith="Demo ").exists():
        return "Demo recharges already loaded."
    cur = currency()
    owner = get_user_model().objects.filter(groups__name=roles.OWNER).first()
    office = audit.Actor(user=owner or cashier_user, source="cli", label="demo")
    desk = audit.Actor(user=cashier_user, source="cli", label="demo")
    small = recharges.generate(office, count=20, amount=Money.parse("500", cur).minor,
                               valid_days=30, label="Demo 500")
    large = recharges.generate(office, count=10, amount=Money.parse("1000", cur).minor,
                               label="Demo 1000")
    first_small = list(small.recharges.order_by("id")[:8])
    sold = recharges.sell(desk, first_small).count
    sold += recharges.sell(desk, list(large.recharges.order_by("id")[:4])).count
    redeemed = ""
    customer = Customer.objects.filter(username__iexact="amina").first()
    if customer is not None:
        recharges.redeem(first_small[0].code, customer=customer, actor=desk,
                         source=recharges.Source(door="console", account=customer.username))
        redeemed = f" One was redeemed by {customer.username}."
    return (f"Recharges: batches 'Demo 500' (20 codes, valid 30 days) and 'Demo 1000' "
            f"(10 codes); {sold} sold in the open shift.{redeemed}")
