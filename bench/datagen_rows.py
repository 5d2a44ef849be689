"""Deterministic rows of demo contacts and their events, one chunk of contacts at a time.

Everything drawn here comes from `random.Random` seeded by (seed, chunk number), and every
time is an offset from the fixed `REFERENCE_TIME`, so the same seed and chunk give the same
rows on every run (CPython's Mersenne Twister; see the pinned digest in the tests).
Rows are tuples in the column order of `CONTACT_COLUMNS` and `EVENT_COLUMNS`, ready for a
binary COPY.
"""

from __future__ import annotations

import json
import math
import random
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any

from bench import datagen_vocab as vocab

# The as-of time of the demo data: every event happens in the two years before it.
REFERENCE_TIME = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW_DAYS = 730
WINDOW_START = REFERENCE_TIME - timedelta(days=WINDOW_DAYS)
WINDOW_SECONDS = WINDOW_DAYS * 86400
# Contacts are generated (and seeded) in chunks of this size; changing it changes the data.
CHUNK_CONTACTS = 10_000

CONTACT_COLUMNS = (
    "id", "database_id", "external_id", "email", "phone", "push_token", "first_name",
    "last_name", "gender", "birth_date", "city", "region", "country", "language",
    "consent_email", "consent_sms", "consent_push", "attributes", "created_at", "updated_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "database_id", "contact_id", "event_type_id", "occurred_at", "value", "properties",
)  # fmt: skip

LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
TIER_FROM_EUROS = (300, 1000, 3000)  # lifetime value reaching silver, gold, platinum
VIP_FROM_EUROS = 2500  # lifetime value that makes a VIP (plus 1% chosen at random)
# Average events per contact of each stream at events_per_contact=10 (calibrated, see tests).
_ORDERS_BY_CLASS = (0.0, 0.9, 2.8, 9.0)  # none, occasional, regular, heavy buyers
_BUYER_CLASS_CUM = (0.45, 0.85, 0.97, 1.0)
_EMAIL_CAMPAIGNS_PER_CONTACT = 2.6
_SMS_PER_CONTACT = 0.9
_PUSH_PER_CONTACT = 1.2
_ECOMMERCE_PER_CONTACT = 2.0
_PAGES_PER_CONTACT = 1.4
# Seasonality of activity by month (sales in January and July, Black Friday, Christmas).
_MONTH_WEIGHT = (1.3, 0.9, 0.9, 1.0, 1.0, 1.0, 1.3, 0.8, 0.9, 1.0, 1.4, 1.5)
# Local hour-of-day activity (Europe/Rome is UTC+1 / +2; shifted by one hour below).
_HOUR_WEIGHT = (
    1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 4.5, 4.5,
    5, 5, 4.5, 4.5, 4.5, 5, 5.5, 6, 6, 5, 3.5, 2,
)  # fmt: skip
_ECOMMERCE_KINDS = (
    ("product_viewed", 55), ("category_viewed", 15), ("cart_added", 12),
    ("wishlist_added", 7), ("cart_abandoned", 8), ("product_reviewed", 3),
)  # fmt: skip
_LINES_CUM = (45, 72, 87, 96, 100)  # 1..5 lines per order
_DISCOUNTS = ((100, 70), (80, 15), (70, 10), (50, 5))  # percent of list price, weight


def _ascii(text: str) -> str:
    """Lower-case ASCII letters of a name, for e-mail addresses."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _cum(weights: list[float] | tuple[float, ...]) -> list[float]:
    return list(accumulate(weights))


class _Weighted:
    """A weighted choice by bisection over cumulative weights."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs: list[tuple[Any, float]] | tuple[tuple[Any, float], ...]) -> None:
        self.items = [item for item, _ in pairs]
        self.cum = _cum([w for _, w in pairs])
        self.total = self.cum[-1]

    def pick(self, rng: random.Random) -> Any:
        return self.items[bisect_right(self.cum, rng.random() * self.total)]


def _cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class _Campaign:
    """A message sent on one day to a sample of contacts: its send offset and JSON."""

    at: int  # seconds from WINDOW_START
    props: str  # JSON properties of sent/delivered/opened events
    click_props: tuple[str, ...]  # JSON properties of clicks, one per link category


