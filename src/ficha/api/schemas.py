"""Shared pieces of request and response bodies.

Money convention (see docs/api.md):

* out: every amount is an object ``{"amount_minor": 1250, "amount": "12.50",
  "currency": "EUR", "formatted": "€12.50"}``;
* in: a money field ``X`` is sent either as ``X_minor`` (integer of minor units) or as
  ``X`` (string in major units in the one locale-independent form: digits, "." as the
  decimal point, no grouping: "12.50"), exactly one of the two, optionally with
  ``"currency"`` which must then be the venue's currency. JSON numbers with decimals
  are refused: floats never carry money. Strings go through :func:`parse_major` (the
  core parser without a locale), so ``Accept-Language`` never changes how they read.
"""

import math
from typing import Annotated, Any, ClassVar

from django.utils.translation import gettext as _
from ninja import Field, Schema
from ninja.schema import DjangoGetter
from pydantic import AfterValidator, ConfigDict, StrictInt, StringConstraints, model_validator

from ficha.core.money import Money, MoneyError
from ficha.core.services import currency as venue_currency

MAX_MINOR = 10**15 - 1
MAX_ID = 2**63 - 1


def clean_text(value: str) -> str:
    """Refuse what a database cannot store (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValueError(_("Text cannot contain NUL characters."))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(_("Text must be valid Unicode."))
    return value


def _text(max_length: int, min_length: int = 0):
    return Annotated[
        str, StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(clean_text),
    ]


Text20 = _text(20)
Text40 = _text(40)
Text60 = _text(60)
Text64 = _text(64)
Text120 = _text(120)
Text150 = _text(150)
Text255 = _text(255)
Text256 = _text(256)
Email = _text(254)
LongText = _text(5000)
Username = _text(150, 1)
# An amount in major units, in the one locale-independent form (see parse_major).
Major = Annotated[
    str, StringConstraints(min_length=1, max_length=32), AfterValidator(clean_text),
    Field(description='Major units: ASCII digits, "." as the decimal point, no grouping '
                      '("1500", "12.50"); or send the *_minor integer instead',
          examples=["1500", "12.50"]),
]
Minor = Annotated[StrictInt, Field(ge=-MAX_MINOR, le=MAX_MINOR)]
CurrencyCode = _text(3, 3)
Id = Annotated[int, Field(ge=1, le=MAX_ID)]  # in a path or query (text there)
# an id in a JSON body: a JSON integer, not true, "1" or 1.0
BodyId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Text128 = _text(128)


class In(Schema):
    """Base of request bodies: unknown fields are refused (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class MoneyInput(In):
    """A body with money fields; list their names in ``MONEY_FIELDS``.

    Each name ``X`` needs the fields ``X: Major | None`` and ``X_minor: Minor | None``.
    """

    MONEY_FIELDS: ClassVar[tuple[str, ...]] = ()
    currency: CurrencyCode | None = None

    @model_validator(mode="after")
    def _exactly_one_form(self):
        for name in self.MONEY_FIELDS:
            major = getattr(self, name)
            minor = getattr(self, f"{name}_minor")
            if (major is None) == (minor is None):
                raise ValueError(
                    _("Give either %(name)s (a string in major units, like \"12.50\") or "
                      "%(name)s_minor (an integer of minor units), not both.")
                    % {"name": name}
                )
        return self

    def minor(self, name: str, *, allow_negative: bool = False) -> int:
        """The amount of money field ``name`` in minor units of the venue's currency."""
        cur = venue_currency()
        if self.currency is not None and self.currency.upper() != cur:
            raise MoneyError(
                _("This venue works in %(venue)s, not %(given)s.")
                % {"venue": cur, "given": self.currency}
            )
        minor = getattr(self, f"{name}_minor")
        if minor is not None:
            if minor < 0 and not allow_negative:
                raise MoneyError(_("The amount cannot be negative."))
            return minor
        return parse_major(getattr(self, name), cur, field=name,
                           allow_negative=allow_negative).minor


def parse_major(text: str, currency: str, *, field: str = "",
                allow_negative: bool = False) -> Money:
    """An amount the API received as a string in major units (the locale-independent
    form, whatever the request's language); the error names the field."""
    try:
        return Money.parse(text, currency, allow_negative=allow_negative, locale=None)
    except MoneyError as exc:
        raise MoneyError(f"{field}: {exc}" if field else str(exc)) from None


class Out(Schema):
    """Base of response bodies. Handlers answer with plain dicts, which are validated as
    they are; ninja's ``Schema`` wraps every value in an attribute getter first (a Python
    call per field: a third of the CPU of a 50-row customer list). Anything else (a
    model instance, an object) still goes through the getter, as with ``Schema``."""

    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(cls, values: Any, handler, info) -> Any:
        if type(values) is dict and not cls._ninja_resolvers:
            return handler(values)
        if cls.model_config.get("extra") == "forbid":
            handler(values)
        return handler(DjangoGetter(values, cls, info.context))


class MoneyOut(Out):
    amount_minor: int
    amount: str = Field(..., description="Major units as a plain decimal string")
    currency: str
    formatted: str = Field(..., description="For display, in the request's language")


def money(minor: int | None, currency: str | None = None) -> dict[str, Any] | None:
    if minor is None:
        return None
    m = Money(int(minor), currency or venue_currency())
    return {"amount_minor": m.minor, "amount": m.major_str(), "currency": m.currency,
            "formatted": m.format()}


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


class PageMeta(Out):
    count: int
    page: int
    page_size: int
    pages: int


def paginate(queryset, page: int, page_size: int) -> tuple[list, dict[str, int]]:
    """One page of ``queryset`` and the meta fields (count, page, page_size, pages)."""
    count = queryset.count()
    start = (page - 1) * page_size
    items = list(queryset[start:start + page_size]) if start < count else []
    return items, {"count": count, "page": page, "page_size": page_size,
                   "pages": max(1, math.ceil(count / page_size))}


class Message(Schema):
    detail: str
    code: str


# 422: a body or query that does not fit the operation (validation_error,
# unknown_parameter), possible on every operation.
ERRORS = {400: Message, 401: Message, 403: Message, 404: Message, 409: Message, 422: Message}
