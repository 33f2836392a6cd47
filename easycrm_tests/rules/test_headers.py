"""Header aliases and map_headers."""
from __future__ import annotations

import pytest

from easycrm_pipeline.rules.headers import header_key, header_role, header_score, map_headers


@pytest.mark.parametrize("header,role", [
    ("First Name", "firstName"), ("first_name", "firstName"), ("FirstName", "firstName"), ("Vorname", "firstName"),
    ("Prénom", "firstName"), ("PRENOM", "firstName"), ("Given name", "firstName"),
    ("Last Name ", "lastName"), ("Nachname", "lastName"), ("Apellidos", "lastName"), ("Apellido", "lastName"),
    ("Surname", "lastName"), ("Full Name", "fullName"), ("Contact Name", "fullName"), ("Nombre completo", "fullName"),
    ("Job\nTitle", "title"), ("Position", "title"), ("Poste", "title"), ("Cargo", "title"), ("Funktion", "title"),
    ("Company", "company"), ("Firma", "company"), ("Société", "company"), ("Entreprise", "company"),
    ("Empresa", "company"), ("Organisation", "company"), ("Organization", "company"),
    ("Company/Organization", "company"),
    ("Email", "email"), ("E-Mail", "email"), ("e_mail", "email"), ("E-mail Address", "email"),
    ("Courriel", "email"), ("Correo electrónico", "email"), ("Correo", "email"),
    ("Phone", "phone"), ("Tel", "phone"), ("Tel.", "phone"), ("Telefon", "phone"), ("Téléphone", "phone"),
    ("Teléfono", "phone"), ("Mobile", "mobile"), ("Cell", "mobile"), ("Handy", "mobile"), ("Móvil", "mobile"),
    ("Notes", "remarks"), ("Comments", "remarks"), ("Bemerkung", "remarks"), ("Notas", "remarks"),
    ("Remarques", "remarks"), ("Observaciones", "remarks"),
    ("Name", "ambiguousName"), ("Nom", "ambiguousName"), ("Nombre", "ambiguousName"),
    ("Fax", None), ("City", None), ("", None),
])
def test_header_role(header, role):
    assert header_role(header)[0] == role


def test_numbered_headers():
    assert header_role("Phone 2") == ("phone", 2)
    assert header_role("Email 1") == ("email", 1)
    assert header_role("E-Mail2") == ("email", 2)
    assert header_role("Column 7") == (None, 0)


def test_header_key():
    assert header_key(" E-Mail\u200b Adresse ") == "emailadresse"
    assert header_key("Téléphone") == "telephone"


def test_map_headers_priorities_and_secondaries():
    hm = map_headers(["Phone 2", "Email", "Name", "Mobile", "Phone", "Email 2", "Fax", "Notes", "Company", "Company"])
    assert hm.roles == ("phone", "email", "fullName", "phone", "phone", "email", None, "remarks", "company", None)
    assert hm.phone_columns == (4, 0, 3)  # Phone, then Phone 2, then Mobile
    assert hm.email_columns == (1, 5)
    assert hm.secondary == (0, 3, 5)
    assert hm.unmapped == (6, 9)
    assert hm.labels[3] == "mobile" and hm.labels[0] == "phone 2"
    assert hm.fields["phone"] == 4 and hm.fields["email"] == 1
    assert hm.provided == frozenset({"firstName", "lastName", "email", "phone", "remarks", "company"})
    assert hm.has_lead_field


@pytest.mark.parametrize("headers,roles", [
    (["Vorname", "Name", "E-Mail"], ("firstName", "lastName", "email")),
    (["Prénom", "Nom"], ("firstName", "lastName")),
    (["Nombre", "Apellidos"], ("firstName", "lastName")),
    (["Name", "Email"], ("fullName", "email")),
    (["Nom", "Courriel"], ("fullName", "email")),
])
def test_ambiguous_name_column(headers, roles):
    assert map_headers(headers).roles == roles


def test_header_score_counts_key_fields_once():
    assert header_score(["Email", "E-Mail", "Name", "Mobile", "Phone", "City"]) == (3, 5)
    assert header_score(["Spring Expo 2024 - Lead List", "", ""]) == (0, 0)
    assert header_score(["Titles"]) == (0, 0)
    assert map_headers(["Title", "Notes"]).has_lead_field is False


@pytest.mark.parametrize("header,role", [
    ("E-mail 1 - Value", ("email", 1)), ("Phone (work)", ("phone", 0)), ("Telefon (geschäftlich)", ("phone", 0)),
    ("Numéro de téléphone", ("phone", 0)), ("Organization 1 - Name", ("company", 1)),
    ("Organization 1 - Title", ("title", 1)), ("Mobiltelefon", ("mobile", 0)), ("E-Mail-Adresse", ("email", 0)),
    ("Lead Owner Email", (None, 0)), ("Account Owner", (None, 0)), ("E-mail 1 - Type", (None, 0)),
    ("Street Address", (None, 0)),
])
def test_export_style_headers(header, role):
    assert header_role(header) == role


def test_outlook_title_and_job_title_the_job_title_wins():
    hm = map_headers(["Title", "First Name", "Last Name", "Company", "Job Title", "E-mail Address"])
    assert hm.roles == (None, "firstName", "lastName", "company", "title", "email")
    assert 0 in hm.unmapped  # the salutation ("Dr.") goes to remarks as "Title: Dr."
    assert map_headers(["Title", "First Name", "Email"]).roles[0] == "title"  # alone, "Title" is the job title


