#!/usr/bin/env python3
"""Build the PII detection evaluation data of tierlm-guard.

Writes, deterministically for a seed (same bytes on every run):
  OUT/sentences.jsonl   N sentences with gold spans, one JSON object per line:
                        {"text", "template", "spans": [{"type", "start", "end", "value"[, "fmt"]}]}
  OUT/background.jsonl  PII-free(-ish) background text {"text", "source"} from the router
                        workload's raw data (BBC news, SMS ham, ACL papers), when
                        eval/data/raw exists (scripts/fetch-eval-data); skipped otherwise

Sentences: presidio-evaluator 0.3.2's sentence templates (raw_data/templates.txt) filled with
its FakeNameGenerator identities (raw_data/FakeNameGenerator.com_3000.csv), plus extra
templates written here for the types the templates barely cover (credit cards, IBANs, US SSNs,
IP addresses, ...). Values the identities lack or garble are generated with valid checksums:
credit card numbers (Luhn), IBANs (ISO 13616 mod 97), SSNs (valid area/group/serial), IPv4/v6.
A share --extra-share of the sentences comes from the extra templates; each template set is
cycled in a shuffled order so every template is used about equally.

Span types are tierlm-guard's EntityKind names where it has a detector (PERSON, EMAIL, PHONE,
CREDIT_CARD, IBAN, US_SSN, IP_ADDRESS, POSTAL_ADDRESS, DATE_OF_BIRTH); other slots keep their
text and get a span of another type (ORGANIZATION, CITY, COUNTRY, STREET_NAME, ZIP_CODE, STATE,
URL, DATE_TIME, AGE, NRP, TITLE, JOB, US_DRIVER_LICENSE, CARD_EXPIRY) that is not scored.
Address parts that follow each other (street line, apartment, city, state, postcode, country)
are merged into one POSTAL_ADDRESS span when they include a street line or P.O. box; a city,
street name or postcode alone is not an address. Honorifics (TITLE) are not part of a PERSON
span. start/end are UTF-8 byte offsets into text. "fmt" says which format a value was written
in (phone: national/intl and country; card: brand and grouping; ...), for recall by format.

Standard library only; the pinned presidio-evaluator wheel is downloaded into
eval/data/.downloads/ when missing (see eval/pii/wheels.py).
"""
import argparse
import csv
import io
import json
import os
import random
import re
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wheels  # noqa: E402

TOOL = "build_pii"
ROOT = wheels.ROOT
RAW_DATA = "presidio_evaluator/data_generator/raw_data/"

SCORED = {
    "person": "PERSON", "name": "PERSON", "name_male": "PERSON", "name_female": "PERSON",
    "first_name": "PERSON", "first_name_male": "PERSON", "first_name_female": "PERSON",
    "first_name_nonbinary": "PERSON", "last_name": "PERSON", "last_name_male": "PERSON",
    "last_name_female": "PERSON", "email": "EMAIL", "phone_number": "PHONE",
    "credit_card_number": "CREDIT_CARD", "iban": "IBAN", "ssn": "US_SSN",
    "ip_address": "IP_ADDRESS", "address": "POSTAL_ADDRESS", "date_of_birth": "DATE_OF_BIRTH",
}
UNSCORED = {
    "organization": "ORGANIZATION", "city": "CITY", "country": "COUNTRY",
    "street_name": "STREET_NAME", "street_address": "STREET_ADDRESS",
    "secondary_address": "SECONDARY_ADDRESS", "postcode": "ZIP_CODE", "zipcode": "ZIP_CODE",
    "state_abbr": "STATE", "url": "URL", "date_time": "DATE_TIME", "year": "DATE_TIME",
    "day_of_week": "DATE_TIME", "age": "AGE", "nationality": "NRP", "nation_woman": "NRP",
    "nation_plural": "NRP", "prefix": "TITLE", "prefix_male": "TITLE", "prefix_female": "TITLE",
    "job": "JOB", "us_driver_license": "US_DRIVER_LICENSE", "cc_expiry": "CARD_EXPIRY",
}
# parts that merge into one POSTAL_ADDRESS when a street line is among them
ADDRESS_PARTS = {"STREET_ADDRESS", "SECONDARY_ADDRESS", "CITY", "STATE", "ZIP_CODE", "COUNTRY"}
ADDRESS_GAP = re.compile(r"^[\s,>?]*$")
SLOT = re.compile(r"\{\{([a-z_]+)\}\}")

