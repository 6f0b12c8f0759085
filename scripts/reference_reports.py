#!/usr/bin/env python3
"""Slow, plain reference implementation of tala-bulk's three reports.

Usage:
    python3 scripts/reference_reports.py --out DIR PATH...

PATHs are files or directories (walked recursively).  Only files whose name
ends with ".csv" (any case) are read; compressed inputs are not supported.
Writes DIR/organizers.csv, DIR/attendees.csv and DIR/disconnections.csv and
prints the two stats lines to stdout.

This exists to cross-check the Rust implementation on generated archives.  It
is deliberately simple: everything is held in memory, nothing is parallel.
Standard library only (Python 3.11).

Semantics (the project's SPEC.md, sharpened by the project's decisions):
  * Archive order: all input files sorted by os.fsencode(path), rows in file
    order.
  * Rows: header found by name (ASCII case-insensitive): auditdata required,
    operation/operations optional.  Operation = that column if non-empty,
    else AuditData's "Operation".  Only MeetingParticipantDetail (ASCII case
    ignored) rows whose AuditData is a JSON object are used.
  * Dedup by AuditData Id (string; UUIDs case-insensitive); first wins.
  * Records without a non-empty string MeetingDetailId are skipped.
"""

import argparse
import csv
import datetime
import io
import json
import os
import re
import sys

OPERATION = "meetingparticipantdetail"

UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# ASCII digits only ([0-9], not \d which also matches other Unicode digits).
TIME_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?Z?"
)

ORGANIZER_COLUMNS = [
    "meeting_id",
    "organizer_email",
    "organizer_id",
    "organizer_organization",
    "meeting_type",
    "first_join",
    "last_leave",
    "number_attendees",
]
ATTENDEE_COLUMNS = [
    "meeting_id",
    "attendee_key",
    "attendee_email",
    "key_type",
    "attendee_organization",
    "join_time",
    "leave_time",
    "client_ip",
    "device",
    "property",
]
DISCONNECTION_COLUMNS = [
    "meeting_id",
    "attendee_key",
    "attendee_email",
    "key_type",
    "attendee_organization",
    "device",
    "connection",
    "connections",
    "join_time",
    "leave_time",
    "gap_seconds",
    "client_ip",
    "property",
]


# ---------------------------------------------------------------------------
# small helpers


def ascii_lower(s):
    """Lower-case ASCII letters only (no Unicode case mapping)."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def byte_key(s):
    """Sort key: byte order of the UTF-8 encoding."""
    return s.encode("utf-8")


def time_key(t):
    """Sort key for a normalised time: chronological, empty after non-empty.

    Normalised times all have the fixed-width form YYYY-MM-DDThh:mm:ss with
    ASCII digits, so comparing the strings is comparing them chronologically.
    """
    return (1, b"") if t == "" else (0, t.encode("ascii"))


def text(value):
    """Field text: strings as is; numbers/booleans as JSON text; else ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return ""  # None (missing or null), dict, list


def norm_time(value):
    """YYYY-MM-DDThh:mm:ss[.fff...][Z] -> YYYY-MM-DDThh:mm:ss; else ""."""
    if not isinstance(value, str):
        return ""
    m = TIME_RE.fullmatch(value)
    if m is None:
        return ""
    return m.group(1)


def gap_seconds(prev_leave, join):
    """join - prev_leave in whole seconds, or "" if either is missing.

    Also "" when a time matches the pattern but is not a real calendar
    date/time (e.g. month 13, second 60, year 0000).
    """
    if prev_leave == "" or join == "":
        return ""
    fmt = "%Y-%m-%dT%H:%M:%S"
    try:
        a = datetime.datetime.strptime(prev_leave, fmt)
        b = datetime.datetime.strptime(join, fmt)
    except ValueError:
        return ""
    d = b - a
    return str(d.days * 86400 + d.seconds)  # microseconds are always 0 here


def shorten_agent(value):
    if value.startswith("SkypeSpaces"):
        return "SkypeSpaces"
    if value != "" and value[0] in "0123456789":
        return "Some Agent"
    i = value.find(" (")
    if i >= 0:
        return value[:i]
    return value


def user_agent_property(extra):
    if not isinstance(extra, list):
        return ""
    for el in extra:
        if isinstance(el, dict) and el.get("Key") == "UserAgent":
            return shorten_agent(text(el.get("Value")))
    return ""


def _reject_constant(name):
    raise ValueError("not JSON: " + name)


def _all_strings_utf8(obj):
    """False if any string (key or value) holds a lone surrogate."""
    stack = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(v, dict):
            for k, x in v.items():
                stack.append(k)
                stack.append(x)
        elif isinstance(v, list):
            stack.extend(v)
    return True


