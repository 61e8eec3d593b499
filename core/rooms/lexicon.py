"""The words supplier room names are made of, English (with abbreviations) and Chinese.

Each surface form maps to one meaning `(field, value)`:
- kind: room, suite, junior_suite, family, studio, apartment, villa, other (kinds override each other by
  KIND_RANK: "Family Suite" is a family room, "Junior Suite" a junior suite);
- tier: standard, superior, deluxe, premium, executive, presidential (the highest wins: "Premium Deluxe");
- bed: king, queen, double (one bed of unstated size: "Double", 大床), twin, single, other;
- view, feature, subtype: what makes two rooms of one class different products (sea view, balcony,
  accessible, a loft, a tatami room ...);
- smoking: an attribute only; noise: board, occupancy, rate plan and marketing words, dropped.
Phrases (several words) are matched before single words, so "bed and breakfast" or "double occupancy"
never read as a bed.
"""

from __future__ import annotations

Meaning = tuple[str, str]

KIND_RANK = {"room": 0, "suite": 1, "junior_suite": 2, "other": 3, "apartment": 4, "family": 5, "studio": 6,
             "villa": 7}
TIER_RANK = {"standard": 0, "economy": 1, "comfort": 2, "superior": 3, "deluxe": 4, "premium": 5, "executive": 6,
             "presidential": 7}
# tiers that are products of their own but not classes of their own
TIER_CLASS = {"economy": "standard", "comfort": "superior", "presidential": "premium"}
BED_SPECIFIC = {"king", "queen", "twin", "single", "other", "flex"}

# Spanish, French, German and Italian words beside the English ones (accents are dropped before lookup)
_EUROPEAN: dict[str, tuple[str, ...]] = {
    "tier:standard": ("estandar", "standar", "classique", "clasica", "clasico", "normale"),
    "tier:superior": ("superieure", "superieur", "superiore"),
    "tier:deluxe": ("luxe", "lujo"),
    "tier:comfort": ("komfort", "confort"),
    "kind:room": ("habitacion", "habitaciones", "chambre", "chambres", "zimmer", "camera", "camere", "quarto"),
    "kind:family": ("familiar", "familiale", "familienzimmer", "familiare", "famille"),
    "bed:double": ("doble", "doppelzimmer", "doppia", "matrimoniale", "matrimonio", "doppel", "casal"),
    "bed:single": ("individual", "simple", "einzelzimmer", "singola", "einzel"),
    "bed:twin": ("zweibettzimmer", "jumeaux", "gemelas", "twinbettzimmer"),
    "bed:other": ("triple", "triplo", "dreibettzimmer", "cuadruple", "quadrupla"),
    "view:sea": ("mar", "mer", "meerblick", "mare", "meer"),
    "view:city": ("ciudad", "ville", "stadtblick", "citta"),
    "view:garden": ("jardin", "gartenblick", "giardino"),
    "view:mountain": ("montana", "montagne", "bergblick", "montagna"),
}
_EUROPEAN_NOISE = ("con", "al", "avec", "mit", "vista", "vue", "blick", "de", "del", "la", "le", "les", "el", "y", "et",
                   "und", "e", "uso", "desayuno", "incluido", "petit", "dejeuner", "inclus", "fruhstuck", "colazione",
                   "inclusa", "solo", "alojamiento", "persona", "personas", "personnes", "personen", "dos", "deux",
                   "zwei", "due", "camas", "lits", "betten", "letti", "cama", "lit", "bett", "letto", "nicht",
                   "erstattbar", "no", "reembolsable")