class World:
    """The fixed parts of one demo data set: vocabularies as weighted choices and campaigns."""

    def __init__(self, seed: int, event_type_ids: dict[str, int], events_per_contact: float):
        rng = random.Random(f"{seed}:world")
        self.type_id = event_type_ids
        self.scale = events_per_contact / 10.0
        self.cities = _Weighted([(c[:4], c[4]) for c in vocab.CITIES])
        self.domains = {k: _Weighted(v) for k, v in vocab.EMAIL_DOMAINS.items()}
        self.first_names = {k: (v[0], v[1], v[0] + v[1]) for k, v in vocab.FIRST_NAMES.items()}
        given = [f + m for f, m in vocab.FIRST_NAMES.values()]
        self.ascii_names = {
            name: _ascii(name) for names in [*vocab.LAST_NAMES.values(), *given] for name in names
        }
        self.categories = _Weighted(list(vocab.CATEGORY_WEIGHTS.items()))
        # product -> (name, category, list price cents, JSON of {"product", "category"})
        self.products = {
            category: [
                (name, category, price, json.dumps({"product": name, "category": category}))
                for name, price in items
            ]
            for category, items in vocab.PRODUCTS.items()
        }
        self.category_props = {c: json.dumps({"category": c}) for c in vocab.PRODUCTS}
        self.stores = _Weighted([((s, ch, json.dumps(s)), w) for s, ch, w in vocab.STORES])
        self.discounts = _Weighted(_DISCOUNTS)
        self.ecommerce = _Weighted(_ECOMMERCE_KINDS)
        self.pages = _Weighted(
            [(json.dumps({"url": u, "page_category": c, "referrer": r}), pw * rw)
             for u, c, pw in vocab.PAGES for r, rw in vocab.REFERRERS]
        )  # fmt: skip
        self.links = _Weighted([(i, w) for i, (_, w) in enumerate(vocab.LINK_CATEGORIES)])
        days = [
            _MONTH_WEIGHT[(WINDOW_START + timedelta(days=d)).month - 1]
            * (0.8 if (WINDOW_START + timedelta(days=d)).weekday() == 6 else 1.0)
            for d in range(WINDOW_DAYS)
        ]
        self.day_cum = _cum(days)
        self.hours = _Weighted([((h - 1) % 24, w) for h, w in enumerate(_HOUR_WEIGHT)])
        self.email = self._campaigns(rng, "E", vocab.EMAIL_SUBJECTS, every_days=3.5, hour=8)
        self.sms = self._campaigns(rng, "S", vocab.SMS_TEXTS, every_days=30, hour=10)
        self.push = self._campaigns(rng, "P", vocab.PUSH_TEXTS, every_days=10, hour=17)

    def _campaigns(
        self, rng: random.Random, prefix: str, texts: tuple[str, ...], every_days: float, hour: int
    ) -> tuple[list[_Campaign], list[int]]:
        """Campaigns at a regular pace over the window, each with a delivery id and a subject."""
        campaigns = []
        for n in range(int(WINDOW_DAYS / every_days)):
            day = int(n * every_days) + rng.randrange(2)
            at = day * 86400 + hour * 3600 + rng.randrange(1800)
            sent = WINDOW_START + timedelta(seconds=at)
            delivery_id = f"{prefix}{sent:%Y%m%d}-{n + 1:03d}"
            base = {"delivery_id": delivery_id, "subject": rng.choice(texts)}
            clicks = tuple(
                json.dumps(
                    base
                    | {
                        "link_category": link,
                        "url": f"https://shop.example.it/{link}?utm_campaign={delivery_id}",
                    }
                )
                for link, _ in vocab.LINK_CATEGORIES
            )
            campaigns.append(_Campaign(at=at, props=json.dumps(base), click_props=clicks))
        return campaigns, [c.at for c in campaigns]

    def time_after(self, rng: random.Random, lo: int) -> int:
        """A seasonal, daytime-weighted second offset in [lo, WINDOW_SECONDS)."""
        cum = self.day_cum
        lo_day = lo // 86400
        base = cum[lo_day - 1] if lo_day else 0.0
        day = bisect_right(cum, base + rng.random() * (cum[-1] - base))
        day = min(day, WINDOW_DAYS - 1)
        at = day * 86400 + self.hours.pick(rng) * 3600 + rng.randrange(3600)
        if at < lo:
            at = lo + rng.randrange(3600)
        return min(at, WINDOW_SECONDS - 1)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth; means here are small)."""
    if mean <= 0:
        return 0
    if mean > 60:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _birth_date(rng: random.Random) -> date | None:
    """Ages 18-90 at REFERENCE_TIME, most between 25 and 55; some born on 29 February."""
    ref = REFERENCE_TIME.date()
    u = rng.random()
    if u < 0.04:
        return None
    if u < 0.045:
        leap_years = [y for y in range(ref.year - 90, ref.year - 17) if y % 4 == 0]
        born = date(rng.choice(leap_years), 2, 29)
        if _age(born, ref) < 18:
            born = date(born.year - 4, 2, 29)
        return born
    age = 18 + min(72, int(rng.triangular(0, 73, 17)))
    # Born after ref minus (age + 1) years and on or before ref minus age years.
    oldest = ref.replace(year=ref.year - age - 1) + timedelta(days=1)
    newest = ref.replace(year=ref.year - age)
    return oldest + timedelta(days=rng.randrange((newest - oldest).days + 1))


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def build_chunk(
    world: World, *, seed: int, chunk_no: int, count: int, ids: list[int], database_id: int
) -> tuple[list[tuple], list[tuple]]:
    """The contact rows and event rows of contacts chunk_no*CHUNK_CONTACTS+1 ... +count."""
    rng = random.Random(f"{seed}:{chunk_no}")
    contacts: list[tuple] = []
    events: list[tuple] = []
    first = chunk_no * CHUNK_CONTACTS + 1
    for i in range(count):
        contacts.append(_contact(world, rng, first + i, ids[i], database_id, events))
    return contacts, events


def _contact(
    w: World, rng: random.Random, number: int, contact_id: int, database_id: int, events: list
) -> tuple:
    """One contact row; its events are appended to `events`."""
    r = rng.random
    city, region, country, language = w.cities.pick(rng)
    u = r()
    gender = "F" if u < 0.52 else "M" if u < 0.975 else "X" if u < 0.99 else None
    females, males, anyone = w.first_names[language]
    first_name = rng.choice(females if gender == "F" else males if gender == "M" else anyone)
    last_name = rng.choice(vocab.LAST_NAMES[language])
    if r() < 0.03:
        language = "en"
    birth_date = _birth_date(rng)

    email = phone = push_token = None
    if r() < 0.88:
        f, last = w.ascii_names[first_name], w.ascii_names[last_name]
        style = rng.randrange(5)
        local = (
            f"{f}.{last}",
            f"{f}{last}{rng.randrange(100)}",
            f"{f[0]}{last}{rng.randrange(1000)}",
            f"{f}.{last}{(birth_date or REFERENCE_TIME).year % 100:02d}",
            f"{f}_{last}{rng.randrange(10, 10000)}",
        )[style]
        email = f"{local}@{w.domains[country].pick(rng)}"
    if r() < 0.72:
        digits = rng.randrange(100_000_000, 1_000_000_000)
        phone = f"+393{digits}" if country == "IT" else f"{vocab.PHONE_PREFIX[country]}{digits}"
    if r() < 0.33:
        push_token = f"{rng.getrandbits(256):064x}"
    consent_email = email is not None and r() < 0.72
    consent_sms = phone is not None and r() < 0.55
    consent_push = push_token is not None and r() < 0.8

    # Customers from before the window (most) or acquired during it.
    if r() < 0.65:
        created = -rng.randrange(86400, 4 * 365 * 86400)
    else:
        created = rng.randrange(0, WINDOW_SECONDS - 7 * 86400)
    lo = max(0, created)
    engagement = rng.lognormvariate(0, 0.8) / 1.3771  # mean 1
    favourites = [w.categories.pick(rng) for _ in range(1 + (r() < 0.5))]
    u = r()
    buyer = bisect_left(_BUYER_CLASS_CUM, u)

    emit = _Emitter(w, rng, database_id, contact_id, events)
    orders = _orders(emit, number, buyer, lo, favourites)
    s = w.scale * (WINDOW_SECONDS - lo) / WINDOW_SECONDS
    if consent_email:
        _messages(emit, w.email, _EMAIL_CAMPAIGNS_PER_CONTACT * s, lo, engagement, "email")
    if consent_sms:
        _messages(emit, w.sms, _SMS_PER_CONTACT * s, lo, engagement, "sms")
    if consent_push:
        _messages(emit, w.push, _PUSH_PER_CONTACT * s, lo, engagement, "push")
    _ecommerce(emit, _poisson(rng, _ECOMMERCE_PER_CONTACT * s * engagement), lo, favourites)
    for _ in range(_poisson(rng, _PAGES_PER_CONTACT * s * engagement)):
        emit.event("page_visited", w.time_after(rng, lo), None, w.pages.pick(rng), active=True)

    attributes = _attributes(rng, orders, favourites, emit.last_seen)
    created_at = WINDOW_START + timedelta(seconds=created)
    updated = max(created, emit.last_seen if emit.last_seen is not None else created)
    return (
        contact_id, database_id, f"C{number:08d}", email, phone, push_token, first_name,
        last_name, gender, birth_date, city, region, country, language, consent_email,
        consent_sms, consent_push, json.dumps(attributes), created_at,
        WINDOW_START + timedelta(seconds=updated),
    )  # fmt: skip


class _Emitter:
    """Appends event rows of one contact and remembers its last active moment."""

    __slots__ = ("contact_id", "database_id", "events", "last_seen", "rng", "w")

    def __init__(
        self, w: World, rng: random.Random, database_id: int, contact_id: int, events: list
    ):
        self.w, self.rng, self.events = w, rng, events
        self.database_id, self.contact_id = database_id, contact_id
        self.last_seen: int | None = None

    def event(
        self, key: str, at: int, value: str | None, props: str, *, active: bool = False
    ) -> None:
        self.events.append(
            (
                self.database_id,
                self.contact_id,
                self.w.type_id[key],
                WINDOW_START + timedelta(seconds=at),
                value,
                props,
            )
        )
        if active and (self.last_seen is None or at > self.last_seen):
            self.last_seen = at


@dataclass
class _Orders:
    """What a contact's orders add up to, for its attributes."""

    count: int = 0
    total_cents: int = 0
    first_at: int | None = None
    stores: dict[str, int] | None = None


