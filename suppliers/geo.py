# ruff: noqa: E501  (reference data tables read best one city per line)
"""Reference data for the simulated world: cities, districts, streets, brands, name words.

Local names are Chinese for CN, Japanese for JP, Thai for TH; `zh` is what a Chinese OTA shows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    country: str
    name: str
    local: str | None
    zh: str
    lat: float
    lon: float
    iata: str
    phone_cc: str
    area: str  # area code without trunk prefix
    local_digits: int
    price_factor: float
    weight: int
    districts: tuple[tuple[str, str | None, str], ...]  # (english/pinyin, local, zh)


CITIES: tuple[City, ...] = (
    City("CN", "Shanghai", "上海", "上海", 31.2304, 121.4737, "SHA", "86", "21", 8, 1.3, 14, (
        ("Pudong", "浦东", "浦东"), ("Hongqiao", "虹桥", "虹桥"), ("Jing'an", "静安", "静安"),
        ("Xuhui", "徐汇", "徐汇"), ("Huangpu", "黄浦", "黄浦"), ("Lujiazui", "陆家嘴", "陆家嘴"))),
    City("CN", "Beijing", "北京", "北京", 39.9042, 116.4074, "PEK", "86", "10", 8, 1.25, 12, (
        ("Chaoyang", "朝阳", "朝阳"), ("Dongcheng", "东城", "东城"), ("Haidian", "海淀", "海淀"),
        ("Wangfujing", "王府井", "王府井"), ("Sanlitun", "三里屯", "三里屯"), ("Xicheng", "西城", "西城"))),
    City("CN", "Guangzhou", "广州", "广州", 23.1291, 113.2644, "CAN", "86", "20", 8, 1.0, 7, (
        ("Tianhe", "天河", "天河"), ("Yuexiu", "越秀", "越秀"), ("Baiyun", "白云", "白云"), ("Haizhu", "海珠", "海珠"))),
    City("CN", "Shenzhen", "深圳", "深圳", 22.5431, 114.0579, "SZX", "86", "755", 8, 1.1, 7, (
        ("Futian", "福田", "福田"), ("Nanshan", "南山", "南山"), ("Luohu", "罗湖", "罗湖"), ("Bao'an", "宝安", "宝安"))),
    City("CN", "Hangzhou", "杭州", "杭州", 30.2741, 120.1551, "HGH", "86", "571", 8, 1.0, 5, (
        ("Xihu", "西湖", "西湖"), ("Binjiang", "滨江", "滨江"), ("Xiaoshan", "萧山", "萧山"), ("Gongshu", "拱墅", "拱墅"))),
    City("CN", "Chengdu", "成都", "成都", 30.5728, 104.0668, "CTU", "86", "28", 8, 0.85, 5, (
        ("Jinjiang", "锦江", "锦江"), ("Wuhou", "武侯", "武侯"), ("Qingyang", "青羊", "青羊"), ("Chenghua", "成华", "成华"))),
    City("CN", "Xi'an", "西安", "西安", 34.3416, 108.9398, "XIY", "86", "29", 8, 0.8, 4, (
        ("Yanta", "雁塔", "雁塔"), ("Beilin", "碑林", "碑林"), ("Lianhu", "莲湖", "莲湖"))),
    City("JP", "Tokyo", "東京", "东京", 35.6762, 139.6503, "TYO", "81", "3", 8, 1.5, 8, (
        ("Shinjuku", "新宿", "新宿"), ("Shibuya", "渋谷", "涩谷"), ("Ginza", "銀座", "银座"),
        ("Shinagawa", "品川", "品川"), ("Asakusa", "浅草", "浅草"), ("Ikebukuro", "池袋", "池袋"))),
    City("JP", "Osaka", "大阪", "大阪", 34.6937, 135.5023, "OSA", "81", "6", 8, 1.2, 4, (
        ("Umeda", "梅田", "梅田"), ("Namba", "難波", "难波"), ("Shin-Osaka", "新大阪", "新大阪"), ("Tennoji", "天王寺", "天王寺"))),
    City("JP", "Kyoto", "京都", "京都", 35.0116, 135.7681, "UKY", "81", "75", 7, 1.3, 3, (
        ("Gion", "祇園", "祇园"), ("Kyoto Station", "京都駅", "京都站"), ("Kawaramachi", "河原町", "河原町"))),
    City("TH", "Bangkok", "กรุงเทพมหานคร", "曼谷", 13.7563, 100.5018, "BKK", "66", "2", 7, 0.7, 6, (
        ("Sukhumvit", "สุขุมวิท", "素坤逸"), ("Silom", "สีลม", "是隆"), ("Siam", "สยาม", "暹罗"), ("Riverside", "ริมแม่น้ำ", "河畔"))),
    City("TH", "Phuket", "ภูเก็ต", "普吉岛", 7.8804, 98.3923, "HKT", "66", "76", 6, 0.8, 3, (
        ("Patong", "ป่าตอง", "芭东"), ("Kata", "กะตะ", "卡塔"), ("Karon", "กะรน", "卡伦"))),
    City("SG", "Singapore", None, "新加坡", 1.3521, 103.8198, "SIN", "65", "", 8, 1.6, 4, (
        ("Orchard", None, "乌节路"), ("Marina Bay", None, "滨海湾"), ("Sentosa", None, "圣淘沙"),
        ("Bugis", None, "武吉士"), ("Clarke Quay", None, "克拉码头"))),
    City("FR", "Paris", None, "巴黎", 48.8566, 2.3522, "PAR", "33", "1", 8, 1.6, 5, (
        ("Opera", None, "歌剧院"), ("Montparnasse", None, "蒙帕纳斯"), ("Champs-Elysees", None, "香榭丽舍"),
        ("Le Marais", None, "玛莱区"), ("La Defense", None, "拉德芳斯"))),
    City("FR", "Nice", None, "尼斯", 43.7102, 7.2620, "NCE", "33", "4", 8, 1.2, 2, (
        ("Promenade", None, "英国人漫步大道"), ("Vieux Nice", None, "尼斯老城"), ("Airport", None, "机场"))),
    City("US", "New York", None, "纽约", 40.7128, -74.0060, "NYC", "1", "212", 7, 1.8, 5, (
        ("Midtown", None, "中城"), ("Times Square", None, "时代广场"), ("Downtown", None, "下城"),
        ("Brooklyn", None, "布鲁克林"), ("JFK Airport", None, "肯尼迪机场"))),
    City("US", "Los Angeles", None, "洛杉矶", 34.0522, -118.2437, "LAX", "1", "213", 7, 1.5, 3, (
        ("Downtown", None, "市中心"), ("Hollywood", None, "好莱坞"), ("Santa Monica", None, "圣莫尼卡"),
        ("LAX Airport", None, "洛杉矶机场"))),
    City("US", "Chicago", None, "芝加哥", 41.8781, -87.6298, "CHI", "1", "312", 7, 1.3, 2, (
        ("Loop", None, "卢普区"), ("Magnificent Mile", None, "华丽一英里"), ("O'Hare", None, "奥黑尔"))),
    City("GB", "London", None, "伦敦", 51.5074, -0.1278, "LON", "44", "20", 8, 1.7, 4, (
        ("Kensington", None, "肯辛顿"), ("Westminster", None, "威斯敏斯特"), ("Heathrow", None, "希思罗"),
        ("City", None, "金融城"), ("Paddington", None, "帕丁顿"))),
    City("AE", "Dubai", None, "迪拜", 25.2048, 55.2708, "DXB", "971", "4", 7, 1.4, 3, (
        ("Downtown", None, "市中心"), ("Dubai Marina", None, "迪拜码头"), ("Deira", None, "德拉"),
        ("Jumeirah", None, "朱美拉"))),
)

# (english, chinese, pinyin) street names for CN; plain names elsewhere, by country.
CN_STREETS = (
    ("Nanjing Road", "南京路", "Nanjing Lu"), ("Huaihai Road", "淮海路", "Huaihai Lu"),
    ("Century Avenue", "世纪大道", "Shiji Dadao"), ("Renmin Road", "人民路", "Renmin Lu"),
    ("Zhongshan Road", "中山路", "Zhongshan Lu"), ("Jiefang Road", "解放路", "Jiefang Lu"),
    ("Jianshe Road", "建设路", "Jianshe Lu"), ("Heping Road", "和平路", "Heping Lu"),
    ("Chang'an Avenue", "长安街", "Chang'an Jie"), ("Dongfeng Road", "东风路", "Dongfeng Lu"),
    ("Wenhua Road", "文化路", "Wenhua Lu"), ("Xinhua Road", "新华路", "Xinhua Lu"),
    ("Binhai Avenue", "滨海大道", "Binhai Dadao"), ("Tianfu Avenue", "天府大道", "Tianfu Dadao"),
)
STREETS = {
    "JP": ("Chuo-dori", "Meiji-dori", "Yasukuni-dori", "Sotobori-dori", "Shijo-dori", "Midosuji"),
    "TH": ("Sukhumvit Road", "Silom Road", "Rama IV Road", "Ratchadamri Road", "Thanon Bangla", "Beach Road"),
    "SG": ("Orchard Road", "Bayfront Avenue", "Beach Road", "Raffles Boulevard", "River Valley Road"),
    "FR": ("Rue de Rivoli", "Boulevard Haussmann", "Avenue de l'Opera", "Rue Saint-Honore", "Boulevard Saint-Germain",
           "Promenade des Anglais"),
    "US": ("Broadway", "5th Avenue", "Lexington Avenue", "Sunset Boulevard", "Michigan Avenue", "Wilshire Boulevard"),
    "GB": ("Oxford Street", "Park Lane", "Strand", "Cromwell Road", "Bath Road", "Praed Street"),
    "AE": ("Sheikh Zayed Road", "Al Mustaqbal Street", "Jumeirah Beach Road", "Al Rigga Road"),
}

# (family, english brand, chinese brand, star, by-suffix, countries or None = everywhere, chinese budget style)
BRANDS: tuple[tuple[str, str, str, float, str, tuple[str, ...] | None, bool], ...] = (
    ("marriott", "JW Marriott", "JW万豪", 5.0, "", None, False),
    ("marriott", "Marriott", "万豪", 5.0, "", None, False),
    ("marriott", "Courtyard", "万怡", 4.0, "by Marriott", None, False),
    ("marriott", "Sheraton", "喜来登", 5.0, "", None, False),
    ("marriott", "Four Points", "福朋喜来登", 4.0, "by Sheraton", None, False),
    ("marriott", "Renaissance", "万丽", 5.0, "", None, False),
    ("marriott", "Westin", "威斯汀", 5.0, "", None, False),
    ("marriott", "Fairfield", "万枫", 3.0, "by Marriott", None, False),
    ("hilton", "Hilton", "希尔顿", 5.0, "", None, False),
    ("hilton", "DoubleTree", "希尔顿逸林", 4.0, "by Hilton", None, False),
    ("hilton", "Hampton", "希尔顿欢朋", 3.0, "by Hilton", None, False),
    ("hilton", "Conrad", "康莱德", 5.0, "", None, False),
    ("hilton", "Hilton Garden Inn", "希尔顿花园", 4.0, "", None, False),
    ("ihg", "InterContinental", "洲际", 5.0, "", None, False),
    ("ihg", "Crowne Plaza", "皇冠假日", 4.5, "", None, False),
    ("ihg", "Holiday Inn", "假日", 4.0, "", None, False),
    ("ihg", "Holiday Inn Express", "智选假日", 3.0, "", None, False),
    ("ihg", "Hotel Indigo", "英迪格", 4.0, "", None, False),
    ("hyatt", "Grand Hyatt", "君悦", 5.0, "", None, False),
    ("hyatt", "Park Hyatt", "柏悦", 5.0, "", None, False),
    ("hyatt", "Hyatt Regency", "凯悦", 5.0, "", None, False),
    ("hyatt", "Hyatt Place", "凯悦嘉寓", 4.0, "", None, False),
    ("accor", "Novotel", "诺富特", 4.0, "", None, False),
    ("accor", "Ibis", "宜必思", 2.5, "", None, False),
    ("accor", "Pullman", "铂尔曼", 5.0, "", None, False),
    ("accor", "Sofitel", "索菲特", 5.0, "", None, False),
    ("accor", "Mercure", "美居", 4.0, "", None, False),
    ("jinjiang", "Jinjiang Inn", "锦江之星", 2.0, "", ("CN",), True),
    ("btg", "Home Inn", "如家", 2.0, "", ("CN",), True),
    ("huazhu", "Hanting", "汉庭", 2.0, "", ("CN",), True),
    ("huazhu", "Ji Hotel", "全季", 3.0, "", ("CN",), True),
    ("atour", "Atour", "亚朵", 3.5, "", ("CN",), True),
    ("vienna", "Vienna Hotel", "维也纳", 3.0, "", ("CN",), True),
    ("toyoko", "Toyoko Inn", "东横INN", 2.0, "", ("JP",), True),
    ("apa", "APA Hotel", "APA酒店", 3.0, "", ("JP",), True),
    ("dormy", "Dormy Inn", "多米酒店", 3.0, "", ("JP",), True),
)
BRAND_LOCAL_JA = {"Toyoko Inn": "東横イン", "APA Hotel": "アパホテル", "Dormy Inn": "ドーミーイン"}

# Independent hotel names: (english, chinese, pinyin).
NAME_WORDS = (
    ("Golden", "金", "Jin"), ("Dragon", "龙", "Long"), ("Pearl", "明珠", "Mingzhu"), ("Garden", "花园", "Huayuan"),
    ("Jade", "翡翠", "Feicui"), ("Phoenix", "凤凰", "Fenghuang"), ("Peace", "和平", "Heping"),
    ("Oriental", "东方", "Dongfang"), ("Royal", "皇家", "Huangjia"), ("Harbour", "海港", "Haigang"),
    ("Riverside", "江畔", "Jiangpan"), ("Century", "世纪", "Shiji"), ("Lotus", "莲花", "Lianhua"),
    ("Spring", "春天", "Chuntian"), ("Sunshine", "阳光", "Yangguang"), ("Star", "星辰", "Xingchen"),
    ("Bamboo", "竹园", "Zhuyuan"), ("Crystal", "水晶", "Shuijing"), ("Cloud", "云端", "Yunduan"),
    ("Silk Road", "丝路", "Silu"), ("International", "国际", "Guoji"), ("Plaza", "广场", "Guangchang"),
    ("Metropark", "维景", "Weijing"), ("Landmark", "地标", "Dibiao"), ("Orchid", "兰花", "Lanhua"),
)
HOTEL_TYPES = (
    ("Hotel", "酒店", "Jiudian"), ("Grand Hotel", "大酒店", "Dajiudian"), ("Boutique Hotel", "精品酒店", "Jingpin Jiudian"),
    ("Inn", "客栈", "Kezhan"), ("Resort", "度假酒店", "Dujia Jiudian"), ("Suites", "公寓酒店", "Gongyu Jiudian"),
)
JA_WORDS = (("Sakura", "さくら"), ("Fuji", "富士"), ("Grand", "グランド"), ("Garden", "ガーデン"),
            ("Royal", "ロイヤル"), ("Central", "セントラル"), ("Plaza", "プラザ"), ("Station", "ステーション"),
            ("Sunroute", "サンルート"), ("Villa", "ヴィラ"))
INTL_WORDS = ("Grand", "Royal", "Park", "Central", "Palace", "Harbour", "Garden", "Metropole", "Regent", "Boulevard",
              "Majestic", "Ambassador", "Continental", "Plaza", "Crown", "Riverside", "Astoria", "Lotus", "Orchid", "Vista")
FR_WORDS = ("des Arts", "du Louvre", "de la Paix", "Le Petit Palais", "Saint-Louis", "du Parc", "Lutetia", "de Seine",
            "Bellevue", "Beau Rivage", "des Grands Boulevards", "Mistral")
# Second property of one brand in one district: (english, chinese).
QUALIFIERS = (("East", "东"), ("West", "西"), ("North", "北"), ("South", "南"), ("Airport", "机场"),
              ("Railway Station", "火车站"), ("Downtown", "市中心"), ("Expo", "会展中心"), ("Riverside", "滨江"))