# Extra templates: realistic requests to an LLM gateway, for the types the presidio templates
# cover with a handful of templates only (and a few more names and addresses in context).
EXTRA_TEMPLATES = [
    # credit cards
    "Please refund the last charge on card {{credit_card_number}}, it was a duplicate.",
    "Customer paid with {{credit_card_number}} (exp {{cc_expiry}}) but the order never shipped. Draft an apology email.",
    "Card number: {{credit_card_number}}\nName on card: {{person}}\nPlease verify this payment.",
    "Why was my card {{credit_card_number}} declined at checkout yesterday?",
    "Summarise this chat: 'hi, my card {{credit_card_number}} got charged twice for the same order'",
    "Translate to French: please charge {{credit_card_number}} for the hotel booking.",
    "Extract the fields from this form: cc={{credit_card_number}}; name={{person}}; email={{email}}",
    "The payment with {{credit_card_number}} failed with error 0x51. What does that mean?",
    "Order #88213 - billing: {{person}}, {{credit_card_number}}, {{address}}",
    "I typed {{credit_card_number}} into the app and it says invalid number. Why?",
    # IBANs
    "Please wire the deposit to IBAN {{iban}} before Friday.",
    "My new bank account is {{iban}}, please update the payroll.",
    "Beneficiary: {{person}}\nIBAN: {{iban}}\nReference: invoice 2291",
    "Can you check whether {{iban}} is a valid IBAN?",
    "Write a reminder to {{first_name}} that the rent goes to {{iban}} from next month.",
    "Rechnung bitte auf das Konto {{iban}} überweisen.",
    "Refund to account {{iban}} (account holder {{person}}).",
    "Set up a standing order of 250 EUR to {{iban}} on the 1st of each month.",
    "Pay the supplier invoice (1,240.00 EUR) to {{iban}}, reference 2024-117.",
    "Is it safe to send my IBAN ({{iban}}) by email to {{email}}?",
    "The transfer to {{iban}} bounced. Write a short note to the bank asking why.",
    "iban:{{iban}} bic:DEUTDEFF amount:90",
    # US SSNs
    "My social security number is {{ssn}} and I need a copy of my W-2.",
    "SSN: {{ssn}}\nDOB: {{date_of_birth}}\nName: {{person}}",
    "Fill in the tax form for {{person}}, SSN {{ssn}}, born {{date_of_birth}}.",
    "The applicant's social security no. is {{ssn}}; please check it against the records.",
    "Why does the IRS letter quote {{ssn}} when that is not my number?",
    "Employee {{person}} (SSN {{ssn}}) starts on Monday. Prepare the onboarding checklist.",
    "ssn {{ssn}} dob {{date_of_birth}} - is this person eligible?",
    "Summarise the claim: claimant {{person}}, social security number {{ssn}}, injury at work on {{date_time}}.",
    "I think someone used my SSN ({{ssn}}) to open a credit card. What should I do?",
    "Verify the last four digits: the full SSN on file is {{ssn}}.",
    "Dependent: {{first_name}}, SSN {{ssn}}, age {{age}}",
    # IP addresses
    "Our server at {{ip_address}} stopped responding after the update.",
    "Block all traffic from {{ip_address}} in the firewall config.",
    "Explain this log line: Failed password for root from {{ip_address}} port 52144 ssh2",
    "The VPN assigns {{ip_address}} to my laptop, is that normal?",
    "connect() failed (111: Connection refused) while connecting to upstream, client: {{ip_address}}, server: api",
    "Ping {{ip_address}} and tell me why the latency is so high.",
    "Add {{ip_address}} to the allow list of the database.",
    "Why can't I reach {{ip_address}} from the office network, but it works from home?",
    "Write an iptables rule that drops packets from {{ip_address}} and {{ip_address}}.",
    "GET /login 401 - {{ip_address}} - Mozilla/5.0",
    "Is {{ip_address}} a private address?",
    # emails and phones
    "Reply to {{email}} and copy {{email}}.",
    "Call me back on {{phone_number}} after 5pm, thanks.",
    "Contact: {{person}} <{{email}}>, tel. {{phone_number}}",
    "Can you write a follow-up to {{prefix}} {{last_name}} at {{email}}?",
    "If the parcel is late, text {{phone_number}}.",
    # names in context
    "Dear {{prefix}} {{last_name}},\n\nthank you for your letter of {{date_time}}. Please rewrite this more formally.",
    "Dear {{first_name}},\nthe meeting has moved to Thursday.\nBest regards,\n{{person}}",
    "Patient {{person}}, {{age}}, presented with chest pain. Summarise the notes.",
    "Please contact {{person}} about the overdue invoice.",
    "Minutes: {{person}} opened the meeting and {{person}} presented the budget.",
    "Kind regards,\n{{person}}",
    "Forward this to {{first_name}} and ask her to review it.",
    "I spoke to Dr. {{last_name}} yesterday about my results.",
    "Write a birthday message for my colleague {{first_name}}.",
    "{{person}} ({{email}}) asked for a refund.",
    # addresses
    "Ship the replacement to {{address}}.",
    "Our new office: {{address}}",
    "Please correct my address on file to {{address}}, thanks.",
    "Deliver to:\n{{person}}\n{{address}}",
    "Is {{address}} inside the delivery zone?",
    "Return address: {{address}}",
]

