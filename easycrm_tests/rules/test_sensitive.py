"""Secrets and payment data by header and by content (issue 15)."""
from __future__ import annotations

from easycrm_pipeline.rules.sensitive import (
    excel_rounded_card, luhn_ok, redact_text, redaction, sensitive_header, sensitive_value,
)


def test_sensitive_headers():
    assert sensitive_header("Card Number") == "card number"
    assert sensitive_header("Credit Card") == "card number"
    assert sensitive_header("CVV") == sensitive_header("CVC") == "card security code"
    assert sensitive_header("Password") == sensitive_header("Passwort") == "password"
    assert sensitive_header("IBAN") == "IBAN"
    assert sensitive_header("SSN") == sensitive_header("National ID") == "national id"
    assert sensitive_header("Bank Account Number") == sensitive_header("Kontonummer") == "bank account"
    # whole words: camelCase, underscores and compounds of the patterns' own words still match
    assert sensitive_header("creditCardNumber") == sensitive_header("CC Number") == "card number"
    assert sensitive_header("Kreditkartennummer") == sensitive_header("Numéro de carte") == "card number"
    assert sensitive_header("Client Secret") == sensitive_header("PIN") == "password"
    assert sensitive_header("kun_passwort") == "password"
    assert sensitive_header("Passport No") == sensitive_header("Steuer-ID") == "national id"
    # a CRM's customer "Account Number", a bank's BIC, Outlook's "CC", a company secretary, India's postal "PIN Code",
    # a customer id: not secrets (breaker finding 17)
    for ordinary in ("Company", "Email", "Phone", "Title", "Business Card", "Expiry", "Account Name", "Notes",
                     "Account Number", "BIC", "CC", "Secretary", "Company Secretary", "PIN Code", "Pincode",
                     "Customer ID Number"):
        assert sensitive_header(ordinary) is None, ordinary


def test_sensitive_values():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert sensitive_value("4111 1111 1111 1111") == "card number"
    assert sensitive_value("378282246310005") == "card number"  # Amex, 15 digits
    assert sensitive_value("4111111111111112") is None
    assert sensitive_value("+4915112345678") is None  # a phone with "+" is never a card
    assert sensitive_value("447700900123") is None  # 12 digits
    assert sensitive_value("963944000111") is None
    assert sensitive_value("GB82 WEST 1234 5698 7654 32") == "IBAN"
    assert sensitive_value("GB82 WEST 1234 5698 7654 33") is None
    assert sensitive_value("Head of Human Resources") is None
    assert redaction("card number") == "[redacted: card number]"


def test_secrets_inside_text_are_redacted_in_place():
    assert redact_text("Paid by card 4111 1111 1111 1111 exp 12/27") == (
        "Paid by card [redacted: card number] exp 12/27", ["card number"])
    assert redact_text("IBAN: DE89 3704 0044 0532 0130 00") == ("IBAN: [redacted: IBAN]", ["IBAN"])
    assert redact_text("de89 3704 0044 0532 0130 00 (old)") == ("[redacted: IBAN] (old)", ["IBAN"])
    # a trailing group that breaks the Luhn check is cut off, the card is still found
    assert redact_text("card 4111 1111 1111 1111 12") == ("card [redacted: card number] 12", ["card number"])
    assert redact_text("call +4915112345678 or 4111-1111-1111-1112") == (
        "call +4915112345678 or 4111-1111-1111-1112", [])
    # in a phone column up to 15 digits may be a phone (a Luhn-valid German mobile); 16-19 digits never are
    assert redact_text("4915112345678", phone=True) == ("4915112345678", [])
    assert redact_text("4111 1111 1111 1111", phone=True) == ("[redacted: card number]", ["card number"])


def test_card_numbers_rounded_by_excel():
    assert excel_rounded_card(4111111111111110) and excel_rounded_card(5555555555554440.0)
    assert not excel_rounded_card(4111111111111111)  # 16 significant digits: not Excel's (Luhn decides)
    assert not excel_rounded_card(1234567890123450.0)  # no card prefix
    assert not excel_rounded_card(447700900123.0) and not excel_rounded_card("4111111111111110")