_WORDS: dict[str, tuple[str, ...]] = {
    # tiers
    "tier:standard": ("standard", "std", "stnd", "stdr", "st", "classic", "regular", "normal", "moderate"),
    "tier:economy": ("economy", "eco", "econ", "budget", "basic"),
    "tier:comfort": ("comfort", "comfortable", "cmf"),
    "tier:superior": ("superior", "sup", "supr", "sup'r", "superieur", "sgr"),
    "tier:deluxe": ("deluxe", "dlx", "dx", "delux", "dlux", "luxury", "lux", "dlxe"),
    "tier:premium": ("premium", "prem", "premier", "prm", "prestige", "signature"),
    "tier:executive": ("executive", "exec", "exe", "exc", "club", "business"),
    "tier:presidential": ("presidential", "president", "pres"),
    # kinds
    "kind:room": ("room", "rooms", "rm", "guestroom", "guestrooms", "chamber", "accommodation", "unit",
                  "bedroomed", "cabin"),
    "kind:suite": ("suite", "suites", "ste"),
    "kind:junior_suite": ("juniorsuite", "jrsuite", "minisuite"),
    "junior": ("junior", "jr", "jnr", "mini", "semi"),
    "kind:family": ("family", "fam", "familyroom", "kids"),
    "kind:studio": ("studio", "studios", "stu"),
    "kind:apartment": ("apartment", "apartments", "apt", "apts", "appartment", "aparment", "flat", "residence"),
    "kind:villa": ("villa", "villas", "bungalow", "bungalows", "cottage", "chalet"),
    "subtype:loft": ("loft", "duplex", "maisonette"),
    "subtype:japanese": ("tatami", "japanese", "washitsu", "ryokan"),
    "subtype:dorm": ("dorm", "dormitory", "hostel", "capsule", "pod", "bunk", "bunkbed"),
    "subtype:small": ("small", "compact", "petite", "cosy", "snug"),
    "subtype:roh": ("roh",),
    "subtype:honeymoon": ("honeymoon", "bridal", "romantic"),
    "subtype:penthouse": ("penthouse",),
    "subtype:grand": ("grand", "grd"),
    "subtype:royal": ("royal", "imperial", "ambassador", "governor", "chairman", "diplomatic"),
    # beds
    "bed:king": ("king", "kg", "kng", "k", "kingsize", "kingbed", "superking"),
    "bed:queen": ("queen", "qn", "q", "queensize", "queenbed"),
    "bed:double": ("double", "dbl", "dble", "db", "doubles", "matrimonial", "dbe"),
    "bed:twin": ("twin", "twn", "tw", "twins", "twinbed", "twinbeds"),
    "bed:single": ("single", "sgl", "sngl", "sgle", "sng", "singles"),
    "bed:other": ("triple", "tpl", "trpl", "trp", "tripple", "quad", "quadruple", "qdr", "round"),
    # views
    "view:sea": ("sea", "ocean", "seaview", "oceanview", "oceanfront", "seafront", "beachfront", "beach", "sv",
                 "ov", "seaside", "oceanside"),
    "view:city": ("city", "cityview", "skyline", "cv"),
    "view:garden": ("garden", "gardenview", "gv", "courtyard", "yard"),
    "view:pool": ("pool", "poolview", "poolside", "pv", "plunge"),
    "view:mountain": ("mountain", "mountainview", "mtn", "mv", "hill", "hills"),
    "view:river": ("river", "riverview", "riverside", "rv"),
    "view:lake": ("lake", "lakeview", "lakeside", "lv"),
    "view:park": ("park", "parkview"),
    "view:harbour": ("harbour", "harbor", "bay", "marina"),
    "feature:windowless": ("windowless", "interior", "inside"),
    "feature:balcony": ("balcony", "balconies", "terrace", "patio", "veranda"),
    "feature:accessible": ("accessible", "accessibility", "disabled", "disability", "wheelchair", "handicap",
                           "handicapped", "mobility", "ada", "acc", "hearing"),
    "feature:shared_bath": ("sharedbath", "sharedbathroom"),
    "feature:connecting": ("connecting", "interconnecting", "adjoining", "communicating"),
    "feature:jacuzzi": ("jacuzzi", "whirlpool", "hottub", "spa", "onsen"),
    # smoking (an attribute, not a product)
    "smoking:non": ("nonsmoking", "nonsmoke", "smokefree", "ns", "nosmoking", "nsmk", "nonsmk", "nsm"),
    "smoking:yes": ("smoking", "smoke", "smoker", "smk"),
    # bedrooms (a number before it is the count)
    "bedroom": ("bedroom", "bedrooms", "br", "bdr", "bdrm", "bdrms", "bed-room", "bedrm"),
    "beds": ("bed", "beds", "bedded"),
}