SECONDARY = ["Apt. {n}", "Apt {n}", "Suite {n}", "Unit {n}", "Flat {n}", "Apartment {n}", "Floor {f}"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]

# IBAN: country -> BBAN layout (n: digit, a: upper-case letter, c: either), ISO 13616 registry
IBAN_LAYOUT = {
    "DE": "n" * 18, "GB": "aaaa" + "n" * 14, "FR": "n" * 10 + "c" * 11 + "nn",
    "NL": "aaaa" + "n" * 10, "ES": "n" * 20, "IT": "a" + "n" * 10 + "c" * 12, "CH": "n" * 5 + "c" * 12,
    "AT": "n" * 16, "BE": "n" * 12, "PL": "n" * 24, "PT": "n" * 21, "SE": "n" * 20, "DK": "n" * 14,
    "NO": "n" * 11, "FI": "n" * 14, "IE": "aaaa" + "n" * 14, "LU": "nnn" + "c" * 13, "CZ": "n" * 20,
}
# card brand -> (prefixes, length, grouping)
CARDS = {
    "visa": (["4"], 16, (4, 4, 4, 4)),
    "mastercard": (["51", "52", "53", "54", "55", "2221", "2720", "2300"], 16, (4, 4, 4, 4)),
    "amex": (["34", "37"], 15, (4, 6, 5)),
    "discover": (["6011", "65", "644"], 16, (4, 4, 4, 4)),
    "jcb": (["3528", "3589", "3540"], 16, (4, 4, 4, 4)),
    "diners": (["36", "300", "305"], 14, (4, 6, 4)),
}
CARD_WEIGHTS = {"visa": 40, "mastercard": 30, "amex": 12, "discover": 8, "jcb": 5, "diners": 5}


def die(msg):
    wheels.die(TOOL, msg)


# ---------------------------------------------------------------- value generators