def _pick_product(w: World, rng: random.Random, favourites: list[str]) -> tuple:
    category = rng.choice(favourites) if rng.random() < 0.6 else w.categories.pick(rng)
    return rng.choice(w.products[category])


def _orders(emit: _Emitter, number: int, buyer: int, lo: int, favourites: list[str]) -> _Orders:
    """Orders (value = order total) each with 1-5 lines (value = quantity x price)."""
    w, rng = emit.w, emit.rng
    mean = _ORDERS_BY_CLASS[buyer] * w.scale * (WINDOW_SECONDS - lo) / WINDOW_SECONDS
    n = min(_poisson(rng, mean), 99)
    summary = _Orders(stores={})
    for k in range(n):
        at = w.time_after(rng, lo)
        order_id = f"O{number:08d}{k:02d}"
        store, channel, store_json = w.stores.pick(rng)
        discount = w.discounts.pick(rng)
        lines = bisect_left(_LINES_CUM, rng.randrange(100) + 1) + 1
        total = items = 0
        for _ in range(lines):
            _, _, list_price, product_json = _pick_product(w, rng, favourites)
            quantity = 1 if rng.random() < 0.82 else 2 if rng.random() < 0.8 else 3
            price = list_price * discount // 100
            amount = quantity * price
            total += amount
            items += quantity
            if channel in ("online", "app") and rng.random() < 0.5:
                before = max(lo, at - rng.randrange(60, 3600))
                emit.event("cart_added", before, _cents(price), product_json)
            props = (
                f'{{"order_id": "{order_id}", {product_json[1:-1]}, '
                f'"quantity": {quantity}, "price": {_cents(price)}}}'
            )
            emit.event("purchase_line", at, _cents(amount), props)
        props = (
            f'{{"order_id": "{order_id}", "store": {store_json}, '
            f'"channel": "{channel}", "items": {items}}}'
        )
        emit.event("purchase", at, _cents(total), props, active=True)
        summary.count += 1
        summary.total_cents += total
        summary.stores[store] = summary.stores.get(store, 0) + 1
        if summary.first_at is None or at < summary.first_at:
            summary.first_at = at
    return summary