def parse_audit_data(s):
    """Return the AuditData JSON object, or None.

    Strict JSON: NaN/Infinity literals and lone surrogate escapes are
    rejected (they are not valid JSON text / Unicode).
    """
    try:
        obj = json.loads(s, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    if not _all_strings_utf8(obj):
        return None
    return obj


def record_identity(rec):
    rid = rec.get("Id")
    if not isinstance(rid, str):
        return None
    if UUID_RE.fullmatch(rid):
        return ("uuid", rid.lower())
    return ("str", rid)


# ---------------------------------------------------------------------------
# input


def list_files(paths):
    files = set()
    for p in paths:
        if os.path.isdir(p):
            for root, _dirs, names in os.walk(p):
                for name in names:
                    if ascii_lower(name).endswith(".csv"):
                        files.add(os.path.join(root, name))
        elif os.path.isfile(p):
            if ascii_lower(os.path.basename(p)).endswith(".csv"):
                files.add(p)
            else:
                print(f"warning: not a .csv file, skipped: {p}", file=sys.stderr)
        else:
            print(f"warning: no such file or directory: {p}", file=sys.stderr)
    return sorted(files, key=os.fsencode)


def read_rows(path):
    """Yield the non-blank rows of one CSV file (header included)."""
    with open(path, "rb") as f:
        data = f.read()
    content = data.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        for row in reader:
            if row == []:  # a blank line
                continue
            yield row
    except csv.Error as e:
        print(f"warning: {path}: CSV error, rest of file skipped: {e}", file=sys.stderr)


def iter_records(files):
    """Yield AuditData objects of MeetingParticipantDetail rows, archive order."""
    for path in files:
        header = None
        audit_idx = None
        op_idx = None
        for row in read_rows(path):
            if header is None:
                header = [ascii_lower(h) for h in row]
                for i, h in enumerate(header):
                    if h == "auditdata" and audit_idx is None:
                        audit_idx = i
                    if h in ("operation", "operations") and op_idx is None:
                        op_idx = i
                if audit_idx is None:
                    print(f"warning: {path}: no AuditData column, skipped", file=sys.stderr)
                    break
                continue
            if len(row) <= audit_idx:
                continue
            rec = parse_audit_data(row[audit_idx])
            op = ""
            if op_idx is not None and op_idx < len(row):
                op = row[op_idx]
            if op == "":
                op = rec.get("Operation") if rec is not None else None
                if not isinstance(op, str):
                    continue
            if ascii_lower(op) != OPERATION:
                continue
            if rec is None:
                continue
            yield rec


# ---------------------------------------------------------------------------
# model


class Meeting:
    def __init__(self, meeting_id, rec):
        self.meeting_id = meeting_id
        self.organizer_email = text(rec.get("UserId"))
        self.organizer_id = text(rec.get("UserKey"))
        self.organizer_organization = text(rec.get("OrganizationId"))
        self.meeting_type = text(rec.get("ItemName"))
        # connection tuple -> attendee_email (upn of the first record)
        self.connections = {}

    def first_join(self):
        joins = [c[4] for c in self.connections if c[4] != ""]
        return min(joins) if joins else ""

    def last_leave(self):
        leaves = [c[5] for c in self.connections if c[5] != ""]
        return max(leaves) if leaves else ""

    def number_attendees(self):
        return len({c[1] for c in self.connections})


def build_meetings(records):
    seen_ids = set()
    meetings = {}
    for rec in records:
        ident = record_identity(rec)
        if ident is not None:
            if ident in seen_ids:
                continue  # duplicate: first occurrence wins
            seen_ids.add(ident)

        meeting_id = rec.get("MeetingDetailId")
        if not isinstance(meeting_id, str) or meeting_id == "":
            continue

        meeting = meetings.get(meeting_id)
        if meeting is None:
            meeting = Meeting(meeting_id, rec)
            meetings[meeting_id] = meeting

        attendees = rec.get("Attendees")
        if isinstance(attendees, dict):
            attendees = [attendees]
        if not isinstance(attendees, list):
            attendees = []

        join_time = norm_time(rec.get("JoinTime"))
        leave_time = norm_time(rec.get("LeaveTime"))
        client_ip = text(rec.get("ClientIP"))
        device = text(rec.get("DeviceInformation"))
        prop = user_agent_property(rec.get("ExtraProperties"))

        for att in attendees:
            if not isinstance(att, dict):
                continue
            key = text(att.get("UserObjectId"))
            if key == "":
                key = text(att.get("DisplayName"))
            key_type = text(att.get("RecipientType"))
            if key_type == "":
                key_type = "?"
            org = text(att.get("OrganizationId"))
            upn = text(att.get("UPN"))
            conn = (meeting_id, key, key_type, org, join_time, leave_time,
                    client_ip, device, prop)
            if conn not in meeting.connections:
                meeting.connections[conn] = upn
    return meetings


# ---------------------------------------------------------------------------
# reports


def write_csv(path, header, rows):
    # The csv module only quotes characters of its own lineterminator, so a
    # field holding a bare "\r" would go out unquoted with "\n" as terminator.
    # Format each row with "\r\n" (quotes both) and swap the terminator.
    with open(path, "w", encoding="utf-8", newline="") as f:
        for row in [header] + rows:
            buf = io.StringIO()
            csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n").writerow(row)
            line = buf.getvalue()
            assert line.endswith("\r\n")
            f.write(line[:-2] + "\n")


def percent(n, m):
    return f"{100 * n / m:.1f}" if m else "0.0"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("paths", nargs="+", metavar="PATH")
    args = ap.parse_args(argv)

    csv.field_size_limit(sys.maxsize)
    files = list_files(args.paths)
    meetings = build_meetings(iter_records(files))

    # organizers
    order = sorted(
        meetings.values(),
        key=lambda m: (time_key(m.first_join()), byte_key(m.meeting_id)),
    )
    organizer_rows = []
    for m in order:
        organizer_rows.append([
            m.meeting_id, m.organizer_email, m.organizer_id,
            m.organizer_organization, m.meeting_type, m.first_join(),
            m.last_leave(), str(m.number_attendees()),
        ])

    # attendees
    attendee_rows = []
    for m in order:
        conns = sorted(
            m.connections.items(),
            key=lambda ce: (
                byte_key(ce[0][1]),       # attendee_key
                time_key(ce[0][4]),       # join_time
                time_key(ce[0][5]),       # leave_time
                byte_key(ce[0][2]),       # key_type
                byte_key(ce[0][3]),       # attendee_organization
                byte_key(ce[0][6]),       # client_ip
                byte_key(ce[0][7]),       # device
                byte_key(ce[0][8]),       # property
                byte_key(ce[1]),          # attendee_email
            ),
        )
        for (mid, key, key_type, org, join, leave, ip, device, prop), email in conns:
            attendee_rows.append([mid, key, email, key_type, org, join, leave,
                                  ip, device, prop])

    # disconnections
    disconnection_rows = []
    meetings_affected = 0
    attendees_affected = 0
    total_attendees = 0
    for m in order:
        total_attendees += m.number_attendees()
        groups = {}
        for conn, email in m.connections.items():
            device_group = conn[7] if conn[7] != "" else "?"
            groups.setdefault((conn[1], device_group), []).append((conn, email))
        suspicious = [g for g, cs in groups.items() if len(cs) >= 2]
        if suspicious:
            meetings_affected += 1
        attendees_affected += len({key for key, _dg in suspicious})
        for key, device_group in sorted(suspicious, key=lambda g: (byte_key(g[0]), byte_key(g[1]))):
            cs = sorted(
                groups[(key, device_group)],
                key=lambda ce: (
                    time_key(ce[0][4]),   # join_time
                    time_key(ce[0][5]),   # leave_time
                    byte_key(ce[0][2]),   # key_type
                    byte_key(ce[0][3]),   # attendee_organization
                    byte_key(ce[0][6]),   # client_ip
                    byte_key(ce[0][8]),   # property
                    byte_key(ce[1]),      # attendee_email
                    byte_key(ce[0][7]),   # device ("" vs literal "?" in group "?")
                ),
            )
            n = len(cs)
            prev_leave = None
            for i, ((mid, k, key_type, org, join, leave, ip, _device, prop), email) in enumerate(cs):
                gap = "" if prev_leave is None else gap_seconds(prev_leave, join)
                disconnection_rows.append([
                    mid, k, email, key_type, org, device_group, str(i + 1),
                    str(n), join, leave, gap, ip, prop,
                ])
                prev_leave = leave

    os.makedirs(args.out, exist_ok=True)
    write_csv(os.path.join(args.out, "organizers.csv"), ORGANIZER_COLUMNS, organizer_rows)
    write_csv(os.path.join(args.out, "attendees.csv"), ATTENDEE_COLUMNS, attendee_rows)
    write_csv(os.path.join(args.out, "disconnections.csv"), DISCONNECTION_COLUMNS, disconnection_rows)

    total_meetings = len(meetings)
    print(f"{meetings_affected} meetings affected out of {total_meetings} "
          f"({percent(meetings_affected, total_meetings)}%)")
    print(f"{attendees_affected} attendees affected out of {total_attendees} "
          f"({percent(attendees_affected, total_attendees)}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