def luhn_complete(digits):
    """digits + the Luhn check digit."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 0:  # these are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


def luhn_ok(number):
    total = 0
    for i, c in enumerate(reversed(number)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def credit_card(rng):
    brand = rng.choices(list(CARD_WEIGHTS), weights=list(CARD_WEIGHTS.values()))[0]
    prefixes, length, groups = CARDS[brand]
    body = rng.choice(prefixes)
    while len(body) < length - 1:
        body += str(rng.randrange(10))
    number = luhn_complete(body)
    assert luhn_ok(number), number
    style = rng.choices(["spaced", "plain", "dashed"], weights=[50, 35, 15])[0]
    if style == "plain":
        return number, f"{brand}/plain"
    parts, i = [], 0
    for g in groups:
        parts.append(number[i:i + g])
        i += g
    return (" " if style == "spaced" else "-").join(parts), f"{brand}/{style}"


def iban_check(country, bban):
    s = bban + country + "00"
    n = int("".join(str(int(c, 36)) for c in s))
    return f"{98 - n % 97:02d}"


def iban_valid(iban):
    s = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in s)) % 97 == 1


def iban(rng):
    country = rng.choice(sorted(IBAN_LAYOUT))
    chars = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
             "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    bban = "".join(rng.choice(chars[k]) for k in IBAN_LAYOUT[country])
    value = country + iban_check(country, bban) + bban
    assert iban_valid(value), value
    if rng.random() < 0.5:
        return value, f"{country}/compact"
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4)), f"{country}/grouped"


def ssn(rng):
    while True:
        area = rng.randrange(1, 900)
        if area != 666:
            break
    group, serial = rng.randrange(1, 100), rng.randrange(1, 10000)
    style = rng.choices(["dashed", "spaced", "plain"], weights=[80, 10, 10])[0]
    sep = {"dashed": "-", "spaced": " ", "plain": ""}[style]
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}", style


def ip_address(rng):
    if rng.random() < 0.7:
        first = rng.choice([rng.randrange(1, 224), 10, 172, 192])
        if first == 192:
            rest = [168, rng.randrange(256), rng.randrange(1, 255)]
        elif first == 172:
            rest = [rng.randrange(16, 32), rng.randrange(256), rng.randrange(1, 255)]
        else:
            rest = [rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)]
        return ".".join(str(x) for x in [first] + rest), "v4"
    groups = [rng.randrange(0x10000) for _ in range(8)]
    groups[0] = rng.choice([0x2001, 0x2a00, 0x2607, 0xfe80])
    if groups[0] == 0xfe80:
        groups[1:4] = [0, 0, 0]
    full = ":".join(f"{g:x}" for g in groups)
    if groups[0] == 0xfe80:
        return "fe80::" + ":".join(f"{g:x}" for g in groups[4:]), "v6/compressed"
    if rng.random() < 0.5:
        groups[3:6] = [0, 0, 0]
        return ":".join(f"{g:x}" for g in groups[:3]) + "::" + ":".join(
            f"{g:x}" for g in groups[6:]), "v6/compressed"
    return full, "v6/full"


def phone(r, rng):
    national, cc = r["TelephoneNumber"].strip(), r["TelephoneCountryCode"].strip()
    if rng.random() < 0.5:
        if cc == "1" and rng.random() < 0.5:
            a, b, c = national.split("-")
            return f"({a}) {b}-{c}", "national/US-paren"
        return national, f"national/{r['Country']}"
    rest = re.sub(r"^\((0?)(\d+)\)", r"\2", national)
    rest = rest[1:] if rest.startswith("0") and cc not in ("39",) else rest
    return f"+{cc} {rest}", f"intl/{r['Country']}"


def date_of_birth(r, rng):
    m, d, y = (int(x) for x in r["Birthday"].split("/"))
    style = rng.choices(["us", "long_us", "long_eu", "iso", "dotted"], weights=[40, 20, 15, 15, 10])[0]
    return {"us": f"{m}/{d}/{y}", "long_us": f"{MONTHS[m - 1]} {d}, {y}",
            "long_eu": f"{d} {MONTHS[m - 1]} {y}", "iso": f"{y}-{m:02d}-{d:02d}",
            "dotted": f"{d:02d}.{m:02d}.{y}"}[style], style


def clean_city(city):
    m = re.fullmatch(r"\[\[w:[^|]*\|([^\]]*)\]?\]?", city.strip())
    return m.group(1) if m else city.strip()


def street_name_only(street):
    """The street of a street line without its house number ("5 Oak Street" -> "Oak Street")."""
    s = re.sub(r"^\d+[A-Za-z]?\s+", "", street.strip())
    return re.sub(r"\s+\d+[A-Za-z]?\.?$", "", s)


def secondary(rng):
    return rng.choice(SECONDARY).format(n=rng.randrange(1, 400), f=rng.randrange(1, 30))


def address(r, rng):
    """A complete postal address in the convention of the identity's country."""
    street = r["StreetAddress"].strip()
    city, st, zp, cc = clean_city(r["City"]), r["State"].strip(), r["ZipCode"].strip(), r["Country"]
    if cc in ("US", "CA", "GB", "AU", "NZ") and not street.startswith(("P.O.", "Postbox")) \
            and rng.random() < 0.2:
        street = f"{street} {secondary(rng)}" if rng.random() < 0.5 else f"{street}, {secondary(rng)}"
    if cc == "US":
        zp = zp.zfill(5)  # the identities lost the leading zeros of ZIP codes
    if cc == "US" and rng.random() < 0.25:
        zp = f"{zp}-{rng.randrange(10000):04d}"
    if cc in ("US", "CA"):
        parts = [street, city, f"{st} {zp}"]
    elif cc == "AU":
        parts = [street, f"{city} {st} {zp}"]
    elif cc == "GB":
        parts = [street, city, zp]
    elif cc in ("NZ", "ZA"):
        parts = [street, f"{city} {zp}"]
    elif cc == "BR":
        parts = [street, f"{city} - {st}", zp]
    else:
        parts = [street, f"{zp} {city}"]
    if rng.random() < 0.3:
        parts.append(r["CountryFull"].strip())
    sep = "\n" if rng.random() < 0.25 else ", "
    return sep.join(parts), f"{cc}/{'lines' if sep == chr(10) else 'comma'}"


