"""Bytes valid both as UTF-8 and as cp1252: decided by plausibility, never by replacing characters.

cp1252 ``JOSÉ’S`` is the bytes ``JOS\\xc9\\x92S``, which are also valid UTF-8 (``JOSɒS``, an IPA letter). Real UTF-8
``Café`` read as cp1252 would be ``CafÃ©`` (mojibake): the UTF-8 reading is the plausible one there.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from easycrm_pipeline.parsing import decode_bytes, read_file
from easycrm_pipeline.parsing.plausibility import (
    CLEAR_RANGES,
    plausible_char,
    plausible_cp1252_sequence,
    prefer_cp1252,
    utf8_text_is_plausible,
)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_example_bytes_are_valid_both_ways():
    assert b"JOS\xc9\x92S".decode("utf-8") == "JOSɒS"
    assert b"JOS\xc9\x92S".decode("cp1252") == "JOSÉ’S"


def test_cp1252_line_that_is_valid_utf8_in_a_glued_file(tmp_path):
    data = ("Name,Email,Company\nZoë Ångström,z@example.de,Café Müller\n".encode("utf-8")
            + "JOSÉ’S TACOS,j@example.es,“EL SEÑOR” – 5 €\n".encode("cp1252")  # not UTF-8 (ñ, “, –, €)
            + "JOSÉ’S,jose@example.es,ACME\n".encode("cp1252"))  # valid UTF-8 by chance
    assert b"JOS\xc9\x92S,jose" in data
    parsed = read_file(_write(tmp_path, "glued.csv", data))
    assert parsed.encoding == "utf-8+cp1252"
    assert [dict(r.cells)["Name"] for r in parsed.rows] == ["Zoë Ångström", "JOSÉ’S TACOS", "JOSÉ’S"]
    assert [dict(r.cells)["Company"] for r in parsed.rows] == ["Café Müller", "“EL SEÑOR” – 5 €", "ACME"]


def test_utf8_line_stays_utf8_in_a_glued_file(tmp_path):
    # "Café" in UTF-8 is also valid cp1252 ("CafÃ©"): the UTF-8 reading is plausible, the cp1252 one is mojibake
    data = "Name,Company\nAnn,Café Ltd\n".encode("utf-8") + "Bob,Société\n".encode("cp1252")
    text, encoding = decode_bytes(data)
    assert encoding == "utf-8+cp1252"
    assert text == "Name,Company\nAnn,Café Ltd\nBob,Société\n"


def test_a_line_neither_utf8_nor_cp1252_does_not_turn_the_utf8_lines_into_mojibake():
    # 0x8D is undefined in cp1252: that line alone is read byte for byte (Latin-1); the UTF-8 line stays UTF-8
    data = "Name,Company\nZoë,Café Ltd\n".encode("utf-8") + b"Bob,Soci\xe9t\xe9 \x8d\n"
    text, encoding = decode_bytes(data)
    assert encoding == "utf-8+cp1252"
    assert text == "Name,Company\nZoë,Café Ltd\nBob,Société \x8d\n"


def test_whole_cp1252_file_that_is_valid_utf8_is_cp1252(tmp_path):
    data = "First Name,Last Name,Company\nJOSÉ’S,O'NEIL,ACME\nRENÉ”,ANDRÉ—X,X\n".encode("cp1252")
    # valid UTF-8 by chance: É’ -> ɒ (IPA), É” -> ɔ and É— -> ɗ (letters of African alphabets, but lower case
    # inside an ALL-CAPS word)
    assert data.decode("utf-8") == "First Name,Last Name,Company\nJOSɒS,O'NEIL,ACME\nRENɔ,ANDRɗX,X\n"
    text, encoding = decode_bytes(data)
    assert encoding == "cp1252"
    assert text == data.decode("cp1252")
    parsed = read_file(_write(tmp_path, "win.csv", data))
    assert dict(parsed.rows[1].cells) == {"First Name": "RENÉ”", "Last Name": "ANDRÉ—X", "Company": "X"}


def test_cp1252_file_with_only_cp1252_lines_keeps_the_cp1252_label():
    data = "Name\nJOSÉ’S\nFrançois\n".encode("cp1252")  # line 2 valid UTF-8 by chance, line 3 not
    assert decode_bytes(data) == ("Name\nJOSÉ’S\nFrançois\n", "cp1252")


@pytest.mark.parametrize("text", [
    "Name,Company\nZoë Ångström,Café Müller\n",
    "Name,Company\nJosé Núñez,“Łódź” Sp. z o.o. – 5 €\n",
    "Nume\nȘtefan Țară\n",  # Romanian (Latin Extended-B)
    "Name\nƊanjuma Ɓello, Ƙano\n",  # Hausa
    "Name\nKɔfi Mɛnsah, ƆBENG\n",  # Akan
    "Tên\nNguyễn Văn Ơn, Trường\n",  # Vietnamese
    "Name\nLǚ Xiǎomíng\n",  # Pinyin
    "Name\nƏliyev Məmməd\n",  # Azerbaijani
    "Имя\nСергей Иванов, ООО Ромашка\n",
    "Name\nΓιώργος Παπαδόπουλος\n",
    "Name\nדוד כהן\n",
    "Name\nمحمد علي\n",
    "Name\n王小明, 株式会社テスト, 김민준\n",
    "Name\nAnn 😀 Lee\n",
    "Name\nZoe\u0308 Lefe\u0300vre\n",  # decomposed accents (macOS)
    "Name\nJosÃ© GarcÃ­a\n",  # double-encoded text stays as written: no character is changed
])
def test_plausible_utf8_files_stay_utf8(text):
    assert decode_bytes(text.encode("utf-8")) == (text, "utf-8")


def test_undecided_line_counts_for_cp1252_only_with_cp1252_lines_elsewhere():
    # \xc9\xb4: UTF-8 "ɴ" (rare IPA) / cp1252 "É´" (a rare acute accent): both readings odd
    odd = b"Name\nJOS\xc9\xb4\n"
    assert decode_bytes(odd) == ("Name\nJOSɴ\n", "utf-8")
    glued = "Name\nZoë\n".encode("utf-8") + b"JOS\xc9\xb4\n" + "François\n".encode("cp1252")
    assert decode_bytes(glued) == ("Name\nZoë\nJOSÉ´\nFrançois\n", "utf-8+cp1252")


def test_nothing_is_ever_replaced(tmp_path):
    samples = [
        "Name\nJOSÉ’S\n".encode("cp1252"),
        "Name\nZoë\n".encode("utf-8") + "JOSÉ’S\n".encode("cp1252"),
        b"Name\nJOS\xc9\xb4\n",
        "Name\nAna".encode("latin-1") + b"\x81\n",
        "Name\nCafé\n".encode("utf-8"),
    ]
    for data in samples:
        text, encoding = decode_bytes(data)
        assert "\ufffd" not in text
        if "+" not in encoding:
            assert text.encode(encoding) == data


def test_plausible_char_blocks():
    for ch in "éÅßłŒšĞıŞțơǎɗɛəΓЖאمé’“”–—…€•™":
        assert plausible_char(ch), ch
    for ch in "ɒɐʃʊ\x85\x92ˆˇܐހߊ─█\ue000\u0378":
        if ch in "ʃ":
            continue  # ʃ is a letter of some African alphabets
        assert not plausible_char(ch), repr(ch)


def test_clear_ranges_agree_with_plausible_char():
    clear = re.compile(f"[{CLEAR_RANGES}]")
    assert [hex(c) for c in range(0x80, 0x10000) if clear.match(chr(c)) and not plausible_char(chr(c))] == []


def test_cp1252_sequences():
    assert plausible_cp1252_sequence("É’")
    assert plausible_cp1252_sequence("Ö”")
    assert not plausible_cp1252_sequence("É´")
    assert not plausible_cp1252_sequence("×’")  # × is not a letter
    assert prefer_cp1252(b"JOS\xc9\x92S", cp1252_elsewhere=False)
    assert not prefer_cp1252("Café".encode("utf-8"), cp1252_elsewhere=True)
    # one plausible UTF-8 character outweighs nothing else: ties stay UTF-8
    assert not prefer_cp1252("Zoë ".encode("utf-8") + b"JOS\xc9\x92S", cp1252_elsewhere=True)


def test_plausibility_check_is_fast_on_large_non_ascii_files():
    text = "Vorname,Nachname,Firma\n" + "Zoë,Ångström,Café Müller – “Nord” €\nСергей,Иванов,ООО Ромашка\n" * 60_000
    data = text.encode("utf-8")
    started = time.process_time()
    assert decode_bytes(data) == (text, "utf-8")
    assert utf8_text_is_plausible(text)
    assert time.process_time() - started < 0.5


def test_cp1251_is_told_from_cp1252_by_its_runs_of_accented_letters():
    from easycrm_pipeline.parsing.plausibility import prefer_cp1251

    russian = "Имя;Фамилия;E-mail\nФёдор;Петров;f@example.ru\n"
    assert decode_bytes(russian.encode("cp1251")) == (russian, "cp1251")
    assert prefer_cp1251(russian.encode("cp1251").decode("cp1252"))
    # Western text keeps its accented letters one or two at a time: stays cp1252
    western = "Name;Firma\nJosé Müller;Société Générale\nÞórður Ægisson;Ålesund Bærum AS\nFrançoise;Crème Brûlée\n"
    assert decode_bytes(western.encode("cp1252")) == (western, "cp1252")
    assert not prefer_cp1251(western)
