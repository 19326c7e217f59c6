"""Money in Stripe's terms: amounts in a currency's smallest unit, as integers; never floats."""

from decimal import ROUND_HALF_UP, Decimal

from livestream_site.errors import ApplicationError

# https://docs.stripe.com/currencies#zero-decimal
ZERO_DECIMAL_CURRENCIES = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
# https://docs.stripe.com/currencies#three-decimal
THREE_DECIMAL_CURRENCIES = frozenset("bhd jod kwd omr tnd".split())


def currency_exponent(currency: str) -> int:
    currency = currency.lower()
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """10.00 usd -> 1000; 1000 jpy -> 1000. Refuses an amount the currency cannot express."""
    scaled = Decimal(amount) * (10 ** currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ApplicationError(
            f"{amount} cannot be charged in {currency.upper()}: it has no units that small.",
            code="amount_not_representable",
        )
    return int(scaled)


def from_minor_units(minor: int, currency: str) -> Decimal:
    exponent = currency_exponent(currency)
    return (Decimal(int(minor)) / (10**exponent)).quantize(Decimal(1).scaleb(-exponent))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's smallest unit, halves away from zero."""
    return Decimal(amount).quantize(Decimal(1).scaleb(-currency_exponent(currency)), rounding=ROUND_HALF_UP)
