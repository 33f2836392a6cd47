"""Made-up people for the benchmark: deterministic (fixed seed) lead rows written as CSV or XLSX.

Ten columns, the shape sales teams send: ``First Name, Last Name, Email, Phone, Company, Job Title, City, Country,
Lead Source, Notes``. Row ``i`` of a given ``seed`` is always the same person; emails are unique within one
``(seed, start)`` range (``<first>.<last>.<i>@<domain>``), so ``start`` lets two files overlap or not.

Usage: ``python bench/gen.py OUT.csv|OUT.xlsx --rows N [--seed S] [--start I]``.
"""
from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

HEADERS = (
    "First Name", "Last Name", "Email", "Phone", "Company", "Job Title", "City", "Country", "Lead Source", "Notes",
)  # fmt: skip

_FIRST = (
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Katja", "Lukas", "Maria",
    "Noah", "Olga", "Paul", "Quinn", "Rosa", "Samir", "Tara", "Uwe", "Vera", "Wim", "Xenia", "Yusuf", "Zoe",
    "Amélie", "Björn", "Chloé", "Dörte", "José", "François", "Søren", "Łukasz", "Renée", "Jürgen",
)  # fmt: skip
_LAST = (
    "Adams", "Becker", "Costa", "Dubois", "Evans", "Fischer", "García", "Hansen", "Ivanova", "Jensen", "Keller",
    "López", "Müller", "Nowak", "O'Brien", "Petrov", "Quintero", "Rossi", "Schmidt", "Tanaka", "Ullrich", "Varga",
    "Weber", "Xu", "Yilmaz", "Zimmermann", "van der Berg", "de la Cruz", "Smith-Jones", "NA",
)  # fmt: skip
_COMPANY_A = ("Acme", "Blue", "Cedar", "Delta", "Echo", "Falcon", "Granite", "Harbor", "Iris", "Juniper", "Kestrel")
_COMPANY_B = ("Systems", "Logistics", "GmbH", "Labs", "Partners", "Foods", "Energy", "Analytics", "S.A.", "Ltd")
_TITLES = (
    "CEO", "CTO", "Head of Sales", "Procurement Manager", "Marketing Lead", "Software Engineer", "Office Manager",
    "Buyer", "VP Operations", "Account Executive", "Geschäftsführer", "Directeur commercial", "",
)  # fmt: skip
_CITIES = (
    ("Berlin", "Germany", "+49 30 "), ("Hamburg", "Germany", "0049 40 "), ("Paris", "France", "+33 1 "),
    ("Madrid", "Spain", "+34 91 "), ("London", "United Kingdom", "+44 20 "), ("New York", "USA", "+1 212 "),
    ("Vienna", "Austria", "+43 1 "), ("Zürich", "Switzerland", "+41 44 "),
)  # fmt: skip
_SOURCES = ("Trade fair", "Website", "Referral", "Cold call", "LinkedIn", "Webinar")
_NOTES = ("", "", "", "call back in Q3", "met at booth 12", "prefers email", "budget approved; follow up", "VIP")
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.de")


def _ascii(text: str) -> str:
    table = str.maketrans({"é": "e", "ö": "o", "ü": "u", "ø": "o", "ç": "c", "ł": "l", "í": "i", "á": "a",
                           "É": "E", "Ö": "O", "Ü": "U", "Ø": "O", "Ł": "L"})
    return "".join(ch for ch in text.translate(table).lower() if ch.isalnum())


def rows(count: int, seed: int = 42, start: int = 0) -> list[list[str]]:
    """``count`` made-up lead rows (every cell text), deterministic for ``(seed, start)``."""
    rnd = random.Random(f"{seed}:{start}")
    out = []
    for i in range(start, start + count):
        first, last = rnd.choice(_FIRST), rnd.choice(_LAST)
        city, country, prefix = rnd.choice(_CITIES)
        phone = prefix + f"{rnd.randrange(1000000, 9999999)}"
        email = f"{_ascii(first)}.{_ascii(last)}.{i}@{rnd.choice(_DOMAINS)}"
        if rnd.random() < 0.02:
            email = ""  # a few rows without an email (always new leads)
        out.append([
            first, last, email, phone, f"{rnd.choice(_COMPANY_A)} {rnd.choice(_COMPANY_B)}", rnd.choice(_TITLES),
            city, country, rnd.choice(_SOURCES), rnd.choice(_NOTES),
        ])  # fmt: skip
    return out


def write_csv(path: Path, count: int, seed: int = 42, start: int = 0) -> Path:
    """Write a UTF-8 CSV with :data:`HEADERS` and ``count`` rows; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows(rows(count, seed, start))
    tmp.replace(path)
    return path


def write_xlsx(path: Path, count: int, seed: int = 42, start: int = 0) -> Path:
    """Write a one-sheet XLSX (openpyxl write-only mode) with :data:`HEADERS` and ``count`` rows."""
    from openpyxl import Workbook

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Leads")
    ws.append(list(HEADERS))
    for row in rows(count, seed, start):
        ws.append(row)
    tmp = path.with_name(path.stem + ".tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)
    return path


def cached(path: Path, count: int, seed: int = 42, start: int = 0) -> Path:
    """``path`` if it exists already (generated earlier with the same name), else generate it (CSV or XLSX)."""
    path = Path(path)
    if path.exists() and path.stat().st_size > 0:
        return path
    if path.suffix.lower() == ".xlsx":
        return write_xlsx(path, count, seed, start)
    return write_csv(path, count, seed, start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--start", type=int, default=0)
    args = ap.parse_args(argv)
    writer = write_xlsx if args.out.suffix.lower() == ".xlsx" else write_csv
    writer(args.out, args.rows, args.seed, args.start)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