# (the first pass drops these phrases, so "Twin - Double Breakfast" keeps its twin)
_NOISE = (
    # board
    "breakfast", "breakfasts", "bkfst", "bfast", "brkfst", "brkf", "bb", "bnb", "hb", "fb", "ai", "ro", "half", "full",
    "board", "inclusive", "meal", "meals", "nomeal", "dinner", "lunch", "incl", "included", "including", "inc",
    "continental", "buffet", "american", "daily",
    # occupancy
    "adult", "adults", "pax", "person", "persons", "people", "guest", "guests", "ppl", "occupancy", "sleeps", "max",
    "maximum", "up", "child", "children", "kid", "occ", "sharing", "ad", "ads", "chd",
    # rate plans, marketing, filler
    "nonrefundable", "nonref", "nrf", "refundable", "nonrefund", "free", "cancellation", "cancel", "flexible", "flex",
    "bar", "promo", "promotion", "promotional", "special", "offer", "deal", "deals", "sale", "hot", "best", "rate",
    "rates", "price", "available", "advance", "purchase", "early", "bird", "member", "members", "package",
    "exclusive", "limited", "new", "newly", "renovated", "refurbished", "cozy", "spacious", "elegant",
    "modern", "charming", "stylish", "lovely", "beautiful", "bright", "quiet", "large", "big", "mixed", "female",
    "male", "roll", "kitchenette", "kitchen", "ensuite", "en", "suite-bathroom",
    "high", "higher", "low", "floor", "level", "size", "sofa", "sofabed", "extra", "wifi", "internet", "parking",
    "view", "views", "facing", "non", "no", "with", "w", "and", "or", "the", "a", "an", "of", "in", "at", "on", "to",
    "for", "plus", "x", "only", "type", "category", "prepaid", "pay", "now", "later", "hotel", "bathroom",
    "shower", "bath", "bathtub", "tub", "access", "lounge", "benefits", "wing", "tower", "building", "main",
    "annex", "side", "partial", "partly", "part", "use", "without", "by", "from", "sqm", "m2", "m²", "area",
    "nr", "private", "one", "two", "three", "four", "1", "2", "3", "4", "5", "6",
)

NUMBERS = {"1": 1, "one": 1, "2": 2, "two": 2, "3": 3, "three": 3, "4": 4, "four": 4, "5": 5, "five": 5,
           "6": 6, "six": 6}

# phrases matched on the token sequence before single words
_PHRASES: dict[str, tuple[str, ...]] = {
    "noise": ("bed and breakfast", "b and b", "room only", "no meals", "all inclusive", "half board", "full board",
              "breakfast included", "with breakfast", "double breakfast", "single breakfast",
              "double occupancy", "single occupancy", "triple occupancy", "single use", "for single use",
              "sole use", "non refundable", "private bathroom", "private bath", "en suite", "ensuite bathroom",
              "free cancellation", "best available rate", "sofa bed", "extra bed", "rollaway bed", "city centre",
              "city center", "near city"),
    "bed:double": ("double single use", "french bed", "queen or king"),
    "bed:king": ("king size", "california king", "super king", "king bed", "king beds"),
    "bed:queen": ("queen size", "queen bed"),
    "bed:flex": ("double or twin", "twin or double", "double twin", "twin double", "king or twin", "twin or king",
                 "queen or twin", "twin or queen", "king twin", "twin king"),
    "kind:junior_suite": ("junior suite", "jr suite", "jnr suite", "mini suite", "semi suite", "junior ste",
                          "jr ste"),
    "kind:room": ("guest room",),
    "subtype:roh": ("run of house",),
    "feature:shared_bath": ("shared bathroom", "shared bath", "shared toilet", "shared shower", "shared facilities",
                            "communal bathroom"),
    "feature:accessible": ("roll in shower", "roll in", "mobility accessible"),
    "smoking:non": ("non smoking", "no smoking", "smoke free", "non smoker", "smoking free"),
    "view:partial_sea": ("partial sea", "partial ocean", "side sea", "side ocean", "partial sea view",
                         "partial ocean view", "partly sea", "partial seaview", "partial oceanview"),
    "tier:deluxe": ("de luxe", "de lujo"),
    "bed:twin": ("dos camas", "deux lits", "lits jumeaux", "camas separadas", "zwei betten", "due letti",
                 "twin beds"),
    "feature:windowless": ("no window", "without window", "no windows", "inner room"),
}

