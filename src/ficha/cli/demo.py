"""Demo data for `ficha serve --demo`: a venue, staff, customers and some history."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.cli.demo_recharges import load_demo_recharges
from ficha.core import audit, roles
from ficha.core.money import Money
from ficha.core.services import currency
from ficha.ledger import services as ledger

DEMO_CUSTOMERS = [
    ("amina", "Amina Diallo", "member", 2500),
    ("kofi", "Kofi Mensah", "member", 1000),
    ("lucia", "Lucía Fernández", "guest", 500),
    ("yann", "Yann Le Goff", "guest", 0),
    ("fatou", "Fatou Sow", "member", 5000),
]
DEMO_PASSWORD = "demo-pass-2026"


def load_demo() -> str:
    """Load the demo once; later calls change nothing."""
    if Customer.objects.filter(username__iexact="amina").exists():
        return "Demo data already loaded."
    User = get_user_model()
    cur = currency()
    with transaction.atomic():
        owner = User.objects.filter(groups__name=roles.OWNER).first()
        setup = audit.Actor(user=owner, source="cli", label="demo")
        cashier = User.objects.filter(username="cashier").first()
        if cashier is None:
            cashier = accounts.create_staff(setup, "cashier", DEMO_PASSWORD, roles.CASHIER,
                                            "Demo cashier")
        seller = User.objects.filter(username="seller").first()
        if seller is None:
            accounts.create_staff(setup, "seller", DEMO_PASSWORD, roles.VOUCHER_SELLER,
                                  "Demo voucher seller")
        desk = audit.Actor(user=cashier, source="cli", label="demo")
        shift = ledger.current_shift(cashier) or ledger.open_shift(
            desk, Money.parse("5000", cur).minor
        )
        for username, name, group, deposit in DEMO_CUSTOMERS:
            customer = accounts.create_customer(
                desk, username, password=DEMO_PASSWORD, full_name=name, price_group=group
            )
            if deposit:
                accounts.deposit(desk, customer, Money.parse(str(deposit), cur).minor,
                                 memo="demo deposit")
    extra = load_demo_recharges(cashier, shift)
    return (
        f"Demo data loaded: {len(DEMO_CUSTOMERS)} customers (password {DEMO_PASSWORD}), "
        f"staff 'cashier' and 'seller' (password {DEMO_PASSWORD}), an open shift. {extra}"
    ).strip()