def _messages(
    emit: _Emitter,
    campaigns: tuple[list[_Campaign], list[int]],
    mean: float,
    lo: int,
    engagement: float,
    channel: str,
) -> None:
    """A sample of the campaigns sent after `lo`, with the funnel of each message."""
    rng = emit.rng
    items, times = campaigns
    start = bisect_left(times, lo)
    if start >= len(items):
        return
    picks = sorted({rng.randrange(start, len(items)) for _ in range(_poisson(rng, mean))})
    p_open = min(0.9, 0.3 * engagement)
    for index in picks:
        c = items[index]
        emit.event(f"{channel}_sent", c.at, None, c.props)
        if channel == "push":
            if rng.random() < p_open * 0.6:
                at = c.at + int(rng.expovariate(1 / 1800)) + 5
                if at < WINDOW_SECONDS:
                    emit.event("push_opened", at, None, c.props, active=True)
            continue
        if channel == "email" and rng.random() < 0.02:
            emit.event("email_bounced", c.at + rng.randrange(5, 600), None, c.props)
            continue
        delivered = c.at + rng.randrange(2, 300)
        emit.event(f"{channel}_delivered", delivered, None, c.props)
        if channel != "email" or rng.random() >= p_open:
            continue
        opened = delivered + int(rng.expovariate(1 / 14400)) + 10
        if opened >= WINDOW_SECONDS:
            continue
        emit.event("email_opened", opened, None, c.props, active=True)
        if rng.random() < 0.3:
            clicked = opened + rng.randrange(5, 900)
            if clicked < WINDOW_SECONDS:
                link = emit.w.links.pick(rng)
                emit.event("email_clicked", clicked, None, c.click_props[link], active=True)