# Chinese (and a few Japanese) forms, matched longest first inside runs of Han characters
_CHINESE: dict[str, tuple[str, ...]] = {
    "tier:standard": ("标准", "标间", "普通", "基础"),
    "tier:economy": ("经济", "特价房", "简约"),
    "tier:comfort": ("舒适",),
    "tier:superior": ("高级", "优选", "精选", "优享"),
    "tier:deluxe": ("豪华", "奢华"),
    "tier:premium": ("尊贵", "尊享", "臻选", "至尊", "高端", "精致", "超豪华"),
    "tier:executive": ("行政", "商务", "俱乐部"),
    "tier:presidential": ("总统",),
    "kind:suite": ("套房", "套间", "套"),
    "kind:junior_suite": ("小套房", "迷你套房", "半套房", "初级套房", "小套", "迷你套"),
    "kind:family": ("家庭", "亲子", "儿童"),
    "kind:studio": ("开间", "单间公寓"),
    "kind:apartment": ("公寓", "服务式公寓", "一居室", "两居室", "三居室", "二居室"),
    "bedroom": ("卧室", "一室一厅", "两室一厅", "二室一厅", "三室一厅", "两室两厅", "三室两厅"),
    "kind:villa": ("别墅", "独栋", "小屋"),
    "subtype:loft": ("复式", "跃层"),
    "subtype:japanese": ("和室", "榻榻米", "日式"),
    "subtype:dorm": ("床位", "宿舍", "胶囊", "多人间", "上下铺"),
    "subtype:honeymoon": ("蜜月", "情侣", "浪漫"),
    "subtype:grand": ("特级",),
    "bed:king": ("特大床", "超大床", "加大床"),
    "bed:double": ("大床", "双人床"),
    "bed:twin": ("双床", "两张床", "双单床", "双大床", "2张床", "二张床"),
    "bed:single": ("单人床", "单床", "单人间"),
    "bed:other": ("三人间", "三床", "圆床", "四人间"),
    "bed:flex": ("大床或双床", "双床或大床", "大/双床", "大床/双床", "双床/大床"),
    "view:sea": ("海景", "全海景", "海景房", "观海", "海滨", "临海"),
    "view:partial_sea": ("侧海景", "部分海景", "侧海"),
    "view:city": ("城景", "市景", "城市景观", "城市景", "街景"),
    "view:garden": ("园景", "花园景", "花园", "庭院"),
    "view:pool": ("泳池景", "池景", "泳池"),
    "view:mountain": ("山景",),
    "view:river": ("江景", "河景"),
    "view:lake": ("湖景",),
    "view:park": ("公园景",),
    "view:harbour": ("港景", "海湾景"),
    "feature:windowless": ("无窗", "内窗"),
    "feature:balcony": ("阳台", "露台"),
    "feature:accessible": ("无障碍", "残疾人"),
    "feature:shared_bath": ("公共卫浴", "公共卫生间", "公共浴室", "公卫"),
    "feature:connecting": ("连通", "连通房"),
    "feature:jacuzzi": ("按摩浴缸", "温泉"),
    "smoking:non": ("无烟", "禁烟"),
    "smoking:yes": ("吸烟", "可吸烟"),
    "noise": tuple("""
        房 间 客房 房型 房间 含早 含单早 含双早 含三早 双早 单早 无早 不含早
        早餐 含早餐 含双份早餐 半膳 全膳 全包 双人 单人 三人 两人 2人 1人
        一人 入住 限 住 特价 促销 限时 优惠 特惠 限时特惠 预付 现付 不可取消
        可取消 免费取消 不可退 可退 新 新装修 温馨 舒适型 景观 景 有窗 高楼层
        低楼层 楼层 高层 含 份 人 床 型 张 一张 的 带 及 和 或 大 特
        会员 专享 连住 钟点 不含 早 无 加床 可加床 精品 主题 套餐
        雅致 优雅 时尚 舒心 独立卫浴 独卫
    """.split()),
}
CHINESE_BEDROOMS = {"一居室": 1, "两居室": 2, "二居室": 2, "三居室": 3, "一室一厅": 1, "两室一厅": 2, "二室一厅": 2,
                    "三室一厅": 3, "两室两厅": 2, "三室两厅": 3}
# "标准间" is the Chinese standard room, which has two beds unless the name says otherwise
CHINESE_IMPLIED_TWIN = ("标准间", "标间")


def _table(source: dict[str, tuple[str, ...]]) -> dict[str, Meaning]:
    table: dict[str, Meaning] = {}
    for meaning, forms in source.items():
        field, _, value = meaning.partition(":")
        for form in forms:
            table[form] = (field, value)
    return table


WORDS: dict[str, Meaning] = {**{w: ("noise", "") for w in (*_NOISE, *_EUROPEAN_NOISE)}, **_table(_EUROPEAN),
                             **_table(_WORDS)}
PHRASES: dict[tuple[str, ...], Meaning] = {tuple(p.split()): m for p, m in _table(_PHRASES).items()}
NOISE_PHRASES = {p for p, m in PHRASES.items() if m[0] == "noise"}
PHRASE_STARTS = {p[0] for p in PHRASES}  # most words start no phrase: only these are looked at further
NOISE_PHRASE_STARTS = {p[0] for p in NOISE_PHRASES}
MAX_PHRASE = max(len(p) for p in PHRASES)
CHINESE: dict[str, Meaning] = _table(_CHINESE)
# words long enough to be recognised with a typo (never the two-letter abbreviations)
CORRECTABLE = tuple(sorted(w for w in WORDS if len(w) >= 4 and w.isalpha()))
