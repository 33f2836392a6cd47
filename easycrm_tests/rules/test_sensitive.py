"""Secrets and payment data by header and by content (issue 15)."""
from __future__ import annotations

from easycrm_pipeline.rules.sensitive import luhn_ok, redaction, sensitive_header, sensitive_value


def test_sensitive_headers():
    assert sensitive_header("Card Number") == "card number"
    assert sensitive_header("Credit Card") == "card number"
    assert sensitive_header("CVV") == sensitive_header("CVC") == "card security code"
    assert sensitive_header("Password") == sensitive_header("Passwort") == "password"
    assert sensitive_header("IBAN") == "IBAN"
    assert sensitive_header("SSN") == sensitive_header("National ID") == "national id"
    assert sensitive_header("Bank Account Number") == sensitive_header("Kontonummer") == "bank account"
    # a CRM's customer "Account Number", a bank's BIC: not secrets
    for ordinary in ("Company", "Email", "Phone", "Title", "Business Card", "Expiry", "Account Name", "Notes",
                     "Account Number", "BIC"):
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
