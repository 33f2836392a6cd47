"""Breaker cases on the readers (issue 15 follow-ups): secrets that escape redaction, encodings and HTML layouts that
corrupt or lose cells. Each is xfail(strict) until fixed."""
from __future__ import annotations

from pathlib import Path

import pytest

from easycrm_pipeline.parsing import FileRejected, read_file
from easycrm_pipeline.rules import standardize_rows

CARD = "4111 1111 1111 1111"  # Luhn-valid Visa test number
IBAN = "DE89 3704 0044 0532 0130 00"  # valid IBAN (ISO 13616 example)


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _everything(parsed) -> str:
    """Every text the file's rows reach: raw cells (headers and values), the rules' fields and remarks, quarantine."""
    parts = []
    for row in parsed.rows:
        parts += [f"{h}={v}" for h, v in row.cells]
    for lead in standardize_rows(parsed.rows):
        parts += [str(v) for v in lead.fields.values() if v]
    for q in parsed.quarantine:
        parts += [f"{h}={v}" for h, v in q.raw.items()] + [q.reason]
    return "\n".join(parts)


def test_breaker_card_number_inside_notes_text_is_redacted(tmp_path):
    text = f"Email,First Name,Notes\na@example.com,Ann,Paid by card {CARD} exp 12/27\n"
    parsed = read_file(_write(tmp_path, "notes_card.csv", text))
    assert "4111" not in _everything(parsed)
    assert sum(s.redacted.get("card number", 0) for s in parsed.sheets) == 1


def test_breaker_labelled_iban_in_notes_is_redacted(tmp_path):
    text = f"Email,First Name,Notes\nb@example.com,Bob,IBAN: {IBAN}\n"
    parsed = read_file(_write(tmp_path, "notes_iban.csv", text))
    assert "3704" not in _everything(parsed)


def test_breaker_lower_case_iban_is_redacted(tmp_path):
    text = f"Email,First Name,Notes\nc@example.com,Cy,{IBAN.lower()}\n"
    parsed = read_file(_write(tmp_path, "lower_iban.csv", text))
    assert "3704" not in _everything(parsed)


def test_breaker_card_number_in_phone_column_is_not_stored(tmp_path):
    text = f"Email,First Name,Phone\na@example.com,Ann,{CARD}\n"
    parsed = read_file(_write(tmp_path, "phone_card.csv", text))
    assert "4111" not in _everything(parsed)


def test_breaker_card_number_in_header_cell_is_redacted(tmp_path):
    text = "Email,First Name,4111111111111111\na@example.com,Ann,x\n"
    parsed = read_file(_write(tmp_path, "header_card.csv", text))
    assert "4111" not in _everything(parsed)


def test_breaker_refusal_does_not_quote_a_card_number(tmp_path):
    path = _write(tmp_path, "nomap.csv", f"{CARD};hunter2\nxx;yy\n")
    with pytest.raises(FileRejected) as info:
        read_file(path)
    assert "4111" not in str(info.value)


_RU_HTML = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset={cs}"></head><body><table>'
            "<tr><th>Имя</th><th>Фамилия</th><th>Рабочий e-mail</th><th>Компания</th></tr>"
            "<tr><td>Иван</td><td>Петров</td><td>ivan@example.ru</td><td>ООО Ромашка</td></tr>"
            "<tr><td>Олег</td><td>Сидоров</td><td>oleg@example.ru</td><td>ЗАО Вектор</td></tr>"
            "</table></body></html>")


def test_breaker_html_xls_declared_charset_is_used(tmp_path):
    parsed = read_file(_write(tmp_path, "ru.xls", _RU_HTML.format(cs="windows-1251").encode("cp1251")))
    leads = standardize_rows(parsed.rows)
    assert [(lead.fields["firstName"], lead.fields["email"]) for lead in leads] == [
        ("Иван", "ivan@example.ru"), ("Олег", "oleg@example.ru")]


def test_breaker_utf16_html_xls_is_read(tmp_path):
    parsed = read_file(_write(tmp_path, "ru16.xls", _RU_HTML.format(cs="utf-16").encode("utf-16")))
    assert [dict(r.cells).get("Email") or dict(r.cells).get("Рабочий e-mail") for r in parsed.rows] == [
        "ivan@example.ru", "oleg@example.ru"]


def test_breaker_cp1251_csv_with_russian_headers(tmp_path):
    text = "Имя;Фамилия;E-mail\nИван;Петров;ivan@example.ru\nОлег;Сидоров;oleg@example.ru\n"
    parsed = read_file(_write(tmp_path, "ru.csv", text.encode("cp1251")))
    leads = standardize_rows(parsed.rows)
    assert [(lead.fields["firstName"], lead.fields["lastName"]) for lead in leads] == [
        ("Иван", "Петров"), ("Олег", "Сидоров")]


def test_breaker_html_rowspan_keeps_columns_aligned(tmp_path):
    html = ("<table><tr><th>Company</th><th>First Name</th><th>Email</th></tr>"
            '<tr><td rowspan="2">ACME</td><td>Ann</td><td>ann@example.com</td></tr>'
            "<tr><td>Bob</td><td>bob@example.com</td></tr></table>")
    parsed = read_file(_write(tmp_path, "rowspan.xls", html))
    assert [dict(r.cells).get("Email") for r in parsed.rows] == ["ann@example.com", "bob@example.com"]
    assert parsed.quarantine == []


def test_breaker_email_in_name_column_with_empty_email_column_is_a_lead(tmp_path):
    text = "First Name,Last Name,Email\nann@example.com,Lee,\nBob,Ray,bob@example.com\n"
    parsed = read_file(_write(tmp_path, "namemail.csv", text))
    assert parsed.quarantine == []
    leads = standardize_rows(parsed.rows)
    assert sorted(lead.fields["email"] for lead in leads) == ["ann@example.com", "bob@example.com"]


def test_breaker_html_mailto_link_keeps_the_address(tmp_path):
    html = ("<table><tr><th>Name</th><th>E-mail</th></tr>"
            '<tr><td>Max Muster</td><td><a href="mailto:max@example.com">Max</a></td></tr></table>')
    parsed = read_file(_write(tmp_path, "mailto.xls", html))
    assert [lead.fields["email"] for lead in standardize_rows(parsed.rows)] == ["max@example.com"]
