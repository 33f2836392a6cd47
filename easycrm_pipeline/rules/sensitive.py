"""Secrets and payment data that must never be stored in remarks nor sent to DeepSeek.

A column is sensitive by its header (card number, CVV/CVC, expiry of a card, password/PIN, IBAN, bank account,
SSN / national id, passport, tax id — English, German, French, Spanish names, matched by whole words; not a CRM's
customer "Account Number", a "Secretary", India's postal "PIN Code", Outlook's "CC") and text by its content: a payment
card number (13-19 digits passing the Luhn check of ISO/IEC 7812-1, with a known issuer prefix) or an IBAN (ISO 13616
mod-97 check, any case), whole cells and inside free text ("Paid by card 4111 1111 1111 1111 exp 12/27").
Such cells / numbers are replaced by ``[redacted: <kind>]`` when the file is read
(:mod:`easycrm_pipeline.parsing.table`), so the raw row, remarks, the quarantine and DeepSeek requests never see
them; the count is reported per sheet.
"""
from __future__ import annotations

import re

from .text import clean_text, fold

#: kind -> header patterns, matched against the header's words: folded (accents removed, lower case), camelCase and
#: every non-alphanumeric run split into single spaces (``"creditCard_Number"`` -> ``"credit card number"``). Short or
#: common words only match as whole words or whole headers: ``Secretary``, ``PIN Code`` (India's postal code),
#: ``Customer ID Number``, ``CC`` (Outlook's carbon copy), a CRM's ``Account Number`` are ordinary columns.
_HEADER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("card number", re.compile(
        r"\b(credit|debit|payment|bank) ?cards?\b|^cards? ?(number|no|nr|num|nummer|numero)?$|"
        r"^(cc|pan) ?(number|no|nr|num)$|^pan$|^card ?holder|"
        r"kreditkarte|kartennummer|carte ?bancaire|carte de ?credit|numero de ?carte|tarjeta")),
    ("card security code", re.compile(
        r"^(cvv|cvc|cvv2|cvc2|cid|csc) ?\d?$|security ?code|kartenprufnummer|cryptogramme")),
    ("card expiry", re.compile(r"^(card|cc) ?(expiry|expiration|exp)\b|^(expiry|exp) ?(month|year|mm|yy)\b")),
    ("password", re.compile(r"passwor[dt]|\bpasswd\b|^pwd$|^pass$|mot ?de ?passe|contrasena|kennwort|"
                            r"^pin$|^pin ?(number|no|nr)$|\bsecret\b|\bapi ?key\b|\baccess ?token\b|^token$")),
    ("IBAN", re.compile(r"^iban\b")),
    ("bank account", re.compile(r"\bbank ?account|^bank ?konto|kontonummer|numero de ?compte|cuenta ?bancaria|"
                                r"\brouting ?number")),
    ("national id", re.compile(
        r"^ssn$|social ?security|\bnational ?id|\bnational ?identity|national ?insurance|^nin$|^nino$|"
        r"sozialversicherungs|\bsteuer ?id|steueridentifikation|\btax ?id\b|^tin$|^nif$|^nie$|^dni$|"
        r"passport|reisepass|personalausweis|ausweisnummer|^id ?(number|no|nr)$|^id ?card ?(number|no|nr)?$|"
        r"^(personal|identity) ?(id|card|number)\b|numero de ?secu|\binsee\b|\bcurp\b|^rfc$|^cpf$|aadhaar|"
        r"^pesel$|\bsnils\b|^inn$")),
)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

#: A run of 12+ digits and separators (spaces, dashes, dots): every card number and every IBAN holds one (Norway's
#: short IBAN has 13 digits, Malta's the fewest in a row: 12). What :func:`find_secrets` looks for first: simple
#: character classes only, fast enough for every row of a file.
_DIGIT_RUN = re.compile(r"[0-9][0-9 .\-]{10,}[0-9]")
#: Where an IBAN may start: country code and check digits (any case); :func:`_iban_at` reads on.
_IBAN_HEAD = re.compile(r"[A-Za-z]{2}[0-9]{2}")
_IBAN_TAIL = re.compile(r"[ A-Za-z0-9]{11,}")
#: Longest IBAN (34 characters) with its spaces: how far before a digit run its country code may be.
_IBAN_REACH = 42
_GROUP = re.compile(r"[0-9]+")
_SEPARATORS = str.maketrans("", "", " -.")


