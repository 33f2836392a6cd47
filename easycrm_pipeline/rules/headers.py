"""Header aliases (English, German, French, Spanish + common CRM exports) and the column -> lead field mapping.

Matching is case-, accent-, space- and punctuation-insensitive: ``"E-Mail"``, ``"e_mail"``, ``"EMAIL "`` and
``"Courriel"`` all map to ``email``; ``"Job\\nTitle"`` to ``title``. A trailing number marks a numbered variant
(``"Phone 2"``, ``"Email 1"``): the lowest number is the primary column, the others are secondary. Bracketed
qualifiers are dropped (``"First Name (required)"``; ``"Phone (Mobile)"`` is a mobile column) and ``"A / B"`` maps
when its parts agree (``"Last name / Surname"``); see :func:`header_role`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..fields import FIELDS, header_aliases
from .text import clean_text, fold

#: role -> aliases (written loosely; they are folded with :func:`header_key` when the table is built): the lead
#: fields' and the other header roles' (fullName, ambiguousName, middleName, mobile), declared in
#: ``easycrm_pipeline/fields.py`` (English, German, French, Spanish, CRM exports; issue 15: Russian, Italian,
#: Portuguese, Dutch, Polish, Turkish, Arabic, Chinese, German database names).
_ALIASES: dict[str, tuple[str, ...]] = header_aliases()

#: Roles whose columns also count as "lead key" columns (a sheet is a lead sheet when its header has one).
KEY_ROLES = frozenset({"firstName", "lastName", "fullName", "ambiguousName", "company", "email", "phone", "mobile"})

_NUMBERED = re.compile(r"^(.*?)(\d+)$")
#: Longer cells are never headers (header detection looks at every cell of the first 30 rows).
MAX_HEADER_CHARS = 200
_TOKENS = re.compile(r"[^\W\d_]+|\d+")
#: Words dropped in a second matching pass ("E-mail 1 - Value", "Phone (work)", "Telefon geschäftlich",
#: "Numéro de téléphone", "Business Phone"): they qualify a column without changing what it holds.
NOISE_WORDS = frozenset({
    "value", "address", "adresse", "addr", "number", "nummer", "numero", "no", "nr", "num", "work", "business",
    "office", "geschaftlich", "dienstlich", "beruflich", "primary", "main", "principal", "personal", "private",
    "privat", "home", "de", "du", "del", "of", "the", "pro", "professionnel", "trabajo", "oficina",
    # issue 15: the same qualifiers in Russian, Italian, Portuguese, Dutch, Polish, Turkish (folded like the headers)
    "рабочии", "рабочая", "рабочее", "личныи", "личная", "основнои", "основная", "контакта", "lavoro", "ufficio",
    "aziendale", "principale", "trabalho", "comercial", "pessoal", "werk", "zakelijk", "prive", "służbowy",
    "sluzbowy", "prywatny", "is", "kisisel", "adresi", "adres", "indirizzo", "endereco", "numer", "numarasi",
})


def header_key(header: str) -> str:
    """Folded header used for alias lookup: accents removed, case-folded, only letters and digits kept.

    ``"E-Mail Adresse"`` -> ``"emailadresse"``, ``"Job\\nTitle"`` -> ``"jobtitle"``, ``"Téléphone"`` ->
    ``"telephone"``.
    """
    return "".join(ch for ch in fold(clean_text(header)) if ch.isalnum())


#: Columns contact and CRM exports commonly carry that are no lead field (address, web, source, owner, dates):
#: their cells go to ``remarks`` under their header without asking DeepSeek what they are (pipeline/header_mapping).
OTHER_CONTACT_HEADERS: tuple[str, ...] = (
    "address", "street", "street address", "address 1", "address 2", "city", "town", "state", "province", "region",
    "county", "zip", "zip code", "postal code", "postcode", "country", "country code", "website", "web site",
    "url", "homepage", "linkedin", "twitter", "lead source", "source", "lead status", "status", "stage", "owner",
    "lead owner", "contact owner", "industry", "created", "created date", "created at", "date created", "modified",
    "last modified", "updated", "tags", "segment", "language", "timezone", "time zone", "birthday", "gender", "fax",
    "adresse", "straße", "strasse", "ort", "stadt", "plz", "postleitzahl", "land", "bundesland", "webseite",
    "quelle", "branche", "erstellt", "ville", "code postal", "pays", "site web", "origine", "ciudad",
    "código postal", "país", "sitio web", "fuente", "città", "cap", "paese", "sito web",
)
_OTHER = frozenset(header_key(h) for h in OTHER_CONTACT_HEADERS)

#: The leads table's own bookkeeping columns, named exactly as ``easycrm export`` writes them
#: (docs/contracts.md#export-file). A header row holding ``leadId`` is this table's export coming back (edited in a
#: spreadsheet and ingested again): these columns are re-made by the upsert, so they are neither mapped nor copied
#: into remarks (a round trip would pile ``leadId: ...; createdAt: ...`` into remarks); their cells stay in the
#: lead's raw row. The same names in a file without ``leadId`` are ordinary unmapped columns.
OWN_EXPORT_COLUMNS: tuple[str, ...] = ("leadId", "sourceFile", "sourceWorksheet", "sourceRow", "createdAt",
                                       "updatedAt")


def is_other_contact_header(header: str) -> bool:
    """True for a header of :data:`OTHER_CONTACT_HEADERS` (folded like :func:`header_key`): a known column that is
    no lead field, kept in ``remarks``."""
    return header_key(header) in _OTHER


_LOOKUP: dict[str, str] = {}
for _role, _names in _ALIASES.items():
    for _name in _names:
        _LOOKUP.setdefault(header_key(_name), _role)


#: A bracketed qualifier in a header: ``"First Name (required)"``, ``"Phone (Mobile)"``, ``"E-Mail [Pflichtfeld]"``.
_QUALIFIER = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")


def header_role(header: str) -> tuple[str | None, int]:
    """``(role, number)`` for one header: role is a key of the alias table or ``None``; number is the trailing
    number of a numbered header (``"Phone 2"`` -> ``("phone", 2)``), 0 when none.

    Bracketed qualifiers are dropped (``"First Name (required)"`` -> ``firstName``) unless the qualifier names
    another field (``"Name (Company)"`` -> ``None``); a phone qualified as mobile is ``mobile``
    (``"Phone (Mobile)"``, ``"Tel. (mobil)"``). ``"A / B"`` maps when the parts that map all agree
    (``"Last name / Surname"`` -> ``lastName``; ``"Name / Company"`` -> ``None``).
    """
    if len(header) > MAX_HEADER_CHARS:
        return None, 0  # a long text (a note, a 50 MB cell of a data row) is no header
    role, number = _plain_role(header)
    if role is not None:
        return role, number
    text = clean_text(header)
    qualifiers = [(a or b).strip() for a, b in _QUALIFIER.findall(text)]
    base = _QUALIFIER.sub(" ", text).strip()
    if qualifiers and base:
        role, number = _alternatives_role(base)
        for qualifier in qualifiers:
            q_role = _alternatives_role(qualifier)[0]
            if q_role is None or role is None or q_role == role:
                continue
            if role == "phone" and q_role == "mobile":
                role = "mobile"
            elif not (role == "mobile" and q_role == "phone"):
                return None, 0  # "Contact (Email)": two different fields
        return role, number
    return _alternatives_role(text)


def _alternatives_role(text: str) -> tuple[str | None, int]:
    """Role of ``text``, or of ``"A / B"`` when every part that maps maps to the same role."""
    role, number = _plain_role(text)
    if role is not None or "/" not in text:
        return role, number
    found = [r for r in (_plain_role(part) for part in text.split("/")) if r[0] is not None]
    if found and len({r for r, _ in found}) == 1:
        return found[0]
    return None, 0


#: A table or system prefix of a database column name: ``kun_vorname``, ``tbl_email``, ``crm_contact_phone``.
_DB_PREFIX = re.compile(r"^[^\W\d_]{1,8}_(?=[^\W\d_])")
_IDENTIFIER = re.compile(r"^[^\W\d]\w*$")


def _plain_role(header: str) -> tuple[str | None, int]:
    role, number = _word_role(header)
    if role is None and "_" in header and _IDENTIFIER.match(header):
        rest = header
        while role is None and _DB_PREFIX.match(rest):
            rest = _DB_PREFIX.sub("", rest, count=1)  # "kun_firmename" -> "firmename"
            role, number = _word_role(rest.replace("_", " "))
        if role == "ambiguousName":
            role, number = None, 0  # "user_name", "kun_name": a login or the account's name, not the person's
    return role, number


def _word_role(header: str) -> tuple[str | None, int]:
    key = header_key(header)
    if not key:
        return None, 0
    role = _LOOKUP.get(key)
    if role is not None:
        return role, 0
    m = _NUMBERED.match(key)
    if m and m.group(1):
        role = _LOOKUP.get(m.group(1))
        if role is not None:
            return role, int(m.group(2))
    tokens = _TOKENS.findall(fold(clean_text(header)))
    numbers = [int(t) for t in tokens if t.isdigit()]
    words = [t for t in tokens if not t.isdigit() and t not in NOISE_WORDS]
    if words and len(words) < len(tokens):
        role = _LOOKUP.get("".join(words))
        if role is not None:
            return role, numbers[0] if numbers else 0
    return None, 0


def header_score(cells: list[str]) -> tuple[int, int]:
    """How much a row looks like a lead header: ``(distinct key fields, known headers)``.

    Key fields are email / phone / company / a name column; used by the readers to pick the header row.
    """
    key_roles: set[str] = set()
    known = 0
    for cell in cells:
        role, _ = header_role(cell)
        if role is None:
            continue
        known += 1
        if role in KEY_ROLES:
            key_roles.add("name" if role in ("firstName", "lastName", "fullName", "ambiguousName") else
                          "phone" if role == "mobile" else role)
    return len(key_roles), known


#: A bare "Title" header: the job title unless a more specific job-title column exists (then a salutation).
BARE_TITLE_HEADERS = frozenset({"title", "titel", "titre", "título", "titulo"})


@dataclass(frozen=True)
class HeaderMap:
    """Which column feeds which lead field.

    Attributes:
        headers: the headers as given.
        roles: per column, one of ``firstName lastName fullName middleName title company email phone remarks`` or
            ``None`` (unmapped). ``Mobile``/``Cell`` columns have role ``phone``.
        email_columns / phone_columns: candidate columns in priority order (plain phone columns before mobile ones,
            numbered columns by number); per row the first usable value is the field, the others go to remarks.
        secondary: columns that are not the first candidate of their field (second email, mobile, ``Phone 2``…).
        unmapped: columns no alias matched; their non-empty values go to remarks as ``"Header: value"`` (not the
            table's own export columns coming back: :data:`OWN_EXPORT_COLUMNS`).
        labels: per column, the label used in remarks for a secondary value (``"mobile"``, ``"phone 2"``).
        company_columns: every company column in column order (HubSpot's ``Company Name`` then ``Associated
            Company``): per row the first non-empty one is the company, the others go to remarks.
        own_export: the header row is this table's export coming back (:data:`OWN_EXPORT_COLUMNS`): its cells carry
            the export's formula guard (``rules.text.unguard_cell`` takes it off).
    """

    headers: tuple[str, ...]
    roles: tuple[str | None, ...]
    email_columns: tuple[int, ...] = ()
    phone_columns: tuple[int, ...] = ()
    secondary: tuple[int, ...] = ()
    unmapped: tuple[int, ...] = ()
    labels: dict[int, str] = field(default_factory=dict)
    company_columns: tuple[int, ...] = ()
    own_export: bool = False

    def columns(self, role: str) -> list[int]:
        """Indexes of the columns with ``role`` in column order."""
        return [i for i, r in enumerate(self.roles) if r == role]

    @property
    def fields(self) -> dict[str, int]:
        """Lead field -> its primary column index (``fullName`` included when there is a full-name column)."""
        out: dict[str, int] = {}
        for i, r in enumerate(self.roles):
            if r is not None and r not in out:
                out[r] = i
        if self.email_columns:
            out["email"] = self.email_columns[0]
        if self.phone_columns:
            out["phone"] = self.phone_columns[0]
        return out

    @property
    def provided(self) -> frozenset[str]:
        """The ``LEAD_FIELDS`` this header has a column for: a column of the field's role or of one of its
        ``provided_by`` roles (``fields.FIELDS``: a full-name column provides first and last name); secondary and
        unmapped columns provide remarks."""
        roles = set(r for r in self.roles if r)
        out = {f.name for f in FIELDS if f.name in roles or roles.intersection(f.provided_by)}
        if self.secondary or self.unmapped:
            out.add("remarks")
        return frozenset(out)

    @property
    def has_lead_field(self) -> bool:
        """True when at least one column maps to email, phone, company or a name field."""
        return any(r in ("firstName", "lastName", "fullName", "company", "email", "phone") for r in self.roles)


def map_headers(headers: list[str]) -> HeaderMap:
    """Map a header row to lead fields.

    Args:
        headers: header cells in column order (as read; they are cleaned here for matching).

    Returns:
        A :class:`HeaderMap`. Rules: ``Name``/``Nom``/``Nombre`` is the full name unless the file also has a first-name
        column (then it is the last name) or a last-name column (then the first name); the first column of a role is
        primary, later columns of the same role are secondary (their values go to remarks), except name, title,
        company and remarks columns beyond the first, which are unmapped (``"Header: value"`` in remarks) —
        remarks columns are all used, in column order.
    """
    raw = [header_role(h) for h in headers]
    roles = _resolve_names([r for r, _ in raw])
    # emails: un-numbered first, then by number, then column order
    email_idx = _by_number(roles, raw, "email")
    phone_all = _by_number(roles, raw, "phone") + _by_number(roles, raw, "mobile")
    secondary = set(email_idx[1:]) | set(phone_all[1:])
    labels = {i: clean_text(headers[i]).lower() or ("email" if roles[i] == "email" else "phone")
              for i in email_idx + phone_all}
    _drop_bare_titles(roles, headers)
    company_idx = tuple(i for i, r in enumerate(roles) if r == "company")
    final_roles = _first_of_each(roles)
    own = _own_export_columns(headers)
    return HeaderMap(
        headers=tuple(headers),
        roles=tuple(final_roles),
        email_columns=tuple(email_idx),
        phone_columns=tuple(phone_all),
        secondary=tuple(sorted(secondary)),
        unmapped=tuple(i for i, r in enumerate(final_roles) if r is None and i not in own),
        labels=labels,
        company_columns=company_idx,
        own_export=bool(own),
    )


def _own_export_columns(headers: list[str]) -> set[int]:
    """Indexes of :data:`OWN_EXPORT_COLUMNS` when the header row is this table's export (it holds ``leadId``)."""
    names = [clean_text(h) for h in headers]
    if "leadId" not in names:
        return set()
    return {i for i, name in enumerate(names) if name in OWN_EXPORT_COLUMNS}


def _resolve_names(roles: list[str | None]) -> list[str | None]:
    """``Name``/``Nom``/``Nombre`` (``ambiguousName``): the last name next to a first-name column only, the first
    name next to a last-name column only, else the full name."""
    present = set(roles)
    if "firstName" in present and "lastName" not in present:
        name = "lastName"
    elif "lastName" in present and "firstName" not in present:
        name = "firstName"
    else:
        name = "fullName"
    return [name if r == "ambiguousName" else r for r in roles]


def _by_number(roles: list[str | None], raw: list[tuple[str | None, int]], role: str) -> list[int]:
    """Columns of ``role``: un-numbered first, then by their number, then in column order."""
    return sorted((i for i, r in enumerate(roles) if r == role), key=lambda i: (raw[i][1], i))


def _drop_bare_titles(roles: list[str | None], headers: list[str]) -> None:
    """Outlook/Google exports have both ``Title`` (Dr., Mr.: a salutation) and ``Job Title``: the job title wins, the
    bare ``Title`` column goes to remarks like any unmapped column (``roles`` changed in place)."""
    title_idx = [i for i, r in enumerate(roles) if r == "title"]
    bare = [i for i in title_idx if clean_text(headers[i]).strip().lower() in BARE_TITLE_HEADERS]
    if len(title_idx) > 1 and 0 < len(bare) < len(title_idx):
        for i in bare:
            roles[i] = None


#: Roles of which only the first column is used; a later one is unmapped (its values go to remarks, never overwrite).
_SINGLE_ROLES = frozenset({"firstName", "lastName", "fullName", "middleName", "title", "company"})


def _first_of_each(roles: list[str | None]) -> list[str | None]:
    """The final roles: ``mobile`` is ``phone``; a second name / title / company column is unmapped."""
    seen: set[str] = set()
    out: list[str | None] = []
    for role in roles:
        if role == "mobile":
            role = "phone"
        if role in _SINGLE_ROLES:
            if role in seen:
                role = None  # a second "Company" column: keep its values in remarks, never overwrite
            else:
                seen.add(role)
        out.append(role)
    return out
