"""Name casing and full-name splitting (handed cases 11 and 13)."""
from __future__ import annotations

import pytest

from easycrm_pipeline.rules.names import NameParts, needs_casing, split_full_name, title_case_name


@pytest.mark.parametrize("text,cased", [
    ("JOHN", "John"), ("o'neil", "O'Neil"), ("O'NEIL", "O'Neil"), ("RUIZ-VEGA", "Ruiz-Vega"),
    ("MCDONALD", "McDonald"), ("maria del carmen", "Maria del Carmen"), ("JAN VAN DER BERG", "Jan van der Berg"),
    ("SMITH JR.", "Smith Jr."), ("HENRY VIII", "Henry VIII"), ("ZOË ÅNGSTRÖM", "Zoë Ångström"),
    ("McDonald", "McDonald"), ("van Gogh", "van Gogh"), ("NA", "Na"), ("  ana   costa ", "Ana Costa"),
    ("DE LA CRUZ", "De la Cruz"),
])
def test_title_case_name(text, cased):
    assert title_case_name(text) == cased


def test_needs_casing():
    assert needs_casing("JOHN SMITH") and needs_casing("john") and not needs_casing("John SMITH")
    assert not needs_casing("123")


@pytest.mark.parametrize("text,parts", [
    ("Dr. Maria del Carmen Ruiz-Vega", NameParts("Maria del Carmen", "Ruiz-Vega", ["honorific: Dr."])),
    ("Ng, Wei Jie", NameParts("Wei Jie", "Ng")),
    ("O'Neil, Siobhan", NameParts("Siobhan", "O'Neil")),
    ("Prince", NameParts("Prince", None, ["single-token name"])),
    ("JOHN SMITH JR.", NameParts("JOHN", "SMITH JR.")),
    ("Jan van der Berg", NameParts("Jan", "van der Berg")),
    ("Juan Carlos de la Cruz", NameParts("Juan Carlos", "de la Cruz")),
    ("Prof. Dr. Hans Müller", NameParts("Hans", "Müller", ["honorific: Prof. Dr."])),
    ("Mrs Ann Lee", NameParts("Ann", "Lee", ["honorific: Mrs"])),
    ("Dr. Smith", NameParts("Smith", None, ["honorific: Dr.", "single-token name"])),
    ("Smith, John, Jr.", NameParts("John", "Smith Jr.")),
    ("Prince Rogers Nelson", NameParts("Prince Rogers", "Nelson")),
    ("", NameParts(None, None)),
])
def test_split_full_name(text, parts):
    assert split_full_name(text) == parts


def test_clean_name_cell_issue_15():
    from easycrm_pipeline.rules.names import clean_name_cell

    assert clean_name_cell("Dr. Anna").name == "Anna"
    assert clean_name_cell("Beispiel, MBA, PMP").remarks == ("credentials: MBA, PMP",)
    assert clean_name_cell("Max Muster DVM").name == "Max Muster"
    assert clean_name_cell("Muster 🍀").name == "Muster"
    assert clean_name_cell("anna@example.com").email == "anna@example.com"
    for placeholder in ("[not provided]", "-", "N/A", "#N/A", "NaN"):
        assert clean_name_cell(placeholder).name == "", placeholder
    for surname in ("NA", "None", "Null", "Nan"):
        assert clean_name_cell(surname).name == surname
    assert clean_name_cell("WEI MA").name == "WEI MA"  # a shouted surname Ma, not the degree
    assert clean_name_cell("Wei Ma").name == "Wei Ma"
    assert clean_name_cell("Anna Beispiel MA").name == "Anna Beispiel"
    assert clean_name_cell("Don Draper").name == "Don Draper"  # "Don" without a dot is a given name