def _ecommerce(emit: _Emitter, n: int, lo: int, favourites: list[str]) -> None:
    """Browsing and cart events: views, wishlist, reviews, carts added then abandoned."""
    w, rng = emit.w, emit.rng
    for _ in range(n):
        kind = w.ecommerce.pick(rng)
        at = w.time_after(rng, lo)
        _, category, price, product_json = _pick_product(w, rng, favourites)
        if kind == "category_viewed":
            emit.event(kind, at, None, w.category_props[category], active=True)
        elif kind == "cart_abandoned":
            cart = 0
            for step in range(1 + rng.randrange(3)):
                if step:
                    _, _, price, product_json = _pick_product(w, rng, favourites)
                cart += price
                emit.event("cart_added", max(lo, at - rng.randrange(60, 1800)), _cents(price),
                           product_json, active=True)  # fmt: skip
            emit.event(kind, at, _cents(cart), "{}")
        elif kind == "cart_added":
            emit.event(kind, at, _cents(price), product_json, active=True)
        elif kind == "product_reviewed":
            rating = 5 - bisect_left((45, 75, 88, 95, 100), rng.randrange(100) + 1)
            props = f'{{{product_json[1:-1]}, "rating": {rating}}}'
            emit.event(kind, at, None, props, active=True)
        else:
            emit.event(kind, at, None, product_json, active=True)


def _attributes(
    rng: random.Random, orders: _Orders, favourites: list[str], last_seen: int | None
) -> dict[str, Any]:
    """The custom typed attributes (see CUSTOM_FIELDS in bench.datagen); some are absent."""
    attributes: dict[str, Any] = {}
    euros = orders.total_cents // 100
    if orders.count or rng.random() < 0.5:
        tier = bisect_right(TIER_FROM_EUROS, euros)
        attributes["loyalty_tier"] = LOYALTY_TIERS[tier]
        attributes["points"] = euros + rng.randrange(0, 250)
    if rng.random() < 0.75:
        attributes["interests"] = sorted(set(favourites))
    attributes["vip"] = euros >= VIP_FROM_EUROS or rng.random() < 0.01
    if last_seen is not None:
        attributes["last_seen"] = (WINDOW_START + timedelta(seconds=last_seen)).isoformat()
    if orders.count:
        attributes["lifetime_value"] = float(_cents(orders.total_cents))
        first = WINDOW_START + timedelta(seconds=orders.first_at or 0)
        attributes["first_purchase_date"] = first.date().isoformat()
        stores = orders.stores or {}
        attributes["favourite_store"] = max(sorted(stores), key=stores.__getitem__)
    return attributes
