"""Hostile but well-typed inputs, shared by the hostile-input properties.

Every strategy here produces values of the type the public API asks for (``str``,
``int``, ``Decimal``, ``datetime``, ``timedelta``, ``dict``) whose *content* is what
a careless or malicious caller sends: lone surrogates, NUL, bidi overrides, huge or
non-ASCII numbers, odd URLs and signature headers, naive or far-off datetimes,
plans with negative or mis-currencied amounts.

``HOSTILE`` and ``FUZZ`` are the settings the hostile modules use: bounded so that
``tests/hostile`` stays fast, without a deadline (a fresh alliance per example), and
without the health checks that a fixture-free body does not need.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Any, Final

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = [
    "CURRENCIES",
    "FUZZ",
    "HOSTILE",
    "HOSTILE_ATOMS",
    "SLOW",
    "amounts",
    "currencies",
    "datetimes",
    "decimal_strings",
    "domains",
    "expiries",
    "headers",
    "identifiers",
    "ints",
    "ips",
    "money_dicts",
    "numbers",
    "periods",
    "plans",
    "strings",
    "texts",
    "timedeltas",
    "urls",
    "variants",
]

_QUIET: Final = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]
#: Multiplies every property's examples: CI runs 1; a longer soak, say
#: ``HOSTILE_SCALE=50 python -m pytest tests/hostile``, finds rarer cases.
SCALE: Final = max(1, int(os.environ.get("HOSTILE_SCALE", "1")))
#: Properties over a fresh memory alliance per example.
HOSTILE: Final = settings(max_examples=60 * SCALE, deadline=None, suppress_health_check=_QUIET)
#: Properties whose examples cost more (an SQLite file, a seeded ledger).
SLOW: Final = settings(max_examples=25 * SCALE, deadline=None, suppress_health_check=_QUIET)
#: The parser fuzz targets: cheap examples, many of them.
FUZZ: Final = settings(max_examples=400 * SCALE, deadline=None, suppress_health_check=_QUIET)


def variants(
    valid: dict[str, Any], hostile: dict[str, st.SearchStrategy[Any]], *, most: int = 3
) -> st.SearchStrategy[dict[str, Any]]:
    """``valid`` with up to ``most`` of its fields (or extra ones) taken from ``hostile``:
    one odd field at a time reaches deeper than a dict of nothing but odd fields."""
    names = sorted(hostile)
    chosen = st.lists(st.sampled_from(names), max_size=most, unique=True)
    return chosen.flatmap(
        lambda picked: st.fixed_dictionaries({name: hostile[name] for name in picked}).map(
            partial(_merged, valid)
        )
    )


def _merged(valid: dict[str, Any], odd: dict[str, Any]) -> dict[str, Any]:
    return {**valid, **odd}


# -- strings -------------------------------------------------------------------------------

#: Single hostile values: each one has broken some parser somewhere.
HOSTILE_ATOMS: Final[tuple[str, ...]] = (
    "",
    " ",
    "\t",
    "\n",
    " \t\r\n ",
    "\u3000",  # ideographic space: whitespace-only to str.strip()
    "\x00",
    "a\x00b",
    "\x7f",
    "\ud800",  # lone high surrogate: cannot be encoded as UTF-8
    "\udfff",
    "a\udc80b",
    "\u202e",  # right-to-left override
    "abc\u202edcba",
    "\u200b",  # zero-width space
    "\ufeff",  # byte-order mark
    "e\u0301",  # a combining acute accent
    "\u0301",
    "\u0345" * 64,
    "²",  # superscript two: str.isdigit() is True, int() refuses it
    "١٢٣",  # Arabic-Indic digits: int() accepts them
    "٣٠",
    "௰",
    "Ⅻ",
    "½",
    "１２",  # full-width digits
    "NaN",
    "-0",
    "\U0001f600",
    "x" * 10_000,
    "é" * 5_000,
    "%00",
    "%ff",
    "../../etc/passwd",
    "{click_id}",
    "a" * 129,
    "a" * 257,
)

_any_char: Final = st.characters(exclude_categories=())  # surrogates and controls included
_nasty_char: Final = st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\u202e", "\u0301", "²", "\ufeff", "\u200b", "٣", "\xff", "\\"]
)


def strings(max_size: int = 40) -> st.SearchStrategy[str]:
    """Hostile text: the atoms, arbitrary code points (surrogates and controls too), and
    ordinary text with hostile characters spliced in."""
    spliced = st.lists(
        st.one_of(st.sampled_from(HOSTILE_ATOMS[:30]), st.text(max_size=6), _nasty_char),
        min_size=1,
        max_size=4,
    ).map("".join)
    return st.one_of(
        st.sampled_from(HOSTILE_ATOMS),
        st.text(_any_char, max_size=max_size),
        spliced,
    )


def _spliced_into(valid: str) -> st.SearchStrategy[str]:
    """``valid`` with a hostile piece before, after or in the middle of it."""
    piece = st.one_of(st.sampled_from(HOSTILE_ATOMS), _nasty_char)
    return st.one_of(
        piece.map(partial(_splice, valid, len(valid))),
        piece.map(partial(_splice, valid, 0)),
        piece.map(partial(_splice, valid, len(valid) // 2)),
    )


def _splice(valid: str, at: int, piece: str) -> str:
    return valid[:at] + piece + valid[at:]


def identifiers(valid: str) -> st.SearchStrategy[str]:
    """An id a host would pass: the valid one (often), or a hostile one."""
    return st.one_of(st.just(valid), _spliced_into(valid), strings())


def texts(valid: str) -> st.SearchStrategy[str]:
    """Free text (order ids, SKUs, coupon codes): valid, spliced, or hostile."""
    return st.one_of(st.just(valid), _spliced_into(valid), strings(), st.text(min_size=1))


# -- numbers -------------------------------------------------------------------------------

_DECIMAL_ATOMS: Final = (
    "0",
    "-0",
    "-0.00",
    "0E-1000000",
    "1e999999999",
    "-1e999999999",
    "1e-999999999",
    "1E+999999999999999999",
    "9" * 200,
    "0." + "0" * 200 + "1",
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-inf",
    "1e18",
    "999999999999999999.99",
    "999999999999999999.9999",
    "-999999999999999999.99",
    "99999999999999999.99",
    "9223372036854775807",
    "9223372036854775808",
    "92233720368547758.08",
    "-9223372036854775809",
    "0.001",
    "0.005",
    "1.000000000000000000000000001",
    "  10.00  ",
    "1_000",
    "+5",
    "-5.00",
    "-0.01",
    "²",
    "١٠٠",
    "１００",
    "10%",
    "",
    " ",
    "\x00",
    "1\ud800",
)

#: Integers at the edges a 64-bit column or a C long has.
_INT_EDGES: Final = (
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**18,
    10**30,
    -(10**30),
)


def ints(min_value: int | None = None) -> st.SearchStrategy[int]:
    """Integers near the limits of the integer types that store them."""
    edges = [n for n in _INT_EDGES if min_value is None or n >= min_value]
    return st.one_of(st.sampled_from(edges), st.integers(min_value=min_value))


def decimal_strings() -> st.SearchStrategy[str]:
    """Amount strings: huge exponents, NaN/inf, -0, non-ASCII digits, 64-bit edges."""
    return st.one_of(
        st.sampled_from(_DECIMAL_ATOMS),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.builds(lambda m, e: f"{m}e{e}", st.integers(-(10**6), 10**6), ints()),
        st.decimals(min_value=-(10**20), max_value=10**20, places=4).map(str),
    )


def numbers() -> st.SearchStrategy[Decimal | int | str]:
    """What ``Money(amount, ...)`` takes: a ``Decimal``, an ``int`` or a ``str``."""
    return st.one_of(
        decimal_strings(),
        decimal_strings().map(_decimal_or_nan),
        ints(),
        st.decimals(allow_nan=True, allow_infinity=True),
    )


def _decimal_or_nan(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        return Decimal("NaN")


#: Currencies of every minor unit (0, 2, 3, 4 digits) and codes that are not currencies.
CURRENCIES: Final = ("CNY", "USD", "JPY", "KWD", "CLF", "EUR")
_BAD_CURRENCIES: Final = ("XXX", "cny", " CNY", "CNY ", "", "C\u202eNY", "\ud800", "ＣＮＹ")


def currencies() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(CURRENCIES), st.sampled_from(_BAD_CURRENCIES), strings(4))


def amounts(currency: str = "CNY") -> st.SearchStrategy[tuple[Decimal | int | str, str]]:
    """``(amount, currency)`` pairs for ``Money``: mostly the given currency."""
    return st.tuples(
        numbers(), st.one_of(st.just(currency), st.just(currency), st.just(currency), currencies())
    )


def money_dicts(currency: str = "CNY") -> st.SearchStrategy[dict[str, Any]]:
    """Money as a plan written as JSON holds it: ``{"amount": ..., "currency": ...}``."""
    return amounts(currency).map(lambda pair: {"amount": pair[0], "currency": pair[1]})


# -- time ----------------------------------------------------------------------------------

_ZONES: Final = (
    UTC,
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-12)),
    timezone(timedelta(hours=5, minutes=45)),
    timezone(timedelta(hours=23, minutes=59)),
    timezone(-timedelta(hours=23, minutes=59)),
)


def datetimes() -> st.SearchStrategy[datetime]:
    """Naive datetimes, aware ones in odd zones, and the far past and future."""
    edges = st.sampled_from(
        [
            datetime.min,
            datetime.max,
            datetime.min.replace(tzinfo=UTC),
            datetime.max.replace(tzinfo=UTC),
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=-12))),
            datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-14))),
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2026, 3, 1, 12, 0),  # the test clock's now, naive
            datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
            datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
        ]
    )
    return st.one_of(
        edges,
        st.datetimes(),  # naive
        st.datetimes(timezones=st.sampled_from(_ZONES)),
        st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)).map(
            lambda d: d.replace(tzinfo=UTC)
        ),
    )


def timedeltas() -> st.SearchStrategy[timedelta]:
    """Spans: zero, negative, a microsecond, the largest and smallest ``timedelta``."""
    return st.one_of(
        st.sampled_from(
            [
                timedelta(0),
                timedelta(microseconds=1),
                timedelta(microseconds=-1),
                timedelta(seconds=-1),
                timedelta(days=-30),
                timedelta(days=1),
                timedelta(days=30),
                timedelta(days=401),
                timedelta(days=10**6),
                timedelta.max,
                timedelta.min,
            ]
        ),
        st.timedeltas(),
    )


def expiries() -> st.SearchStrategy[timedelta | None]:
    return st.one_of(st.none(), timedeltas())


def periods() -> st.SearchStrategy[str]:
    """Period keys as ``close_period`` takes them, and ones it must refuse."""
    return st.one_of(
        st.sampled_from(
            [
                "",
                " ",
                "2026-03",
                "2026-02",
                "2026-Q1",
                "2026",
                "2026-13",
                "2026-00",
                "2026-Q0",
                "2026-Q5",
                "0000-01",
                "0001-01",
                "9999-12",
                "9999-Q4",
                "10000-01",
                "-2026-01",
                "2026-1",
                "2026-W01",
                "2026-03-01",
                "²⁰²⁶-03",
                "٢٠٢٦-٠٣",
                "2026-03\x00",
                "2026-03 ",
                "2026\u202e-03",
                "\ud800",
            ]
        ),
        strings(12),
        st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(-10, 12000), st.integers(-1, 14)),
        st.builds(lambda y, q: f"{y}-Q{q}", st.integers(-10, 12000), st.integers(-1, 6)),
    )


# -- network -------------------------------------------------------------------------------

_HOSTS: Final = (
    "shop.example.com",
    "SHOP.EXAMPLE.COM",
    "shop.example.com.",
    "cdn.shop.example.com",
    "shop.example.com.evil.test",
    "evilshop.example.com",
    "example.com",
    "xn--shp-qoa.example.com",
    "shöp.example.com",
    "shop\u3002example\u3002com",  # ideographic full stops
    "shop.example.com\u202e",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[fe80::1%25eth0]",
    "[2001:db8::1]",
    "127.0.0.1",
    "0x7f.1",
    "2130706433",
    "169.254.169.254",
    "0.0.0.0",
    "",
    "-shop.example.com",
    "a" * 64 + ".example.com",
    "localhost",
)
_USERINFO: Final = ("", "user@", "user:pass@", "shop.example.com@", "@", "%40@", "a\x00@")
_PORTS: Final = ("", ":443", ":0", ":65535", ":65536", ":99999999999999999999", ":", ":-1", ":٤٤٣")
_PATHS: Final = ("", "/", "/p/1", "/p?x=1#f", "/\u202e", "/%00", "\\@evil.test", "#@evil.test")
_SCHEMES: Final = ("https://", "HTTPS://", "http://", "javascript:", "JaVaScRiPt://", "//", "")
_URL_ATOMS: Final = (
    "javascript:alert(1)",
    "javascript://shop.example.com/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://shop.example.com\\@evil.test/",
    "https://evil.test#@shop.example.com/",
    "https://evil.test?@shop.example.com/",
    "https://shop.example.com:443@evil.test/",
    "https:shop.example.com/p",
    "https:///shop.example.com/",
    "https://" + "a" * 3000 + ".example.com/",
    "https://shop.example.com/" + "p" * 10_000,
    "file:///etc/passwd",
    "https://[::ffff:169.254.169.254]/latest/meta-data",
    "http://[::ffff:a9fe:a9fe]/",
    "https://sh\ud800p.example.com/",
    "https://shop.example.com/\udc80",
)


def urls() -> st.SearchStrategy[str]:
    """URLs put together from hostile parts: scheme, user-info, host, port, path."""
    built = st.builds(
        lambda *parts: "".join(parts),
        st.sampled_from(_SCHEMES),
        st.sampled_from(_USERINFO),
        st.sampled_from(_HOSTS),
        st.sampled_from(_PORTS),
        st.sampled_from(_PATHS),
    )
    return st.one_of(built, st.sampled_from(_URL_ATOMS), strings())


def domains() -> st.SearchStrategy[str]:
    """Landing domain patterns a campaign may be given."""
    hosts = st.sampled_from(_HOSTS)
    return st.one_of(hosts, hosts.map(lambda h: "*." + h), st.just("*."), st.just("*"), strings(12))


def ips() -> st.SearchStrategy[str]:
    """IP address text: IPv4, IPv6, IPv4-in-IPv6 forms, zone ids, and near-misses."""
    return st.one_of(
        st.sampled_from(
            [
                "203.0.113.7",
                "::1",
                "::ffff:203.0.113.7",
                "::ffff:cb00:7107",
                "0:0:0:0:0:ffff:cb00:7107",
                "::203.0.113.7",
                "64:ff9b::203.0.113.7",
                "2001:db8::1",
                "fe80::1%eth0",
                "[2001:db8::1]",
                "203.0.113.7:8080",
                "203.000.113.007",
                "0x7f.0.0.1",
                "2130706433",
                "1.2.3",
                "256.1.1.1",
                "١٢٣.١.١.١",
                "203.0.113.7\x00",
                " 203.0.113.7",
                "::ffff:999.0.0.1",
                ":::",
                "",
            ]
        ),
        st.ip_addresses().map(str),
        st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
        strings(16),
    )


# -- webhook signature headers ----------------------------------------------------------------

_HEADER_NAMES: Final = ("t", "v1", "v1", "v0", "T", "V1", " t", "t ", "", "v1 ", "\ud800")
_T_VALUES: Final = (
    "",
    "0",
    "-1",
    "+1",
    "1e3",
    "0x10",
    "²",
    "١٢٣",
    "１２３",
    "9" * 30,
    "9" * 5000,
    " 1",
    "1.5",
    "nan",
)


def headers(valid_t: int, valid_v1: str) -> st.SearchStrategy[str]:
    """``Affiliate-Signature`` values: real parts in odd orders, odd ``t=`` and ``v1=``."""
    t_value = st.one_of(
        st.just(str(valid_t)),
        st.sampled_from(_T_VALUES),
        ints().map(str),
        strings(8),
    )
    v_value = st.one_of(
        st.just(valid_v1),
        st.just(valid_v1.upper()),
        st.just(valid_v1[:-1]),
        st.text("0123456789abcdef", max_size=70),
        strings(8),
    )
    pair = st.one_of(
        st.tuples(st.just("t"), t_value),
        st.tuples(st.just("v1"), v_value),
        st.tuples(st.sampled_from(_HEADER_NAMES), st.one_of(t_value, v_value)),
    )
    separator = st.sampled_from(["=", "=", "=", "==", ":", ""])
    joined = st.lists(st.tuples(pair, separator), max_size=5).map(
        lambda items: ",".join(f"{name}{sep}{value}" for (name, value), sep in items)
    )
    return st.one_of(joined, strings(), st.sampled_from([",", ",,", "t=", "v1=", "t=,v1="]))


# -- commission plans -----------------------------------------------------------------------


def _rates() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["10%", "0%", "100%", "-5%", "150%", "NaN%", "1e999%", "²%", " 5 % ", "%"]),
        decimal_strings(),
        st.decimals(allow_nan=True, allow_infinity=True),
        ints(),
    )


def plans(currency: str = "CNY") -> st.SearchStrategy[dict[str, Any]]:
    """Plans as a host stores them (dicts), with negative, mis-currencied or huge amounts."""
    money = money_dicts(currency)
    override = st.fixed_dictionaries(
        {"match": st.fixed_dictionaries({}, optional={"sku": texts("sku-1")})},
        optional={
            "rate": _rates(),
            "flat_per_unit": money,
            "name": strings(12),
        },
    )
    band = st.fixed_dictionaries({"from": numbers(), "rate": _rates()}, optional={"to": numbers()})
    tiers = st.fixed_dictionaries(
        {"bands": st.lists(band, min_size=1, max_size=3)},
        optional={
            "mode": st.sampled_from(["marginal", "retroactive", "other"]),
            "currency": currencies(),
            "period": st.sampled_from(["month", "quarter", "year", "week"]),
        },
    )
    extras = {
        "flat": money,
        "per_click": money,
        "per_mille": money,
        "order_cap": money,
        "floor_rate": _rates(),
        "platform_take": _rates(),
        "parent_share": _rates(),
        "hold_days": ints(),
        "overrides": st.lists(override, max_size=2),
        "category_caps": st.dictionaries(texts("books"), _rates(), max_size=2),
        "tiers": tiers,
    }
    negative_unit = {"match": {}, "flat_per_unit": {"amount": "-5.00", "currency": currency}}
    return st.one_of(
        st.fixed_dictionaries({}, optional={"rate": _rates(), **extras}),
        st.fixed_dictionaries({"rate": st.just("10%")}, optional=extras),
        st.just({"rate": "10%", "overrides": [negative_unit]}),
        st.just(
            {
                "overrides": [
                    {**negative_unit, "flat_per_unit": {"amount": "1.00", "currency": "USD"}}
                ]
            }
        ),
    )