def sensitive_header(header: str) -> str | None:
    """The kind of secret a column holds by its header (``"Card Number"`` -> ``"card number"``, ``"CVV"`` ->
    ``"card security code"``, ``"Passwort"`` -> ``"password"``, ``"SSN"`` -> ``"national id"``), else ``None``
    (``"Secretary"``, ``"PIN Code"``, ``"Customer ID Number"``, ``"CC"``, ``"Account Number"``)."""
    words = _NON_ALNUM.sub(" ", fold(_CAMEL.sub(" ", clean_text(header)))).strip()
    if not words:
        return None
    for kind, pattern in _HEADER_PATTERNS:
        if pattern.search(words):
            return kind
    return None


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of ISO/IEC 7812-1 on a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_prefix_ok(digits: str) -> bool:
    """Issuer prefixes of the card networks (Visa 4, Mastercard 51-55/2221-2720, Amex 34/37, Discover 6011/65/644-649,
    Diners 300-305/36/38/39, JCB 35, UnionPay 62, Maestro 50/56-58/63/67)."""
    n = len(digits)
    if digits[0] == "4":
        return n in (13, 16, 19)
    two = int(digits[:2])
    four = int(digits[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19
    return two in (35, 50, 56, 57, 58, 60, 62, 63, 64, 65, 67) and 16 <= n <= 19


#: Fewest digits of a card number in a phone column: up to 15 digits a value may be a phone (E.164's maximum; a
#: 13-digit German mobile ``4915112345678`` passes the Luhn check with Visa's prefix), 16-19 digits never are.
PHONE_COLUMN_CARD_DIGITS = 16


def _is_card(digits: str, min_digits: int = 13) -> bool:
    return min_digits <= len(digits) <= 19 and _card_prefix_ok(digits) and luhn_ok(digits)


def _is_iban(compact: str) -> bool:
    """ISO 13616: 15-34 characters, mod-97 of the rearranged number is 1 (``compact``: upper case, no spaces)."""
    if not 15 <= len(compact) <= 34 or not compact.isalnum() or not compact.isascii():
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _card_span(text: str, m: re.Match[str], min_digits: int) -> tuple[int, int] | None:
    """The card number in the digit run ``m`` of ``text``: digit groups joined by single separators
    (``4111 1111 1111 1111``, ``4111-1111-1111-1111``, ``4111111111111111``), the longest sequence of groups that is
    a card (``"4111 1111 1111 1111 12"`` -> the first four groups); never behind ``+`` (a phone)."""
    run = m.group()
    if (m.start() and text[m.start() - 1] == "+") or len(run.translate(_SEPARATORS)) < min_digits:
        return None
    groups = [g.span() for g in _GROUP.finditer(run)]
    # a separator longer than one character ("1234 - 5678") ends a number
    segments: list[list[tuple[int, int]]] = [[groups[0]]]
    for prev, span in zip(groups, groups[1:]):
        if span[0] - prev[1] > 1:
            segments.append([])
        segments[-1].append(span)
    best: tuple[int, int] | None = None
    for seg in segments:
        for i in range(len(seg)):
            for j in range(len(seg) - 1, i - 1, -1):
                a, b = seg[i][0], seg[j][1]
                if best is not None and b - a <= best[1] - best[0]:
                    break
                if _is_card(run[a:b].translate(_SEPARATORS), min_digits):
                    best = (a, b)
                    break
    return None if best is None else (m.start() + best[0], m.start() + best[1])


def _iban_at(text: str, start: int) -> tuple[int, int] | None:
    """The IBAN starting at ``start`` (a country code and check digits not glued to a word): the longest run of
    whole space-separated groups passing the mod-97 check (``"IBAN: DE89 3704 0044 0532 0130 00 paid"``)."""
    if start and text[start - 1].isalnum():
        return None
    tail = _IBAN_TAIL.match(text, start + 4)
    if tail is None:
        return None
    run = text[start:tail.end()]
    if "  " in run:
        run = run[:run.index("  ")]
    ends = [g.end() for g in re.finditer(r"\S+", run)]
    for end in reversed(ends):
        if _is_iban(run[:end].replace(" ", "").upper()):
            return start, start + end
    return None


def find_secrets(text: str, phone: bool = False) -> list[tuple[int, int, str]]:
    """Card numbers (13-19 digits with a card prefix passing the Luhn check; spaces, dashes, dots allowed; never
    behind ``+``) and IBANs (ISO 13616 mod-97, any case) inside ``text``: ``(start, end, kind)`` in order.
    ``phone``: the text is a phone column's cell, where card numbers need :data:`PHONE_COLUMN_CARD_DIGITS` digits."""
    cards: list[tuple[int, int, str]] = []
    ibans: dict[int, tuple[int, int, str]] = {}
    min_digits = PHONE_COLUMN_CARD_DIGITS if phone else 13
    for m in _DIGIT_RUN.finditer(text):
        if len(m.group().translate(_SEPARATORS)) < 12:  # fewer digits than any card number or IBAN holds in a row
            continue
        span = _card_span(text, m, min_digits)
        if span is not None:
            cards.append((*span, "card number"))
        for head in _IBAN_HEAD.finditer(text, max(0, m.start() - _IBAN_REACH), m.end()):
            if head.start() not in ibans and (iban := _iban_at(text, head.start())) is not None:
                ibans[head.start()] = (*iban, "IBAN")
    found = cards + [i for i in ibans.values() if not any(a < i[1] and i[0] < b for a, b, _ in cards)]
    return sorted(found)


def redact_text(text: str, phone: bool = False) -> tuple[str, list[str]]:
    """``text`` with every secret of :func:`find_secrets` replaced by :func:`redaction` in place, and the kinds
    replaced (``"Paid by card 4111 1111 1111 1111 exp 12/27"`` -> ``("Paid by card [redacted: card number] exp
    12/27", ["card number"])``; a cell that is only the number becomes ``"[redacted: card number]"``). ``phone``: as
    for :func:`find_secrets`."""
    found = find_secrets(text, phone)
    if not found:
        return text, []
    out, pos = [], 0
    for a, b, kind in found:
        out += [text[pos:a], redaction(kind)]
        pos = b
    out.append(text[pos:])
    return "".join(out), [kind for _, _, kind in found]


def sensitive_value(value: str) -> str | None:
    """The kind of secret a cell holds when it is nothing but a secret: ``"card number"`` for 13-19 digits (spaces,
    dashes, dots allowed; no ``+``) with a card prefix passing the Luhn check, ``"IBAN"`` for an IBAN (any case)
    passing ISO 13616's mod-97 check; else ``None``. Secrets inside text: :func:`redact_text`."""
    value = value.strip()
    found = find_secrets(value) if 13 <= len(value) <= 60 else []
    if len(found) == 1 and found[0][:2] == (0, len(value)):
        return found[0][2]
    return None


def excel_rounded_card(value: object) -> bool:
    """A number read from a numeric spreadsheet cell that is a card number Excel rounded: Excel keeps 15 significant
    digits, so a 16-19 digit card number typed as a number is saved with its last digits zeroed
    (``4111 1111 1111 1111`` -> ``4111111111111110``) and fails the Luhn check. True for a whole number of 16-19
    digits whose digits after the 15th are zeros and whose prefix and length are a card network's."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1e15 <= value < 1e19:
        return False
    mantissa, exponent = f"{float(value):.14e}".split("e")
    if float(f"{mantissa}e{exponent}") != value:  # more than 15 significant digits: not what Excel saves
        return False
    digits = mantissa.replace(".", "").ljust(int(exponent) + 1, "0")
    return 16 <= len(digits) <= 19 and _card_prefix_ok(digits)


#: How every redaction starts (``[redacted: card number]``).
REDACTED_PREFIX = "[redacted: "


def redaction(kind: str) -> str:
    """The text a redacted cell holds: ``[redacted: card number]``."""
    return f"{REDACTED_PREFIX}{kind}]"


__all__ = ["PHONE_COLUMN_CARD_DIGITS", "REDACTED_PREFIX", "excel_rounded_card", "find_secrets", "luhn_ok",
           "redact_text", "redaction", "sensitive_header", "sensitive_value"]
