"""The lead field registry: ONE declaration per lead field; every list of fields in the project derives from it.

A :class:`LeadField` says what a field is called (column, DynamoDB attribute, JSON and CSV name), which headers feed it
(aliases, any language), how the offline rules read it (a ``normalize`` function for a one-column field; the seven
original fields have their multi-column rules in :mod:`easycrm_pipeline.rules.standardize`), how a DeepSeek value for
it is checked (:mod:`easycrm_pipeline.rules.validate`), its line in DeepSeek's system prompt, its SQL type, whether it
is exported / searched / filtered and how a filter compares. What derives from :data:`FIELDS`:

* ``models.LEAD_FIELDS`` (:data:`LEAD_FIELDS`), hence the parquet hand-over, the in-file merge, both stores' value
  columns and DynamoDB attributes, the audit ``fieldsChanged``;
* ``store/base.py``: ``SORT_FIELDS``, ``SEARCH_FIELDS``, ``LEAD_COLUMNS`` and ``LeadQuery.column_filters``;
* the DuckDB ``leads`` DDL (:func:`ddl_columns`, :func:`ddl_migrations`);
* ``readers/export.EXPORT_COLUMNS`` / ``ALL_EXPORT_COLUMNS`` and ``readers/ask.LEADS_SCHEMA`` (whitelist + schema
  text);
* ``rules/headers._ALIASES`` (:func:`header_aliases`) and ``HeaderMap.provided``;
* the generic per-field steps of ``rules/standardize.standardize_row`` and ``rules/validate.validate_candidate``;
* ``deepseek/prompt.SYSTEM_PROMPT``'s field list and field rules, ``deepseek/reply``'s accepted keys;
* the CLI's lead filter flags (:data:`FILTERS`; read by the click app's shared ``lead_filters`` option once it lands).

How to add a field: docs/adding-a-field.md. The table contract: docs/contracts.md#the-leads-table. Pure: this module
imports nothing of the project but a new field's normalizer (a leaf module under ``rules/``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Literal, NamedTuple


class FieldValue(NamedTuple):
    """What a field normalizer makes of one raw cell: the value (``None``: no usable value) and remarks to keep
    (e.g. ``"invalid LinkedIn URL in source: x"``; nothing of the cell may be lost, docs/contracts.md). A plain
    ``(value, remarks)`` tuple is the same thing (a normalizer module need not import this one)."""

    value: str | None
    remarks: tuple[str, ...] = ()


#: A one-column field's offline rule: cleaned raw cell text (never empty, never a placeholder) -> ``(value,
#: remarks)`` (:class:`FieldValue`). Pure; must not raise.
Normalizer = Callable[[str], "FieldValue | tuple[str | None, tuple[str, ...]]"]

#: How ``rules/validate`` checks a DeepSeek value of the field against the raw row (module docstring there):
#: ``words`` every word in the raw row; ``company`` the same, letter case of the rules' value kept; ``email`` /
#: ``phone`` the mapped column's value wins, else the value must be in the raw row; ``remarks`` words from the row or
#: the rules' remarks, missing pieces appended; ``normalized`` (default for a field with ``normalize``): the value,
#: normalized, must equal the rules' value, or without one be found literally in a raw cell.
Check = Literal["words", "company", "email", "phone", "remarks", "normalized"]


@dataclass(frozen=True)
class LeadField:
    """One lead field.

    Attributes:
        name: column / DynamoDB attribute / JSON / CSV name, camelCase (``"linkedinUrl"``); also its header role.
        aliases: header spellings that map a column to the field (folded like ``rules/headers.header_key``).
        normalize: offline rule for a one-column field (:data:`Normalizer`), or its import path
            ``"package.module:function"`` (imported on first use: a normalizer under ``rules/`` cannot be imported
            here, ``rules/__init__`` imports ``rules.standardize`` which imports this module); ``None`` for the seven
            original fields, whose rules read several columns (``rules/standardize.py``).
        check: how a DeepSeek value is validated (:data:`Check`); default ``"normalized"`` with ``normalize``, else
            ``"words"``.
        prompt: the field's rule lines in DeepSeek's system prompt (each ``"- ...\n"``; ``""``: none). Changing any
            prompt text changes the prompt hash, so cached DeepSeek answers go stale once (docs/deepseek.md).
        meaning: one-line meaning, in ``easycrm ask``'s schema text.
        sql_type: DuckDB column type.
        unique: a UNIQUE column (only ``email``, the dedupe key).
        export: in the default export (``EXPORT_COLUMNS``, after ``remarks``). A new exported field changes the
            export file contract (docs/contracts.md#export-file); an unexported field is in ``--all-columns``.
        search: one of the fields ``--search`` looks in.
        cli_filter: the filter flag (``"--linkedin-url"``), ``None``: no flag. Every field can be filtered through
            ``LeadQuery(filters={name: text})`` either way.
        compare: filter semantics: ``text`` case-insensitive contains; ``digits`` also by digits, ``+`` prefix
            (phone; docs ``LeadQuery``).
        provided_by: header roles besides ``name`` that provide the field (``fullName`` provides first and last).
    """

    name: str
    aliases: tuple[str, ...] = ()
    normalize: Normalizer | str | None = None
    check: Check | None = None
    prompt: str = ""
    meaning: str = ""
    sql_type: str = "VARCHAR"
    unique: bool = False
    export: bool = True
    search: bool = True
    cli_filter: str | None = None
    compare: Literal["text", "digits"] = "text"
    provided_by: tuple[str, ...] = ()

    @property
    def normalizer(self) -> Normalizer | None:
        """:attr:`normalize` as a function (an import path is imported once).

        Raises:
            ImportError / AttributeError: the path names no module / no such function.
        """
        return _resolve(self.normalize)

    @property
    def validation(self) -> Check:
        """The effective :attr:`check`."""
        return self.check or ("normalized" if self.normalize else "words")

    @property
    def query_attr(self) -> str:
        """The snake_case name (``LeadQuery`` keyword, CLI option dest): ``"firstName"`` -> ``"first_name"``."""
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in self.name)


@lru_cache(maxsize=None)
def _resolve(ref: Normalizer | str | None) -> Normalizer | None:
    if ref is None or callable(ref):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class HeaderRole:
    """A header role that is not a lead field itself but feeds one (``fullName`` -> firstName + lastName; the
    resolution is ``rules/headers.map_headers``'s)."""

    name: str
    aliases: tuple[str, ...]
    meaning: str = ""


#: The lead fields, in column order (docs/contracts.md#the-leads-table). The first seven are the old system's.
FIELDS: tuple[LeadField, ...] = (
    LeadField(
        name="firstName",
        aliases=(
            "first name", "firstname", "first", "fname", "given name", "givenname", "forename", "christian name",
            "first_name", "contact first name", "vorname", "rufname", "prénom", "prenom", "primer nombre",
            "nombre de pila", "voornaam", "nome proprio", "имя", "имя контакта", "nome di battesimo", "primeiro nome",
            "nome próprio", "roepnaam", "imię", "imie", "ad", "adı", "isim", "first name contact", "الاسم الأول",
            "الاسم الاول", "名", "名字",
        ),
        prompt=(
            '- Names: split a full-name column into firstName and lastName ("Last, First" means lastName first). '
            'Keep suffixes\n'
            '  (Jr., Sr., III) with lastName. Move honorifics (Dr., Mr., Mrs., Ms., Prof.) to remarks as '
            '"honorific: Dr.".\n'
            '  A single-token name goes to firstName and remarks gets "single-token name". Title-case names '
            'written ALL CAPS or all\n'
            "  lower case; keep mixed case exactly as given (McDonald, O'Neil, van der Berg). Never add or "
            'remove accents.\n'
        ),
        meaning='first name',
        check='words',
        provided_by=('fullName', 'middleName'),
        cli_filter='--first-name',
    ),
    LeadField(
        name="lastName",
        aliases=(
            "last name", "lastname", "last", "lname", "surname", "family name", "contact last name", "nachname",
            "familienname", "zuname", "nom de famille", "apellido", "apellidos", "primer apellido", "achternaam",
            "cognome", "sobrenome", "фамилия", "apelido", "último nome", "ultimo nome", "sobrenome", "familienaam",
            "nazwisko", "soyad", "soyadı", "soyisim", "اسم العائلة", "الكنية", "اللقب", "姓", "姓氏",
        ),
        meaning='last name',
        check='words',
        provided_by=('fullName',),
        cli_filter='--last-name',
    ),
    LeadField(
        name="title",
        aliases=(
            "title", "job title", "jobtitle", "position", "job position", "role", "job role", "job", "designation",
            "job function", "function", "occupation", "funktion", "berufsbezeichnung", "stellung", "titel", "poste",
            "fonction", "titre", "intitulé du poste", "cargo", "puesto", "título", "ocupación", "organization title",
            "organisation title", "position title", "должность", "позиция", "ruolo", "qualifica", "mansione", "posizione",
            "função", "funcao", "cargo", "functie", "functietitel", "stanowisko", "unvan", "ünvan", "görev", "pozisyon",
            "titolo", "المسمى الوظيفي", "الوظيفة", "المنصب", "职位", "职务",
        ),
        prompt=(
            '- title: the job title or position, tidied (collapse spaces; title-case ALL CAPS; keep acronyms '
            'like VP, CEO, CTO).\n'
        ),
        meaning='job title',
        check='words',
        cli_filter='--title',
    ),
    LeadField(
        name="company",
        aliases=(
            "company", "company name", "companyname", "organisation", "organization", "organisation name",
            "organization name", "org", "account", "account name", "employer", "business", "business name",
            "company/organization", "company/organisation", "firma", "firmenname", "unternehmen", "arbeitgeber",
            "société", "societe", "entreprise", "raison sociale", "organisme", "empresa", "compañía", "compania",
            "organización", "razón social", "azienda", "organization name", "organisation name", "company / account",
            "nom de la société", "nom de l'entreprise", "nom de la societe", "nom de l entreprise",
            "nombre de la empresa", "associated company", "associated company name", "primary company", "company name 2",
            "current company", "client", "client name", "customer", "customer name", "компания", "организация",
            "название компании", "фирма", "наименование организации", "società", "ditta", "ragione sociale",
            "nome azienda", "empresa", "organização", "nome da empresa", "bedrijf", "bedrijfsnaam", "organisatie",
            "firma", "nazwa firmy", "przedsiębiorstwo", "şirket", "sirket", "şirket adı", "firma adı", "kurum",
            "firmename", "firmenbezeichnung", "firmname", "الشركة", "اسم الشركة", "المؤسسة", "公司", "公司名称", "单位",
        ),
        prompt=(
            '- company: the organisation name, tidied the same way; keep legal forms (Ltd, LLC, GmbH, SA) as written.\n'
        ),
        meaning='company / organisation name',
        check='company',
        cli_filter='--company',
    ),
    LeadField(
        name="email",
        aliases=(
            "email", "e-mail", "email address", "e-mail address", "emailaddress", "mail", "mail address", "email id",
            "work email", "business email", "primary email", "contact email", "email adresse", "e-mail-adresse",
            "mailadresse", "courriel", "adresse courriel", "adresse e-mail", "adresse email", "adresse mail", "correo",
            "correo electrónico", "correo electronico", "email personal", "personal email", "other email",
            "secondary email", "электронная почта", "эл. почта", "эл почта", "почта", "e-mail", "емейл", "имейл",
            "posta elettronica", "indirizzo email", "correio eletrónico", "correio eletrônico", "e-mailadres",
            "emailadres", "adres e-mail", "adres email", "e-posta", "eposta", "e posta adresi", "mailadres",
            "البريد الإلكتروني", "البريد الالكتروني", "البريد", "邮箱", "电子邮件", "电子邮箱", "邮件",
        ),
        prompt=(
            '- email: one address, trimmed, lower-cased, without "mailto:" or a display name ("Kim <kim@x.com>" '
            '-> "kim@x.com").\n'
            '  If the cell holds several addresses keep the first in email and put the others in remarks as '
            '"other emails: ...".\n'
            '  If it is not a valid address (no domain dot, placeholder like n/a), email is null and the text '
            'goes to remarks.\n'
        ),
        meaning='normalized lower-case email, NULL when the lead has none',
        check='email',
        unique=True,
        cli_filter='--email',
    ),
    LeadField(
        name="phone",
        aliases=(
            "phone", "phone number", "phonenumber", "telephone", "telephone number", "tel", "tel.", "tel no",
            "work phone", "business phone", "office phone", "direct phone", "direct dial", "primary phone", "landline",
            "telefon", "telefonnummer", "rufnummer", "festnetz", "téléphone", "numéro de téléphone", "tél", "teléfono",
            "telefono", "número de teléfono", "phone no", "contact number", "other phone", "home phone",
            "secondary phone", "business phone", "company phone", "n° de téléphone", "n° téléphone", "nº de teléfono",
            "n° de tél", "no de téléphone", "téléphone fixe", "tél fixe", "teléfono fijo", "telefono fijo",
            "número de telefono", "festnetznummer", "office number", "office", "office tel", "office telephone",
            "work number", "direct number", "direct line", "switchboard", "zentrale", "business number", "телефон",
            "номер телефона", "рабочий телефон", "tel", "numero di telefono", "telefone", "telefoon", "telefoonnummer",
            "numer telefonu", "telefon numarası", "iş telefonu", "telefonnr", "telnr", "fon", "الهاتف", "رقم الهاتف",
            "هاتف", "电话", "电话号码", "座机",
        ),
        prompt=(
            '- phone: keep a leading "+" and the digits only; a leading "00" becomes "+". Never invent a country '
            'code.\n'
        ),
        meaning='phone, E.164 (+ and digits) or digits only',
        check='phone',
        cli_filter='--phone',
        compare='digits',
    ),
    LeadField(
        name="remarks",
        aliases=(
            "remarks", "remark", "notes", "note", "comments", "comment", "memo", "bemerkung", "bemerkungen", "notiz",
            "notizen", "kommentar", "kommentare", "anmerkung", "anmerkungen", "remarque", "remarques", "commentaire",
            "commentaires", "observation", "observations", "notas", "nota", "comentario", "comentarios", "observaciones",
            "observación", "примечание", "примечания", "комментарий", "комментарии", "заметки", "note", "commenti",
            "osservazioni", "observações", "notas", "opmerkingen", "opmerking", "notities", "uwagi", "notatki", "notlar",
            "açıklama", "aciklama", "ملاحظات", "备注",
        ),
        prompt=(
            '- remarks: notes/comments columns, plus every value that does not fit another field, as "<column>: '
            '<value>" joined\n'
            '  with "; ". Never drop information.\n'
        ),
        meaning='free-text notes',
        check='remarks',
        search=False,
    ),
)

#: Header roles besides the fields (after the fields in alias lookup order: a spelling of two roles is the field's).
HEADER_ROLES: tuple[HeaderRole, ...] = (
    HeaderRole(
        name="fullName",
        aliases=(
            "full name", "fullname", "contact name", "contact", "contact person", "lead name", "person",
            "name of contact", "vollständiger name", "ansprechpartner", "kontakt", "kontaktperson", "nom complet",
            "nom et prénom", "nom prénom", "prénom nom", "nombre completo", "nombre y apellidos", "nome completo", "фио",
            "ф.и.о.", "полное имя", "контактное лицо", "контакт", "nome e cognome", "nominativo", "referente",
            "nome completo", "volledige naam", "contactpersoon", "imię i nazwisko", "imie i nazwisko", "osoba kontaktowa",
            "ad soyad", "adı soyadı", "ad soyadı", "isim soyisim", "yetkili", "yetkili kişi", "الاسم الكامل",
            "الاسم بالكامل", "姓名", "联系人",
        ),
        meaning='a full-name column: split into firstName and lastName',
    ),
    HeaderRole(
        name="ambiguousName",
        aliases=(
            "name", "nom", "nombre", "nome", "naam", "nazwa osoby", "ad", "الاسم", "اسم",
        ),
        meaning='Name/Nom/Nombre/Nome: the full name alone, the other half next to a first/last column',
    ),
    HeaderRole(
        name="middleName",
        aliases=(
            "middle name", "middlename", "middle", "second name", "zweiter vorname", "segundo nombre", "отчество",
        ),
        meaning='joined to firstName',
    ),
    HeaderRole(
        name="mobile",
        aliases=(
            "mobile", "mobile phone", "mobile number", "mobile no", "cell", "cell phone", "cellphone", "cellular",
            "handy", "mobil", "mobilnummer", "mobiltelefon", "handynummer", "portable", "téléphone portable",
            "tél portable", "mobile portable", "móvil", "movil", "celular", "teléfono móvil", "gsm", "мобильный телефон",
            "мобильный", "сотовый", "сотовый телефон", "cellulare", "telemóvel", "telemovel", "mobiel", "mobiele nummer",
            "mobiel nummer", "telefon komórkowy", "komórka", "cep telefonu", "cep", "gsm numarası", "handynr", "mobilnr",
            "الجوال", "الموبايل", "رقم الجوال", "手机", "手机号", "手机号码",
        ),
        meaning='a mobile phone column (a phone column after the plain ones)',
    ),
)

#: The lead field names, in column order (``models.LEAD_FIELDS``).
LEAD_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS)
#: Name -> declaration.
BY_NAME: dict[str, LeadField] = {f.name: f for f in FIELDS}
#: Fields ``--search`` looks in.
SEARCH_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.search)
#: Fields in the default export, in order.
EXPORT_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.export)
#: Fields only in ``export --all-columns``.
UNEXPORTED_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if not f.export)
#: Fields with a one-column offline rule (``normalize``), handled by ``rules/standardize``'s generic step.
NORMALIZED_FIELDS: tuple[LeadField, ...] = tuple(f for f in FIELDS if f.normalize is not None)