def full_name(r, rng):
    if rng.random() > 0.2:
        return f"{r['GivenName']} {r['Surname']}"
    return f"{r['GivenName']} {r['MiddleInitial']}{rng.choice([' ', '. '])}{r['Surname']}"


# ---------------------------------------------------------------- templates

def load_presidio(whl):
    with zipfile.ZipFile(whl) as z:
        def text(name):
            return z.read(RAW_DATA + name).decode("utf-8-sig")
        templates = []
        for ln in text("templates.txt").splitlines():
            ln = ln.strip()
            if not ln:
                continue
            # literal "\n" and "\," in the file; one mis-encoded dash; one single-brace slot line
            ln = ln.replace("\\n", "\n").replace("\\,", ",").replace("\ufffd", "\u2013")
            ln = re.sub(r"(?<!\{)\{([a-z_]+)\}(?!\})", r"{{\1}}", ln)
            templates.append(ln)
        # a few identity fields carry a stray U+FEFF (byte order mark): drop it
        people = [{k: v.replace("\ufeff", "") for k, v in row.items()} for row in
                  csv.DictReader(io.StringIO(text("FakeNameGenerator.com_3000.csv")))]
        orgs = [row["organization"].strip() for row in csv.DictReader(io.StringIO(
            text("companies_and_organizations.csv"))) if row["organization"].strip()]
        nations = list(csv.DictReader(io.StringIO(text("nationalities.csv"))))
        licences = [row["us_driver_license"].strip() for row in csv.DictReader(io.StringIO(
            text("us_driver_licenses.csv"))) if row["us_driver_license"].strip()]
    return templates, people, orgs, nations, licences


def prepare(template):
    """A building number followed by a street name is one street line in our identities."""
    return re.sub(r"\{\{building_number\}\}\s+\{\{street_name\}\}", "{{street_address}}", template)


