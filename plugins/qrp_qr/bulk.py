"""Bulk creation's rules: which rows of a CSV make codes (checked by ``rules``, like a single
code), the plan quota, and saving the drawn codes. ``start_bulk`` checks the file at once and
hands it to the ``qr.bulk_create`` job (``jobs.py``), which draws, saves through here and
packs the ZIP."""

from __future__ import annotations

import csv
import io
import re
import secrets
from typing import Any

from qrp_qr import logos, payloads, rules, services, verify
from qrp_qr.models import QRCode
from qrp_qr.rules import InvalidInput
from qrplatform import bulkinsert, events, jobs
from qrplatform.errors import QuotaExceeded
from qrplatform.extensions import db
from qrplatform.storage import PRIVATE_PREFIX, storage
from qrplatform.tenancy import current_workspace_id

MAX_BULK_ROWS = 10_000
MAX_BULK_BYTES = 5 * 1024 * 1024


def zip_key(workspace_id: int, upload_id: str) -> str:
    """Where the job stores a bulk run's ZIP: private, downloaded through the job's files."""
    return f"{PRIVATE_PREFIX}bulk/{workspace_id}/{upload_id}.zip"


class BulkRowsInvalid(InvalidInput):
    def __init__(self, row_errors: list[dict[str, Any]], valid: int):
        shown = row_errors[:50]
        fields = {f"row {e['row']}": [f"{k}: {' '.join(v)}" for k, v in e["errors"].items()]
                  for e in shown}
        super().__init__(
            f"{len(row_errors)} row(s) are invalid ({valid} valid); nothing was created. "
            "Fix them, or choose to skip bad rows.", fields)
        self.row_errors = row_errors


