"""Call shop: rate decks, exact call rating, dialled-number normalisation, CDR parsing.

Booths, booth sessions, prepaid call authorization and CDR import into the ledger come
with later work (docs/callshop.md).
"""