class Filler:
    def __init__(self, rng, people, orgs, nations, licences):
        self.rng, self.people, self.orgs = rng, people, orgs
        self.nations, self.licences = nations, licences
        self.by_gender = {g: [p for p in people if p["Gender"] == g] for g in ("male", "female")}
        self.us = [p for p in people if p["Country"] == "US"]
        self.streets = [p for p in people if not p["StreetAddress"].startswith(("P.O.", "Postbox"))]

    def fill(self, template):
        rng = self.rng
        slots = SLOT.findall(template)
        gender = None
        if any(s.endswith("_male") for s in slots):
            gender = "male"
        elif any(s.endswith("_female") for s in slots):
            gender = "female"
        main = rng.choice(self.by_gender[gender] if gender else self.people)
        us_like = any(s in ("state_abbr", "zipcode") for s in slots)
        place = rng.choice(self.us) if us_like else main
        seen = {}
        text, spans = "", []
        pos = 0
        for m in SLOT.finditer(template):
            text += template[pos:m.start()]
            slot = m.group(1)
            occ = seen.get(slot, 0)
            seen[slot] = occ + 1
            want = "male" if slot.endswith("_male") else "female" if slot.endswith("_female") else None
            who = main
            if occ > 0 or (want and main["Gender"] != want):
                who = rng.choice(self.by_gender[want] if want else self.people)
            where = place if occ == 0 else rng.choice(self.people)
            value, fmt = self.value(slot, who, where, template[m.end():])
            start = len(text.encode("utf-8"))
            text += value
            kind = SCORED.get(slot) or UNSCORED.get(slot)
            if kind is None:
                die(f"template slot {{{{{slot}}}}} has no mapping: {template!r}")
            span = {"type": kind, "start": start, "end": len(text.encode("utf-8")), "value": value}
            if fmt:
                span["fmt"] = fmt
            spans.append(span)
            pos = m.end()
        text += template[pos:]
        return text, merge_addresses(text, spans)

    def value(self, slot, who, where, after):
        rng = self.rng
        if slot in ("person", "name", "name_male", "name_female"):
            return full_name(who, rng), None
        if slot.startswith("first_name"):
            return who["GivenName"], None
        if slot.startswith("last_name"):
            return who["Surname"], None
        if slot.startswith("prefix"):
            return who["Title"], None
        if slot == "email":
            return who["EmailAddress"], None
        if slot == "phone_number":
            return phone(who, rng)
        if slot == "credit_card_number":
            return credit_card(rng)
        if slot == "iban":
            return iban(rng)
        if slot == "ssn":
            return ssn(rng)
        if slot == "ip_address":
            return ip_address(rng)
        if slot == "date_of_birth":
            return date_of_birth(who, rng)
        if slot == "address":
            return address(where, rng)
        if slot == "street_address":
            return where["StreetAddress"].strip(), where["Country"]
        if slot == "street_name":
            r = where if where in self.streets else rng.choice(self.streets)
            name = street_name_only(r["StreetAddress"])
            if re.match(r"\s+(St\.|[Ss]treet)", after):  # the template writes the suffix
                name = re.sub(r"\s+(Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Drive)$", "", name)
            return name, None
        if slot == "secondary_address":
            return secondary(rng), None
        if slot == "city":
            return clean_city(where["City"]), None
        if slot == "country":
            return where["CountryFull"].strip(), None
        if slot == "state_abbr":
            return where["State"].strip(), None
        if slot in ("zipcode", "postcode"):
            zp = where["ZipCode"].strip()
            return (zp.zfill(5) if where["Country"] == "US" else zp), None
        if slot == "organization":
            return rng.choice(self.orgs), None
        if slot in ("nationality", "nation_woman", "nation_plural"):
            row = rng.choice(self.nations)
            key = {"nationality": "nationality", "nation_woman": "woman", "nation_plural": "plural"}[slot]
            return row[key].strip().title(), None
        if slot == "job":
            return who["Occupation"].strip(), None
        if slot == "age":
            return str(rng.randrange(18, 90)), None
        if slot == "year":
            return str(rng.randrange(1950, 2024)), None
        if slot == "day_of_week":
            return rng.choice(WEEKDAYS), None
        if slot == "date_time":
            d = rng.randrange(1, 29)
            mon = rng.choice(MONTHS)
            return rng.choice([f"{mon} {d}, {rng.randrange(1990, 2025)}",
                               f"{d} {mon} {rng.randrange(1990, 2025)} at {rng.randrange(7, 20)}:{rng.choice(['00', '15', '30', '45'])}",
                               f"{rng.choice(WEEKDAYS)}, {mon} {d}"]), None
        if slot == "url":
            dom = who["Domain"].strip().lower()
            return rng.choice([f"https://www.{dom}/", f"http://{dom}/photos/{rng.randrange(100, 999)}",
                               f"www.{dom}"]), None
        if slot == "us_driver_license":
            return rng.choice(self.licences), None
        if slot == "cc_expiry":
            return f"{rng.randrange(1, 13):02d}/{rng.randrange(25, 31)}", None
        die(f"no value for slot {slot!r}")
        return "", None


def merge_addresses(text, spans):
    """Merge runs of adjacent address parts into one POSTAL_ADDRESS span when they contain a
    street line; drop the parts' own spans then."""
    data = text.encode("utf-8")
    out, i = [], 0
    while i < len(spans):
        j = i
        if spans[i]["type"] in ADDRESS_PARTS:
            while (j + 1 < len(spans) and spans[j + 1]["type"] in ADDRESS_PARTS
                   and ADDRESS_GAP.match(data[spans[j]["end"]:spans[j + 1]["start"]].decode("utf-8"))):
                j += 1
        group = spans[i:j + 1]
        if any(s["type"] == "STREET_ADDRESS" for s in group):
            start, end = group[0]["start"], group[-1]["end"]
            street = next(s for s in group if s["type"] == "STREET_ADDRESS")
            out.append({"type": "POSTAL_ADDRESS", "start": start, "end": end,
                        "value": data[start:end].decode("utf-8"),
                        "fmt": f"{street.get('fmt', '')}/parts{len(group)}"})
        else:
            out.extend(group)
        i = j + 1
    return out


