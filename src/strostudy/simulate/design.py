"""The calibration and the vocabulary of the synthetic extracts.

:data:`DESIGN` fixes the arrests of the analysed subjects of the default cohort, and
:data:`ORDER_SPANS` and :data:`EXCLUSIONS` its orders and exclusions; together they make the
default truth reproduce every figure of the published study.  The rest is what the extracts
are written in: regions and their ROCU workbook layouts, names and their spelling variants,
order conditions, applicants, force systems, and the offence catalogue.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import data_path

CATEGORIES = ["modern_slavery", "violence", "drugs", "other"]

#: Arrests of the analysed subjects in the default cohort (41 subjects): principal offence
#: counts by category and window.  With principal-offence scoring these give 210 -> 93 arrests
#: and every published reduction (see tests/test_simulate.py for the arithmetic).
DESIGN = pd.DataFrame(
    [
        ("modern_slavery", "before", "MS15001", 22), ("modern_slavery", "before", "MS15003", 18),
        ("modern_slavery", "before", "CJ09002", 12), ("modern_slavery", "before", "SX03119", 4),
        ("modern_slavery", "before", "SX03118", 2), ("modern_slavery", "before", "SX56123", 2),
        ("modern_slavery", "after", "MS15016", 20), ("modern_slavery", "after", "MS15001", 2),
        ("modern_slavery", "after", "SX03118", 4), ("modern_slavery", "after", "SX56123", 3),
        ("violence", "before", "OF61016", 2), ("violence", "before", "COML017", 1),
        ("violence", "before", "OF61131", 9), ("violence", "before", "PH97007", 3),
        ("violence", "before", "OF61102", 15), ("violence", "before", "OF61014", 5),
        ("violence", "before", "CJ88116", 15),
        ("violence", "after", "OF61131", 7), ("violence", "after", "OF61102", 6),
        ("violence", "after", "OF61014", 2), ("violence", "after", "CJ88116", 10),
        ("drugs", "before", "MD71230", 8), ("drugs", "before", "MD71131", 6),
        ("drugs", "before", "MD71134", 6), ("drugs", "before", "MD71344", 8),
        ("drugs", "before", "MD71241", 12), ("drugs", "before", "MD71210", 10),
        ("drugs", "before", "MD71221", 10),
        ("drugs", "after", "MD71230", 3), ("drugs", "after", "MD71134", 4),
        ("drugs", "after", "MD71344", 9), ("drugs", "after", "MD71241", 6),
        ("drugs", "after", "MD71210", 3),
        ("other", "before", "TH68038", 3), ("other", "before", "TH68023", 6),
        ("other", "before", "TH68026", 6), ("other", "before", "CJ88121", 6),
        ("other", "before", "CJ88117", 5), ("other", "before", "TH68001", 6),
        ("other", "before", "TH68005", 8),
        ("other", "after", "CJ88121", 1), ("other", "after", "CJ88117", 2),
        ("other", "after", "TH68001", 3), ("other", "after", "TH68005", 8),
    ],
    columns=["category", "period", "cjs_code", "count"],
)
DESIGN_SUBJECTS = 41

#: Orders by period (the 2022 review: 19 STROs July 2015 - March 2017, a peak of 29 in
#: 2020/21).  Start dates are drawn inside each span; with the default data period the
#: three middle spans hold the 49 orders with full two-year windows.
ORDER_SPANS = [
    ("2015-07-01", "2016-03-31", 8), ("2016-04-01", "2017-03-31", 11),
    ("2017-04-01", "2018-03-31", 12), ("2018-04-01", "2018-06-10", 10),
    ("2018-07-20", "2019-03-31", 4), ("2019-04-01", "2020-03-31", 16),
    ("2020-04-01", "2021-03-10", 29), ("2021-04-20", "2022-03-31", 17),
    ("2022-04-01", "2023-01-31", 7),
]
DEFAULT_ORDERS = sum(n for _, _, n in ORDER_SPANS)
#: Exclusions among the 49 eligible orders in the default cohort (scaled for other sizes).
DEFAULT_ELIGIBLE = 49
EXCLUSIONS = {"identity_unresolved": 2, "no_usable_start_date": 1, "no_rocu_return": 3,
              "order_ended_in_window": 2}

REGIONS = pd.DataFrame(
    [
        ("north_east", "NERSOU", ["Northumbria Police", "Durham Constabulary", "Cleveland Police"]),
        ("north_west", "TITAN", ["Greater Manchester Police", "Lancashire Constabulary", "Merseyside Police"]),
        ("yorkshire", "Yorkshire and Humber ROCU", ["West Yorkshire Police", "South Yorkshire Police", "Humberside Police"]),
        ("east_midlands", "EMSOU", ["Nottinghamshire Police", "Leicestershire Police", "Lincolnshire Police"]),
        ("west_midlands", "West Midlands ROCU", ["West Midlands Police", "Staffordshire Police", "West Mercia Police"]),
        ("eastern", "ERSOU", ["Essex Police", "Hertfordshire Constabulary", "Norfolk Constabulary"]),
        ("south_east", "SEROCU", ["Thames Valley Police", "Hampshire Constabulary", "Kent Police"]),
        ("south_west", "SWROCU", ["Avon and Somerset Constabulary", "Devon and Cornwall Police", "Dorset Police"]),
        ("london", "Metropolitan Police", ["Metropolitan Police Service", "City of London Police", "British Transport Police"]),
        ("wales", "TARIAN", ["South Wales Police", "Gwent Police", "Dyfed-Powys Police"]),
    ],
    columns=["region", "rocu", "forces"],
)
#: How each region's workbook is laid out: header wording (index into each synonym list),
#: date style, and whether a title block sits above the header.
ROCU_STYLES = {
    "north_east": (0, "serial", False), "north_west": (1, "uk_text", True),
    "yorkshire": (2, "datetime", False), "east_midlands": (3, "iso_text", False),
    "west_midlands": (0, "datetime", True), "eastern": (1, "serial", False),
    "south_east": (2, "uk_text", False), "south_west": (3, "serial", True),
    "london": (0, "iso_text", False), "wales": (1, "uk_text", False),
}
ROCU_HEADERS = {
    "order_ref": ["Order Ref", "Order reference", "STRO ref", "Ref No"],
    "pnc_id": ["PNC ID", "PNCID", "PNC Number", "PNC No"],
    "surname": ["Surname", "Last name", "Family name", "Surname"],
    "forenames": ["Forenames", "First names", "Given names", "Forename(s)"],
    "date_of_birth": ["DOB", "Date of birth", "D.O.B.", "DOB"],
    "start_date": ["Start date", "Order start", "Date order made", "Date granted"],
    "length": ["Length", "Duration", "Order length", "Term"],
    "conditions": ["Conditions", "Prohibitions", "Order conditions", "Conditions"],
    "arrest_date": ["Arrest date", "Date of arrest", "Event date", "Offence date"],
    "offence": ["Offence", "Offence description", "Offence title", "Offence"],
    "cjs_code": ["CJS code", "Offence code", "CJS", "CJS code"],
}

FORENAMES = [
    "James", "Daniel", "Liam", "Connor", "Kyle", "Jordan", "Marcus", "Tyrone", "Andre", "Kwame",
    "Chidi", "Oluwaseun", "Emeka", "Abdi", "Mohammed", "Imran", "Bilal", "Tariq", "Hamza", "Arjun",
    "Ionuț", "Ștefan", "Florin", "Mihai", "Gheorghe", "Łukasz", "Paweł", "Tomasz", "Krzysztof",
    "Dritan", "Arben", "Besnik", "Gëzim", "Tuấn", "Minh", "Duc", "Lajos", "Zoltán", "Mantas",
    "Darius", "Sean", "Patrick", "Declan", "Ewa", "Ioana", "Elena", "Zoë", "Chloé", "Amira",
    "Fatima", "Grace", "Blessing", "Sophie", "Leanne", "Nicole", "Jade", "Karolina", "Agnieszka",
    "Thi Lan", "Renée",
]
SURNAMES = [
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Roberts",
    "Johnson", "Walker", "O'Brien", "McCarthy", "Murphy", "Doherty", "Okafor", "Adeyemi", "Mensah",
    "Boateng", "Nwosu", "Hussain", "Khan", "Ahmed", "Iqbal", "Patel", "Begum", "Ali", "Mahmood",
    "Popescu", "Ionescu", "Dumitru", "Stan", "Munteanu", "Constantin", "Kowalski", "Nowak",
    "Wiśniewski", "Wójcik", "Zieliński", "Hoxha", "Krasniqi", "Berisha", "Gashi", "Nguyễn", "Trần",
    "Lê", "Phạm", "Horváth", "Kovács", "Szabó", "Kazlauskas", "Jankauskas", "Petrauskas",
    "Campbell-Reid", "Lloyd-Evans", "Ferreira", "Santos", "Mohamud", "Warsame", "Hassan",
]
#: Spelling variants met between systems (and accents lost).
NAME_VARIANTS = {
    "Mohammed": "Muhammad", "Oluwaseun": "Oluwaseyi", "Tariq": "Tarik", "Sean": "Shaun",
    "Łukasz": "Lukas", "Krzysztof": "Krzystof", "Gheorghe": "Gheorge", "Tuấn": "Tuan",
    "Kowalski": "Kowalsky", "Hussain": "Hussein", "Mahmood": "Mahmud", "Ahmed": "Ahmad",
    "Mohamud": "Mohamoud", "Iqbal": "Ikbal", "Daniel": "Danial", "Darius": "Dariusz",
}
CONDITIONS = [
    "not to enter a defined exclusion zone", "no contact with any person under 18 (limited exceptions)",
    "no contact with named individuals", "not to supply mobile devices to any person under 18",
    "own no more than one mobile phone, registered with police", "notify police of any change of address",
    "not to arrange or pay for the travel of any person", "not to rent or sub-let property to non-family",
    "not to accept cash payments from tenants", "surrender passport", "no foreign travel without notice",
    "not to post content glorifying drug dealing on social media", "allow police to inspect devices on request",
    "not to act as a gangmaster or labour provider", "not to arrange work for any other person",
]
APPLICANTS = ["police", "NCA", "GLAA", "Immigration Enforcement"]
FORCE_SYSTEMS = ["Niche RMS", "Athena", "Connect", "Storm", "Genesis"]


def offence_catalogue() -> pd.DataFrame:
    """The offences the synthetic extracts carry: the curated CCHI table plus category."""
    table = pd.read_csv(data_path("cchi_weights.csv"), dtype=str)
    table["cchi_score"] = table["cchi_score"].astype(float)
    ms = table["cjs_code"].str.startswith("MS15") | table["cjs_code"].isin(
        ["CJ09002", "SX03119", "SX03118", "SX56123"]
    )
    table["category"] = np.select(
        [ms, table["ho_group"].eq("VIOLENCE AGAINST THE PERSON"), table["ho_group"].eq("DRUG OFFENCES")],
        ["modern_slavery", "violence", "drugs"],
        "other",
    )
    # How force systems word each offence: the first entry of the wording list the pipeline
    # also reads (data/offence_wording.csv).
    wording = pd.read_csv(data_path("offence_wording.csv"), dtype=str).drop_duplicates("cjs_code")
    table["short_wording"] = table["cjs_code"].map(wording.set_index("cjs_code")["wording"])
    return table