def _header(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def _read_csv(data: bytes) -> tuple[csv.DictReader, list[str]]:
    if len(data) > MAX_BULK_BYTES:
        raise InvalidInput("The file is too large.", {"file": ["At most 5 MB."]})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("Not UTF-8.", {"file": ["Save the CSV as UTF-8."]}) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [_header(h) for h in next(reader)]
    except StopIteration as exc:
        raise InvalidInput("Empty file.", {"file": ["The file is empty."]}) from exc
    except csv.Error as exc:
        raise InvalidInput("Not a CSV file.", {"file": [f"Not a CSV file: {exc}"]}) from exc
    return reader, header


def _row(cells: dict[str, str], line: int, kind: str, qr_type: str) -> dict[str, Any]:
    """One row ready for saving; raises InvalidInput naming its fields when it is not."""
    row_type = cells.get("type") or qr_type
    row_kind = cells.get("kind") or kind
    if row_type == "url" and not cells.get("url") and cells.get("destination"):
        cells["url"] = cells["destination"]
    rules.check_kind_and_type(row_kind, row_type)
    content = rules.clean_content(row_type, cells, prefix="")
    tags = [t for t in re.split(r"[;,]", cells.get("tags", "")) if t.strip()]
    return {"row": line, "name": cells.get("name", ""), "kind": row_kind, "type": row_type,
            "content": content, "tags": tags}


def parse_bulk_csv(data: bytes, *, kind: str = "dynamic", qr_type: str = "url"
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows ready for saving and, per bad row, its line number and field errors.

    Columns: the type's content fields (e.g. ``url``; ``destination`` works for url codes),
    optionally ``name``, ``tags`` (separated by ``;``), ``type`` and ``kind`` per row.
    """
    reader, header = _read_csv(data)
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(rows) + len(errors) >= MAX_BULK_ROWS:
                raise InvalidInput("Too many rows.", {"file": [
                    f"At most {MAX_BULK_ROWS:,} rows per file; split it."]})
            cells = {name: value.strip() for name, value in zip(header, values, strict=False)}
            try:
                rows.append(_row(cells, reader.line_num, kind, qr_type))
            except InvalidInput as exc:
                errors.append({"row": reader.line_num, "errors": exc.fields})
    except csv.Error as exc:
        raise InvalidInput("Broken CSV.", {"file": [f"Line {reader.line_num}: {exc}"]}) from exc
    if not rows and not errors:
        raise InvalidInput("No rows.", {"file": ["The file has a header but no rows."]})
    return rows, errors


def check_bulk(data: bytes, *, kind: str, qr_type: str) -> dict[str, Any]:
    """What uploading ``data`` would do, doing nothing: how many rows make codes, the bad rows,
    and whether the plan has room for them (the checks ``start_bulk`` makes, in the same order),
    so a page can say so while the file is still only chosen."""
    rows, errors = parse_bulk_csv(data, kind=kind, qr_type=qr_type)
    kinds = [row["kind"] for row in rows]
    refused = None
    try:
        services.check_code_quotas(kinds)
    except QuotaExceeded as exc:
        refused = exc
    return {"rows": len(rows), "dynamic": kinds.count("dynamic"), "invalid": errors,
            "within_plan": refused is None, "plan_message": refused.message if refused else None,
            "upgrade_url": refused.upgrade_url if refused else None,
            "plan_refusal": refused.for_page if refused else None,   # the page's words
            "room": services.room_for_codes()}


# Two rows of each type for the sample file: every one a valid code (tested), and no cell that
# a spreadsheet would take for a formula (no leading + or -).
SAMPLE_ROWS: dict[str, list[dict[str, str]]] = {
    "url": [{"name": "Table 1", "url": "https://example.com/menu?table=1",
             "tags": "menus;floor 1"},
            {"name": "Table 2", "url": "https://example.com/menu?table=2", "tags": "menus"}],
    "text": [{"name": "Welcome", "text": "Welcome! Ask at the bar for the Wi-Fi password."},
             {"name": "Opening hours", "text": "Open every day from 9 to 17."}],
    "email": [{"name": "Support", "email": "support@example.com",
               "subject": "Help with my order", "body": "Order number:"},
              {"name": "Sales", "email": "sales@example.com", "subject": "A quote"}],
    "phone": [{"name": "Front desk", "phone": "020 7946 0000"},
              {"name": "Night line", "phone": "020 7946 0999"}],
    "sms": [{"name": "Book a table", "phone": "020 7946 0000",
             "message": "A table for two tonight, please"},
            {"name": "Call me back", "phone": "020 7946 0001", "message": "Please call me"}],
    "wifi": [{"name": "Guest Wi-Fi", "ssid": "Cafe Guest", "security": "WPA",
              "password": "espresso42"},
             {"name": "Terrace Wi-Fi", "ssid": "Cafe Terrace", "security": "WPA",
              "password": "cappuccino7"}],
    "vcard": [{"name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace",
               "organization": "Analytical Engines", "title": "Engineer",
               "email": "ada@example.com", "phone": "020 7946 0001",
               "website": "https://example.com"},
              {"name": "Charles Babbage", "first_name": "Charles", "last_name": "Babbage",
               "organization": "Analytical Engines", "email": "charles@example.com"}],
    "geo": [{"name": "Our shop", "latitude": "48.8584", "longitude": "2.2945"},
            {"name": "The warehouse", "latitude": "52.5163", "longitude": "13.3777"}],
    "event": [{"name": "Launch party", "title": "Launch party", "start": "2030-03-01T18:00",
               "end": "2030-03-01T21:00", "location": "Main hall"},
              {"name": "Workshop", "title": "Workshop", "start": "2030-03-08T10:00",
               "end": "2030-03-08T12:00", "location": "Room 2"}],
}


def sample_csv(qr_type: str) -> bytes:
    """A file to start from: the optional columns and the type's fields, with two rows."""
    columns = ["name", *payloads.type_fields(qr_type), "tags"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(_sample_rows(qr_type))
    return buffer.getvalue().encode()


def _sample_rows(qr_type: str) -> list[dict[str, str]]:
    """A plugin-added type's rows name what the workspace has (its first two microsites)."""
    if qr_type in SAMPLE_ROWS:
        return SAMPLE_ROWS[qr_type]
    added = payloads.link_type(qr_type)
    for name in payloads.type_fields(qr_type):
        options = added.options(name) if added and added.options else None
        if options:
            return [{"name": label, name: value} for value, label in options[:2] if value]
    return []


def usable_design(template_id: int | None) -> dict[str, Any]:
    """The template's design, as every code of the file will have it, checked again: it may
    have been saved under an older rule (a label's characters), its colours must scan, its
    logo must still be there. Raises InvalidInput on ``design_template_id`` saying why."""
    try:
        design = rules.clean_design(services.template_design(template_id))
        verify.check_colors(design)
        services.logo_image(design)
    except verify.Unscannable as exc:
        reasons = [exc.message]
    except InvalidInput as exc:
        reasons = exc.field_messages
        if not reasons or "design_template_id" in exc.fields:   # no such template
            raise
    else:
        return design
    raise InvalidInput("The design template cannot be used.", {"design_template_id": [
        f"Its design cannot be used: {' '.join(reasons)} Edit the template, or pick another."]})


def start_bulk(data: bytes, *, kind: str, qr_type: str, skip_invalid: bool,
               design_template_id: int | None = None, filename: str = ""):
    """Check the whole file now (so bad rows are reported at once), then hand it to a job."""
    rows, errors = parse_bulk_csv(data, kind=kind, qr_type=qr_type)
    if errors and not skip_invalid:
        raise BulkRowsInvalid(errors, len(rows))
    if not rows:
        raise InvalidInput("No valid rows.", {"file": ["None of the rows is valid."]})
    services.check_code_quotas([row["kind"] for row in rows])
    usable_design(design_template_id)
    upload_id = secrets.token_hex(12)
    key = f"{PRIVATE_PREFIX}bulk/{current_workspace_id()}/{upload_id}.csv"
    storage().put(key, data, content_type="text/csv")
    job = jobs.enqueue("qr.bulk_create", key, upload_id,
                       {"kind": kind, "type": qr_type, "design_template_id": design_template_id,
                        "skip_invalid": skip_invalid, "filename": (filename or "")[:200],
                        # The job runs as the system: its events name who uploaded.
                        "actor": events.current_actor()},
                       queue="bulk", description=f"Creating {len(rows):,} QR codes")
    db.session.commit()
    return job, len(rows), errors


def link_rows(rows: list[dict[str, Any]], base_url: str) -> None:
    """Give each dynamic row a fresh short code, and every row the text its image encodes."""
    short_codes = iter(rules.new_short_codes(sum(r["kind"] == "dynamic" for r in rows)))
    for row in rows:
        row["short_code"] = next(short_codes) if row["kind"] == "dynamic" else None
        row["text"] = (f"{base_url}/{row['short_code']}" if row["short_code"]
                       else payloads.encode(row["type"], row["content"]))


def save_codes(rows: list[dict[str, Any]], design: dict[str, Any], upload_id: str,
               design_template_id: int | None, actor: dict[str, Any] | None = None
               ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Store the rows as codes in the session's transaction (``bulkinsert``), not committed:
    one ``qr.created`` event each, marked as part of the upload's batch. Returns each row with
    what the ZIP's index shows of its code. The job saves each chunk as it is drawn and
    commits once, after ``announce_bulk``: a file that fails half-way creates nothing."""
    codes: list[tuple[dict[str, Any], QRCode]] = [
        (row, services.new_code(kind=row["kind"], qr_type=row["type"], content=row["content"],
                                design=design, name=row["name"],
                                tags=rules.clean_tags(row["tags"]),
                                design_template_id=design_template_id,
                                short_code=row["short_code"]))
        for row in rows]
    creator = (actor or {}).get("id") if (actor or {}).get("type") == "user" else None
    for _, code in codes:
        code.batch = upload_id
        code.created_by_id = creator
    bulkinsert.insert_new([code for _, code in codes])
    bulkinsert.insert_new([tag for _, code in codes for tag in code.tag_rows])
    # Read what the index needs now: after the commit each access would reload the row.
    manifest = [(row, {"id": code.id, "name": code.name, "kind": code.kind, "type": code.type,
                       "short_url": services.short_url(code) or "",
                       "destination": code.destination or "",
                       "workspace_id": code.workspace_id})
                for row, code in codes]
    logos.record_usage((code for _, code in codes), new=True)
    events.publish_many("qr.created", [services.event_data(code, batch=upload_id)
                                       for _, code in codes], actor=actor)
    return manifest


def announce_bulk(count: int, upload_id: str, *, skipped: int = 0, filename: str = "",
                  actor: dict[str, Any] | None = None) -> None:
    """The one ``qr.bulk_created`` event of a file whose ``count`` codes were saved."""
    source = f" from {filename}" if filename else " from a CSV file"
    events.publish("qr.bulk_created", {
        "batch_id": upload_id, "count": count, "skipped": skipped,
        "name": f"{count:,} code{'' if count == 1 else 's'}{source}"}, actor=actor)
