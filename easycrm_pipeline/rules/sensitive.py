"""Secrets and payment data that must never be stored in remarks nor sent to DeepSeek.

A column is sensitive by its header (card number, CVV/CVC, expiry of a card, password/PIN, IBAN, bank account,
SSN / national id, passport, tax id — English, German, French, Spanish names; not a CRM's customer "Account Number") and a cell by its content: a payment card number (13–19
digits passing the Luhn check of ISO/IEC 7812-1, with a known issuer prefix) or an IBAN (ISO 13616 mod-97 check).
Such cells are replaced by ``[redacted: <kind>]`` when the file is read (:mod:`easycrm_pipeline.parsing.table`), so
the raw row, remarks, the quarantine and DeepSeek requests never see them; the count is reported per sheet.
"""
from __future__ import annotations

import re

from .text import clean_text, fold

#: kind -> header patterns (matched against the folded header with everything but letters and digits removed).
_HEADER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("card number", re.compile(
        r"(credit|debit|payment|bank)cards?(number|no|nr|num|nummer|numero)?$|^cards?(number|no|nr|num|nummer|numero)$|"
        r"^card$|^(cc|pan)(number|no|num)?$|"
        r"^cardholder|kreditkarte|cartebancaire|cartedecredit|numerodecarte|tarjeta|kartennummer")),
    ("card security code", re.compile(r"^(cvv|cvc|cvv2|cvc2|cid|csc)\d?$|securitycode|kartenprufnummer|cryptogramme")),
    ("card expiry", re.compile(r"^(card|cc)(expiry|expiration|exp)|^(expiry|exp)(month|year|mm|yy)")),
    ("password", re.compile(r"password|passwort|passwd|^pwd$|^pass$|motdepasse|contrasena|kennwort|^pin(code)?$|"
                            r"secret|apikey|accesstoken|^token$")),
    ("IBAN", re.compile(r"^iban")),
    ("bank account", re.compile(r"bankaccount|^bankkonto|kontonummer|numerodecompte|cuentabancaria|routingnumber")),
    ("national id", re.compile(r"^ssn$|socialsecurity|nationalid|nationalidentity|nationalinsurance|^nin$|^nino$|"
                               r"sozialversicherungs|steuerid|steueridentifikation|taxid|^tin$|^nif$|^nie$|^dni$|"
                               r"passport|reisepass|personalausweis|ausweisnummer|idnumber|^id(card)?no$|"
                               r"numerodesecu|insee|curp|^rfc$|^cpf$|aadhaar|^pesel$|snils|^inn$")),
)

_CARD_CHARS = re.compile(r"^[\d \-.]{13,25}$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}$")


def sensitive_header(header: str) -> str | None:
    """The kind of secret a column holds by its header (``"Card Number"`` -> ``"card number"``, ``"CVV"`` ->
    ``"card security code"``, ``"Passwort"`` -> ``"password"``, ``"SSN"`` -> ``"national id"``), else ``None``."""
    key = "".join(ch for ch in fold(clean_text(header)) if ch.isalnum())
    if not key:
        return None
    for kind, pattern in _HEADER_PATTERNS:
        if pattern.search(key):
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


def sensitive_value(value: str) -> str | None:
    """The kind of secret a cell holds by its content: ``"card number"`` for 13-19 digits (spaces, dashes, dots
    allowed; no ``+``) with a card prefix passing the Luhn check, ``"IBAN"`` for an IBAN passing ISO 13616's mod-97
    check; else ``None``. Cheap for ordinary text (two character tests before any regular expression)."""
    if len(value) < 13 or len(value) > 42:
        return None
    first = value[0]
    if first.isdigit():
        if not _CARD_CHARS.match(value):
            return None
        digits = re.sub(r"\D", "", value)
        if 13 <= len(digits) <= 19 and _card_prefix_ok(digits) and luhn_ok(digits):
            return "card number"
        return None
    if "A" <= first <= "Z" and value[1:4].replace(" ", "")[:3].isalnum():
        compact = value.replace(" ", "")
        if _IBAN.match(value) and 15 <= len(compact) <= 34:
            moved = compact[4:] + compact[:4]
            number = "".join(str(int(ch, 36)) for ch in moved)
            if int(number) % 97 == 1:
                return "IBAN"
    return None


def redaction(kind: str) -> str:
    """The text a redacted cell holds: ``[redacted: card number]``."""
    return f"[redacted: {kind}]"


__all__ = ["luhn_ok", "redaction", "sensitive_header", "sensitive_value"]