# ---------------------------------------------------------------- background

def background(raw, seed, n_bbc, n_sms, n_acl):
    sys.path.insert(0, os.path.join(ROOT, "eval"))
    import build_workload as bw  # the router workload's loaders: same text as the workload

    rng = random.Random(f"{seed}/pii/background")
    sms = [it for it in bw.load_sms(raw) if it["group"] == "ham"]
    bbc = bw.load_bbc(raw)
    acl = bw.load_acl(raw, seed)
    lines = []
    for source, items, n in (("bbc", bbc, n_bbc), ("sms", sms, n_sms), ("acl", acl, n_acl)):
        items = sorted(items, key=lambda it: it["idx"])
        for it in rng.sample(items, min(n, len(items))):
            lines.append({"text": it["input"], "source": source})
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--n", type=int, default=1200, help="number of sentences (default 1200)")
    ap.add_argument("--seed", default="2026", help="random seed (default 2026)")
    ap.add_argument("--extra-share", type=float, default=0.4,
                    help="share of sentences from the extra templates (default 0.4)")
    ap.add_argument("--out", default=os.path.join(ROOT, "eval", "data", "pii"),
                    help="output directory (default eval/data/pii)")
    ap.add_argument("--raw", default=os.path.join(ROOT, "eval", "data", "raw"),
                    help="router workload raw data (default eval/data/raw)")
    ap.add_argument("--bg-bbc", type=int, default=300, help="BBC articles in the background")
    ap.add_argument("--bg-sms", type=int, default=1000, help="SMS ham messages in the background")
    ap.add_argument("--bg-acl", type=int, default=300, help="ACL papers in the background")
    a = ap.parse_args()

    whl = wheels.wheel(TOOL, "presidio-evaluator")
    templates, people, orgs, nations, licences = load_presidio(whl)
    if len(templates) < 150 or len(people) < 1000:
        die(f"unexpected presidio data ({len(templates)} templates, {len(people)} identities)")
    rng = random.Random(f"{a.seed}/pii")
    filler = Filler(rng, people, orgs, nations, licences)

    n_extra = round(a.n * a.extra_share)
    order = []
    for source, pool, n in (("presidio", templates, a.n - n_extra), ("extra", EXTRA_TEMPLATES, n_extra)):
        idx = []
        while len(idx) < n:
            cycle = list(range(len(pool)))
            rng.shuffle(cycle)
            idx += cycle
        order += [(source, i, pool[i]) for i in idx[:n]]
    rng.shuffle(order)

    lines, counts = [], {}
    for source, i, template in order:
        text, spans = filler.fill(prepare(template))
        data = text.encode("utf-8")
        for s in spans:
            if data[s["start"]:s["end"]].decode("utf-8") != s["value"]:
                die(f"span offsets broken in {text!r}: {s}")
            counts[s["type"]] = counts.get(s["type"], 0) + 1
        lines.append({"text": text, "template": f"{source}:{i + 1}", "spans": spans})

    os.makedirs(a.out, exist_ok=True)

    def write(name, rows):
        path = os.path.join(a.out, name)
        with open(path + ".tmp", "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)
        print(f"wrote {os.path.relpath(path, ROOT)} ({len(rows)} lines, "
              f"{os.path.getsize(path):,} bytes)", file=sys.stderr)

    write("sentences.jsonl", lines)
    print("spans: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())), file=sys.stderr)
    if os.path.isdir(a.raw):
        bg = background(a.raw, a.seed, a.bg_bbc, a.bg_sms, a.bg_acl)
        write("background.jsonl", bg)
    else:
        print(f"{TOOL}: {os.path.relpath(a.raw, ROOT)} is missing, background.jsonl skipped "
              "(run scripts/fetch-eval-data to get it)", file=sys.stderr)


if __name__ == "__main__":
    main()