@dataclass(frozen=True)
class FilterOption:
    """One lead filter flag, for the CLI's shared filter decorator: ``flag`` (``"--first-name"``), ``dest`` (the
    option's Python name and ``LeadQuery`` keyword when it has one, ``"first_name"``), ``field`` (the column),
    ``compare`` (:attr:`LeadField.compare`), ``help``."""

    flag: str
    dest: str
    field: str
    compare: str
    help: str


#: The lead field filter flags, in field order (``--source`` is a store column, not a lead field: the CLI adds it).
FILTERS: tuple[FilterOption, ...] = tuple(
    FilterOption(f.cli_filter, f.query_attr, f.name, f.compare,
                 f"{f.name} contains (case-insensitive)" + ("; digits match digits, +CC a country prefix"
                                                            if f.compare == "digits" else ""))
    for f in FIELDS if f.cli_filter
)


def header_aliases() -> dict[str, tuple[str, ...]]:
    """Header role -> aliases (``rules/headers._ALIASES``): the fields in order, then :data:`HEADER_ROLES`."""
    return {**{f.name: f.aliases for f in FIELDS}, **{r.name: r.aliases for r in HEADER_ROLES}}


def ddl_columns() -> str:
    """The lead fields' column definitions of DuckDB's ``CREATE TABLE leads`` (``"email" VARCHAR UNIQUE`` ...),
    comma-separated, one per line."""
    return ",\n".join(f'"{f.name}" {f.sql_type}' + (" UNIQUE" if f.unique else "") for f in FIELDS)


def ddl_migrations() -> list[str]:
    """``ALTER TABLE leads ADD COLUMN IF NOT EXISTS`` for each field after the original seven (a store created
    before the field gets its column; the seven are in every store's ``CREATE TABLE``)."""
    return [f'ALTER TABLE leads ADD COLUMN IF NOT EXISTS "{f.name}" {f.sql_type}' for f in FIELDS[7:]]


def prompt_field_rules() -> str:
    """The fields' rule lines of DeepSeek's system prompt, in field order."""
    return "".join(f.prompt for f in FIELDS)


__all__ = [
    "BY_NAME", "Check", "EXPORT_FIELDS", "FIELDS", "FILTERS", "FieldValue", "FilterOption", "HEADER_ROLES",
    "HeaderRole", "LEAD_FIELDS", "LeadField", "NORMALIZED_FIELDS", "Normalizer", "SEARCH_FIELDS", "UNEXPORTED_FIELDS",
    "ddl_columns", "ddl_migrations", "header_aliases", "prompt_field_rules",
]