@pytest.mark.parametrize("header,role", [
    # breaker k7/k8: form-export qualifiers, "A / B" alternatives, missing aliases
    ("First Name (required)", ("firstName", 0)), ("Last name / Surname", ("lastName", 0)),
    ("Company Name (required)", ("company", 0)), ("Job Title (optional)", ("title", 0)),
    ("Phone (Mobile)", ("mobile", 0)), ("Tel. (mobil)", ("mobile", 0)), ("Phone 2 (optional)", ("phone", 2)),
    ("Nom de la société", ("company", 0)), ("N° de téléphone", ("phone", 0)), ("Nº de teléfono", ("phone", 0)),
    ("Firma / Organisation", ("company", 0)), ("Teléfono fijo", ("phone", 0)), ("E-Mail [Pflichtfeld]", ("email", 0)),
    # alternatives or qualifiers naming two different fields are ambiguous: unmapped, values go to remarks
    # ("Contact Email" is an alias, so "Contact (Email)" stays email)
    ("Name / Company", (None, 0)), ("Contact (Email)", ("email", 0)), ("Name (Company)", (None, 0)),
    ("Email / Phone", (None, 0)),
    ("City (required)", (None, 0)),
])
def test_qualified_and_alternative_headers(header, role):
    assert header_role(header) == role


def test_form_and_french_exports_map_every_lead_column():
    hm = map_headers(["Timestamp", "First Name (required)", "Last name / Surname", "Email Address *",
                      "Company Name (required)", "Job Title (optional)", "Phone (Mobile)", "Comments"])
    assert hm.roles == (None, "firstName", "lastName", "email", "company", "title", "phone", "remarks")
    hm = map_headers(["Nom", "Prénom", "Nom de la société", "Poste", "Adresse e-mail", "N° de téléphone"])
    assert hm.roles == ("lastName", "firstName", "company", "title", "email", "phone")


def test_qualified_title_headers_keep_the_outlook_rule():
    hm = map_headers(["Title", "First Name (required)", "Job Title (optional)", "Email"])
    assert hm.roles == (None, "firstName", "title", "email")


def test_more_languages_and_database_names():
    # issue 15: Russian, Italian, Portuguese, Dutch, Polish, Turkish headers; prefixed database column names
    hm = map_headers(["Имя", "Фамилия", "Рабочий e-mail", "Компания", "Должность", "Мобильный телефон"])
    assert hm.roles == ("firstName", "lastName", "email", "company", "title", "phone")
    assert map_headers(["Nome", "Cognome", "Azienda", "Cellulare"]).roles == (
        "firstName", "lastName", "company", "phone")
    assert map_headers(["Primeiro nome", "Apelido", "Empresa", "Telemóvel"]).roles == (
        "firstName", "lastName", "company", "phone")
    assert map_headers(["Voornaam", "Achternaam", "Bedrijfsnaam", "Functie", "Telefoonnummer"]).roles == (
        "firstName", "lastName", "company", "title", "phone")
    assert map_headers(["Imię", "Nazwisko", "Nazwa firmy", "Stanowisko", "Adres e-mail"]).roles == (
        "firstName", "lastName", "company", "title", "email")
    assert map_headers(["Ad", "Soyad", "Şirket", "Unvan", "E-posta", "Cep Telefonu"]).roles == (
        "firstName", "lastName", "company", "title", "email", "phone")
    assert map_headers(["kun_vorname", "kun_nachname", "kun_firmename", "kun_telefon"]).roles == (
        "firstName", "lastName", "company", "phone")
    assert header_role("user_name") == (None, 0)  # a login, not the person's name
    assert header_role("https://example.org/in/cb") == (None, 0)


def test_arabic_and_chinese_headers():
    assert map_headers(["الاسم الأول", "اسم العائلة", "البريد الإلكتروني", "الشركة", "الهاتف", "المسمى الوظيفي"]
                       ).roles == ("firstName", "lastName", "email", "company", "phone", "title")
    assert map_headers(["姓名", "公司", "职位", "手机", "邮箱"]).roles == ("fullName", "company", "title", "phone", "email")


def test_the_tables_own_export_columns_are_not_remarks_when_the_export_comes_back():
    """A new user exported leads, edited the CSV and ingested it again: leadId, sourceFile, createdAt... piled up in
    remarks. With ``leadId`` in the header row they are the table's own columns (neither mapped nor unmapped); the
    same names in another file stay ordinary unmapped columns."""
    from easycrm_pipeline.readers.export import ALL_EXPORT_COLUMNS
    from easycrm_pipeline.rules.headers import OWN_EXPORT_COLUMNS
    from easycrm_pipeline.store.base import LEAD_COLUMNS

    assert set(OWN_EXPORT_COLUMNS) <= set(ALL_EXPORT_COLUMNS) <= set(LEAD_COLUMNS)
    exported = map_headers(list(ALL_EXPORT_COLUMNS))
    assert [exported.headers[i] for i in exported.unmapped] == []
    assert exported.columns("remarks") == [ALL_EXPORT_COLUMNS.index("remarks")]
    other = map_headers(["Email", "sourceFile", "createdAt"])
    assert [other.headers[i] for i in other.unmapped] == ["sourceFile", "createdAt"]
