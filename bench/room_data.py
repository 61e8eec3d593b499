"""A labelled set of supplier rooms for `hotelctl bench rooms`, from a seed.

Each hotel has 3-8 products (true room types) drawn with near misses side by side: twin beside double,
deluxe room beside deluxe suite, sea view beside city view, an accessible twin beside the plain one, one-
and two-bedroom apartments, "Grand Deluxe" beside "Deluxe". Two to four suppliers sell each hotel; each
supplier has its own way of writing a room (full English, upper-case abbreviations, Chinese, "Room, Deluxe,
1 King Bed" order, marketing words, mixed Chinese and English), sells most of the hotel's products, sometimes
one product under two codes (board variants), leaves things unsaid (the bed size, the view) now and then,
adds board, occupancy, smoking and rate-plan noise, and makes typos. The labels are the products; the names
are never built from one fixed template per label.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from core.rooms.grouping import RoomInput


@dataclass(frozen=True, slots=True)
class Product:
    kind: str            # room | suite | junior_suite | family | studio | apartment | villa
    tier: str            # standard | superior | deluxe | premium | executive | grand
    bed: str | None      # king | queen | double | twin | single | None (not part of the product's name)
    view: str | None
    accessible: bool = False
    bedrooms: int | None = None

    @property
    def room_class(self) -> str:
        if self.kind == "junior_suite":
            return "junior suite"
        if self.kind == "room":
            return "deluxe" if self.tier == "grand" else self.tier
        return self.kind

    @property
    def bed_type(self) -> str:
        return self.bed or "unknown"


@dataclass(frozen=True, slots=True)
class LabelledRoom:
    room: RoomInput
    product: int          # unique over the whole set: same value ⇔ same product
    room_class: str
    bed_type: str


EN_TIER = {"standard": ["Standard", "Standard", "Classic", "Std"], "superior": ["Superior", "Superior", "Sup."],
           "deluxe": ["Deluxe", "Deluxe", "De Luxe", "Dlx"], "premium": ["Premium", "Premier"],
           "executive": ["Executive", "Executive", "Club", "Exec."], "grand": ["Grand Deluxe"]}
AB_TIER = {"standard": ["STD", "ST", "STND"], "superior": ["SUP", "SUPR"], "deluxe": ["DLX", "DX", "DLX"],
           "premium": ["PREM", "PRM"], "executive": ["EXEC", "EXE"], "grand": ["GRAND DLX", "GRD DLX"]}
ZH_TIER = {"standard": ["标准", "标准", "普通"], "superior": ["高级"], "deluxe": ["豪华"], "premium": ["尊贵", "尊享"],
           "executive": ["行政"], "grand": ["特级豪华"]}
EN_BED = {"king": ["King", "King", "King Bed", "1 King Bed", "King-size"], "queen": ["Queen", "Queen", "1 Queen Bed"],
          "double": ["Double", "Double", "Double Bed", "Matrimonial"], "twin": ["Twin", "Twin", "2 Single Beds",
                                                                                 "Two Beds", "2 Twin Beds"],
          "single": ["Single", "1 Single Bed"]}
AB_BED = {"king": ["KG", "K", "KNG", "DBL"], "queen": ["QN", "Q", "DBL"], "double": ["DBL", "DBL", "DB"],
          "twin": ["TWN", "TW", "TWIN"], "single": ["SGL", "SNGL"]}
ZH_BED = {"king": ["大床", "大床", "大床", "特大床"], "queen": ["大床"], "double": ["大床", "双人床"],
          "twin": ["双床", "双床", "两张床"], "single": ["单人床", "单床"]}
EN_KIND = {"room": ["Room", "Room", "", "Guest Room"], "suite": ["Suite"], "junior_suite": ["Junior Suite", "Jr. Suite",
                                                                                          "Mini Suite"],
           "family": ["Family Room", "Family Suite", "Family"], "studio": ["Studio"],
           "apartment": ["Apartment", "Serviced Apartment"], "villa": ["Villa", "Private Villa"]}
AB_KIND = {"room": ["", "RM", "ROOM"], "suite": ["STE", "SUITE"], "junior_suite": ["JR STE", "JR SUITE"],
           "family": ["FAM", "FAMILY"], "studio": ["STUDIO"], "apartment": ["APT"], "villa": ["VILLA"]}
ZH_KIND = {"room": ["房", "房", "间"], "suite": ["套房"], "junior_suite": ["小套房", "迷你套房"],
           "family": ["家庭房", "亲子房"], "studio": ["开间"], "apartment": ["公寓"], "villa": ["别墅"]}
EN_VIEW = {"sea": ["Sea View", "Ocean View", "Seaview"], "city": ["City View", "City View"],
           "garden": ["Garden View"], "mountain": ["Mountain View"]}
AB_VIEW = {"sea": ["SV", "SEA VIEW", "OV"], "city": ["CV", "CITY VIEW"], "garden": ["GV", "GARDEN"],
           "mountain": ["MTN VIEW"]}
ZH_VIEW = {"sea": ["海景"], "city": ["城景", "市景"], "garden": ["园景"], "mountain": ["山景"]}
EN_BOARD = ["Room Only", "Breakfast Included", "with Breakfast", "B&B", "Half Board", "incl. breakfast", "RO", "BB",
            "Bed and Breakfast", "Double Breakfast"]
ZH_BOARD = ["含早", "含双早", "无早", "不含早", "含单早"]
EN_OCC = ["for 2", "2 Adults", "(2 pax)", "Double Occupancy", "max 3 guests", "Single Occupancy", "for 1 adult"]
ZH_OCC = ["双人", "2人入住", "单人"]
EN_NOISE = ["Non-Refundable", "Free Cancellation", "Special Offer", "- Best Available Rate", "Newly Renovated",
            "Spacious", "Cozy", "Non-Smoking", "Smoking", "High Floor", "Promo", "Member Rate", "Advance Purchase",
            "Stylish", "Elegant", "NRF", "Flexible Rate"]
ZH_NOISE = ["特价", "【促销】", "无烟", "不可取消", "高楼层", "新装修", "限时特惠", "【会员专享】"]
BOARDS = ["RO", "BB", "HB", "", "Room Only", "Breakfast"]


def _products(rng: random.Random) -> list[Product]:
    resort = rng.random() < 0.3
    products: list[Product] = []
    tiers = ["standard", "superior", "deluxe", "premium", "executive"]
    chosen = sorted(rng.sample(tiers, rng.randint(1, 3)), key=tiers.index)
    views = ["city", "sea"] if resort else ["city"]
    for tier in chosen:
        one_bed = rng.choice(["king", "queen", "double", "king"])
        products.append(Product("room", tier, one_bed, None))
        if rng.random() < 0.6:
            products.append(Product("room", tier, "twin", None))  # near miss: twin beside double
    if resort and rng.random() < 0.8:
        # near miss: the same room with sea and with city view
        base = rng.choice([p for p in products if p.kind == "room"])
        products = [p for p in products if p != base]
        products += [Product("room", base.tier, base.bed, "sea"), Product("room", base.tier, base.bed, "city")]
    elif rng.random() < 0.15:
        base = products[0]
        products.append(Product("room", base.tier, base.bed, rng.choice(views + ["garden", "mountain"])))
    if rng.random() < 0.1 and "deluxe" in chosen:
        products.append(Product("room", "grand", "king", None))  # near miss: Grand Deluxe beside Deluxe
    if rng.random() < 0.15:
        twin = next((p for p in products if p.bed == "twin"), None)
        if twin:
            products.append(Product("room", twin.tier, "twin", twin.view, accessible=True))
    extras = rng.random()
    if extras < 0.35:
        tier = "deluxe" if "deluxe" in chosen else rng.choice(["executive", "deluxe", "standard"])
        products.append(Product("suite", tier, rng.choice([None, None, "king"]), None))  # deluxe room vs suite
    elif extras < 0.55:
        products.append(Product("junior_suite", "standard", rng.choice([None, "king"]), None))
    if rng.random() < 0.25:
        products.append(Product("family", "standard", None, None))
    if rng.random() < 0.08:
        products.append(Product("studio", "standard", None, None))
    if rng.random() < 0.1:
        products += [Product("apartment", "standard", None, None, bedrooms=1),
                     Product("apartment", "standard", None, None, bedrooms=2)]
    if resort and rng.random() < 0.25:
        products.append(Product("villa", "standard", None, rng.choice([None, "garden", "sea"])))
    if rng.random() < 0.1:
        products.append(Product("room", "standard", "single", None))
    return products


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 5 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    edit = rng.random()
    if edit < 0.35:
        return word[:i] + word[i + 1:]
    if edit < 0.7:
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


class _Style:
    def __init__(self, code: str, flavour: str, rng: random.Random) -> None:
        self.code, self.flavour = code, flavour
        self.typo_rate = {"en": 0.03, "order": 0.03, "market": 0.04, "abbr": 0.0, "zh": 0.0, "mixed": 0.02}[flavour]
        self.says_bed = rng.uniform(0.85, 0.98)
        self.says_view = rng.uniform(0.8, 0.95)
        self.noise = rng.uniform(0.15, 0.5)
        self.must: set[str] = set()

    def _says(self, what: str, rng: random.Random) -> bool:
        return what in self.must or rng.random() < (self.says_bed if what == "bed" else self.says_view)

    def base_name(self, rng: random.Random, p: Product, sold: list[Product]) -> str:
        """A supplier's own list tells its rooms apart: it may leave the view, bed or tier unsaid only when it
        sells no room that differs from this one in just that."""
        others = [o for o in sold if o != p and o.kind == p.kind and o.accessible == p.accessible]
        self.must = set()
        if any(o.tier == p.tier and o.bed == p.bed and o.view != p.view for o in others):
            self.must.add("view")
        if any(o.tier == p.tier and o.bed != p.bed for o in others):
            self.must.add("bed")
        if any(o.tier != p.tier and o.bed == p.bed for o in others):
            self.must.add("tier")
        return self.name(rng, p)

    def with_noise(self, rng: random.Random, base: str) -> str:
        """The same room under a second code: another board or rate plan written beside the name."""
        if self.flavour in ("zh", "mixed"):
            return base + rng.choice(ZH_BOARD + ZH_NOISE)
        if self.flavour == "abbr":
            return base + " " + rng.choice(["RO", "BB", "HB", "NRF", "2AD", "FOR 2"])
        return base + rng.choice([" - ", " ", " with ", " | "]) + rng.choice(EN_BOARD + EN_NOISE)

    def _en(self, rng: random.Random, p: Product, tiers: dict, beds: dict, kinds: dict, views: dict) -> list[str]:
        tier = rng.choice(tiers[p.tier]) if p.tier != "standard" or p.kind == "room" else ""
        if p.kind == "room" and p.tier == "standard" and "tier" not in self.must and rng.random() < 0.15:
            tier = ""  # "Double Room": the standard one, unsaid
        bed = rng.choice(beds[p.bed]) if p.bed and self._says("bed", rng) else ""
        kind = rng.choice(kinds[p.kind])
        if p.kind == "apartment" and p.bedrooms:
            kind = f"{['', 'One', 'Two'][p.bedrooms]}-Bedroom {kind}" if rng.random() < 0.5 else \
                f"{kind} {p.bedrooms} Bedroom{'s' if p.bedrooms > 1 else ''}"
        view = rng.choice(views[p.view]) if p.view and self._says("view", rng) else ""
        words = [tier, bed, kind] if kind != "" or bed else [tier, bed]
        if p.kind != "room":
            words = [tier, kind, bed] if rng.random() < 0.5 else [tier, bed, kind]
        said = [w for w in words if w] or [rng.choice(kinds["room"][:2]) or "Room"]
        return said + ([view] if view else []) + (["Accessible"] if p.accessible else [])

    def name(self, rng: random.Random, p: Product) -> str:
        f = self.flavour
        if f in ("zh", "mixed"):
            view = rng.choice(ZH_VIEW[p.view]) if p.view and self._says("view", rng) else ""
            tier = rng.choice(ZH_TIER[p.tier]) if p.tier != "standard" or p.kind == "room" else ""
            bed = rng.choice(ZH_BED[p.bed]) if p.bed and self._says("bed", rng) else ""
            kind = rng.choice(ZH_KIND[p.kind])
            if p.kind == "apartment" and p.bedrooms:
                kind = ["", "一居室", "两居室"][p.bedrooms] + kind
            if p.kind == "room" and kind == "间" and bed != "双床":
                kind = "房"  # "标准间" is a twin room
            text = tier + view + bed + kind + ("(无障碍)" if p.accessible else "")
            if rng.random() < self.noise:
                text += rng.choice(ZH_BOARD + ZH_OCC + ZH_NOISE)
            if f == "mixed":
                english = " ".join(self._en(rng, p, EN_TIER, EN_BED, EN_KIND, EN_VIEW))
                text = f"{english} {text}" if rng.random() < 0.5 else f"{text} {english}"
            return text
        if f == "abbr":
            words = self._en(rng, p, AB_TIER, AB_BED, AB_KIND, AB_VIEW)
            if p.accessible:
                words[-1] = rng.choice(["ACC", "ACCESSIBLE", "ADA"])
            text = " ".join(words).upper()
            if rng.random() < self.noise:
                text += " " + rng.choice(["RO", "BB", "HB", "NRF", "2AD", "FOR 2", "NSMK"])
            return text
        words = self._en(rng, p, EN_TIER, EN_BED, EN_KIND, EN_VIEW)
        if f == "order" and len(words) > 1:
            # "Room, Deluxe, 1 King Bed, Sea View" / "King Deluxe Room"
            words = words[1:] + words[:1] if rng.random() < 0.5 else [words[-1], *words[:-1]]
        if f == "market" and rng.random() < 0.6:
            words.insert(0, rng.choice(["Spacious", "Cozy", "Elegant", "Modern", "Charming", "Newly Renovated",
                                        "Urban", "Tranquil", "Sunny", "Boutique", "Panoramic", "Artisan"]))
        words = [_typo(rng, w) if rng.random() < self.typo_rate else w for w in words]
        sep = ", " if f == "order" and rng.random() < 0.5 else " "
        text = sep.join(words)
        if rng.random() < self.noise:
            text += rng.choice([" - ", " ", " with ", " (", " | "]) + rng.choice(EN_BOARD + EN_OCC + EN_NOISE)
            if text.count("(") > text.count(")"):
                text += ")"
        return text


STYLES = (("A", "en"), ("B", "zh"), ("C", "order"), ("D", "abbr"), ("E", "market"), ("F", "mixed"))


def labelled_rooms(seed: int, rooms: int) -> list[LabelledRoom]:
    """About `rooms` labelled supplier rooms (whole hotels)."""
    rng = random.Random(seed)
    styles = [_Style(code, flavour, rng) for code, flavour in STYLES]
    out: list[LabelledRoom] = []
    product_base = 0
    hotel = 0
    while len(out) < rooms:
        hotel += 1
        hotel_id = f"H{seed % 1000:03d}{hotel:06d}"
        products = _products(rng)
        sellers = rng.sample(styles, rng.choice([2, 3, 3, 3, 4]))
        for style in sellers:
            codes = 0
            sold = [(i, p) for i, p in enumerate(products) if rng.random() < 0.8]
            for index, product in sold:
                name = style.base_name(rng, product, [p for _, p in sold])
                occupancy = 2 if product.kind == "room" else rng.choice([2, 3, 4, None])
                for copy in range(2 if rng.random() < 0.12 else 1):
                    codes += 1
                    room = RoomInput(style.code, hotel_id, f"{style.code}{hotel:06d}-{codes:02d}",
                                     style.with_noise(rng, name) if copy else name, rng.choice(BOARDS), occupancy)
                    out.append(LabelledRoom(room, product_base + index, product.room_class, product.bed_type))
        product_base += len(products)
    return out


def write_rooms_csv(rooms: list[LabelledRoom], directory) -> None:
    """rooms.csv in the `hotelctl match-rooms` input layout, and truth.csv (the product of each row)."""
    import csv
    from pathlib import Path

    from core.rooms.csvio import ROOM_COLUMNS

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "rooms.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ROOM_COLUMNS)
        for item in rooms:
            r = item.room
            writer.writerow((r.supplier_code, r.hotel_id, r.supplier_room_code, r.room_name, r.board or "",
                             r.max_occupancy or ""))
    with open(directory / "truth.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("supplier_code", "hotel_id", "supplier_room_code", "product", "room_class", "bed_type"))
        for item in rooms:
            r = item.room
            writer.writerow((r.supplier_code, r.hotel_id, r.supplier_room_code, item.product, item.room_class,
                             item.bed_type))
