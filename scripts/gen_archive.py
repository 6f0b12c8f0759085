#!/usr/bin/env python3
"""Deterministic generator of realistic Purview audit-log export archives.

Usage:
    python3 scripts/gen_archive.py --out DIR [--files N] [--row-cap N] [--seed S]
                                   [--meetings N] [--overlap FRACTION]
                                   [--capped-every K] [--jobs N] [--truth FILE]

    --out DIR          directory to write into (created with its parents)
    --files N          number of CSV files = time windows (default 40)
    --row-cap N        data rows at which an export is cut (default 50000)
    --seed S           seed (default 1); same arguments -> byte-identical files
    --meetings N       total meetings in the archive (approximate).  Default: scaled
                       so that a normal window holds 70-98% of --row-cap rows and
                       every K-th window more than --row-cap.  When given, the
                       record density is scaled by N / default and the window sizes
                       are no longer adjusted: files are capped wherever their
                       window happens to exceed --row-cap.
    --overlap F        fraction of a window shared with the next one (default
                       0.15, at most 0.45)
    --capped-every K   every K-th window (K-1, 2K-1, ... counting from 0) holds more
                       records than --row-cap (default 5; 0 = never)
    --jobs N           worker processes (default: CPU count, or 1 when --files x
                       --row-cap < 200,000; the output does not depend on it)
    --truth FILE       also write every record generated for each window, kept or
                       left out by the cap (file,row,id,creation_time; row empty when
                       left out), to check a reader's list of what is missing

Examples:
    python3 scripts/gen_archive.py --out /tmp/s --files 6 --row-cap 300 --seed 7
    python3 scripts/gen_archive.py --out /tmp/big          # 40 x 50,000 rows, ~2 GB

One summary line per file goes to stderr (name, rows, window, layout, and for
capped files how many records the window really held), then a line with totals:
rows, duplicate rows (and how many of them are MeetingParticipantDetail, which is
what a reader that keeps only that operation will report as dropped), distinct
records, capped files, records that are in no file because of the caps, and the
number of meetings generated.  Files already in DIR are overwritten when their
name comes up again and otherwise left alone: use an empty DIR.

What it writes (see SPEC.md sections 1, 1.1 and 1.2):

* Files `UAL-<start>-<end>.csv`, named after the requested window in UTC as
  YYYYMMDDhhmmss, so the names sort in time order.  Windows are 6 hours long and
  start at 2024-03-01T00:00:00; consecutive windows overlap by --overlap of a
  window, so the records created in an overlap appear in both files with the
  same Id and byte-identical AuditData (the duplicates a reader must drop).
* Row caps: every K-th window holds more records than --row-cap; its file keeps
  exactly --row-cap data rows, the latest ones (rows are ordered by CreationTime
  descending, as Purview exports are), and the rest of the window is silently
  missing.  Part of what is missing may still be in the previous file's
  overlap.  Other files hold 70-98% of the cap.
* Header layouts rotate by file index ((i + i // 5) % 5, so that capped files
  get every layout too): `CreationDate,UserIds,Operations,
  AuditData`; `CreationDate,UserId,Operation,AuditData`; the current Purview
  layout (`RecordId,...,AssociatedAdminUnitsNames`); PowerShell Export-Csv with
  every field quoted and RecordType as a name; the same with a leading
  `RunspaceId` column.  A UTF-8 BOM on files with i % 3 == 2, CRLF line ends on
  files with i % 4 in (0, 3), LF otherwise.  CreationDate is ISO
  (`2024-03-05T09:12:44.0000000Z`) on even portal files and US locale
  (`3/5/2024 9:12:44 AM`) on odd portal files and on all PowerShell files.
  The column always holds the same UTC time as AuditData's CreationTime.
* AuditData is compact JSON with keys in Purview order.  Each
  MeetingParticipantDetail record is one attendee's one connection to one
  meeting; CreationTime is LeaveTime + 0..120 s.
* Population: 2-3 tenants with 200-3000 organizers in all and a user pool three
  times that size, external tenants with guest users, a few bot applications.
  Meetings have 2-40 attendees (ScreenSharingCall 2-4, Broadcast 10-40) and an
  ItemName out of ScheduledMeeting, RecurringMeeting, AdHocMeeting,
  ChannelMeeting, Broadcast, ScreenSharingCall and `ScheduledMeeting,Complete`
  (with a comma).  Meetings run across window boundaries, so one meeting's
  records are spread over several files.
* Attendees of every RecipientType: User (Role Organizer/Presenter/Attendee),
  InternalFederated (another of the tenants), GuestFederated (an external
  tenant; UPN sometimes absent), Anonymous (no UserObjectId; a name or
  `teamsvisitor:<hex>`), Applications (an app UUID as DisplayName), Phone
  (`+1 425 555 0123` or `*******0123`); sometimes with InviterInfo.
* Reconnections: ~8% of attendees have 2-3 connections from the same device
  with gaps of 5-300 s (10% of gaps are an overlap of 1-5 s instead), ~4% a
  second connection from another device, ~1% two byte-identical connections
  (same times, IP, device, user agent and CreationTime) with different Ids.
* Awkward strings: display names and DeviceInformation with commas, double
  quotes and non-ASCII text (also CJK, Cyrillic, Arabic and an emoji outside the
  BMP); DeviceInformation absent on ~15% of records; ClientIP mostly IPv4, some
  IPv6, some with a port (`52.114.1.7:51234`, `[2a01:111:f400::1]:443`); user
  agents of every family the reports shorten (Mozilla/5.0, SkypeSpaces/...,
  Microsoft Teams/..., digit-first ones, CallSignalingAgent, no ` (` at all).
* About 0.5% of rows are other operations (MessageSent, MemberAdded,
  TeamsSessionStarted, MeetingDetail): RecordType 25, no Attendees (MeetingDetail
  carries the meeting's MeetingDetailId).

Not generated: malformed rows or JSON, records without MeetingDetailId or
JoinTime, day-first dates, newlines inside fields, compressed files.

Determinism: all randomness comes from random.Random instances seeded with
strings built from --seed and a position (time slot, window, ...), so a file's
content depends only on the arguments, never on --jobs or scheduling.  Records
are generated per 5-minute slot of meeting start times; each file regenerates
the slots that can reach its window and keeps the records created inside it,
which is why overlapping files agree byte for byte.  Changing --files,
--row-cap, --overlap, --capped-every or --meetings changes the record density
and so every file.

Python 3.11 standard library only.
"""

import argparse
import csv
import datetime
import gzip
import hashlib
import json
import math
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time

BASE = datetime.datetime(2024, 3, 1)
WINDOW = 6 * 3600  # seconds per requested window
SLOT = 300  # meetings are generated per slot of start times
MAX_DURATION = 3 * 3600
JOIN_EARLY = 300  # attendees may join this long before the start
LEAVE_LATE = 600  # and leave this long after the scheduled end
MAX_CREATE_DELAY = 120  # CreationTime - LeaveTime
MAX_SPAN = MAX_DURATION + LEAVE_LATE + MAX_CREATE_DELAY  # CreationTime - start < this
# Measured mean data rows per meeting and mean (CreationTime - meeting start); used to
# turn a record density into a meeting rate.  The fill/trim step makes the row
# counts exact where it matters, so these only need to be close.
MEAN_ROWS_PER_MEETING = 13.3
MEAN_LAG = 2500
P_OTHER_OPERATION = 0.005 * MEAN_ROWS_PER_MEETING

MPD = "MeetingParticipantDetail"
NONCAPPED_MIN = 0.70
NONCAPPED_MAX = 0.98

# --------------------------------------------------------------------------- time


_DAYS = {}


def _day(d):
    v = _DAYS.get(d)
    if v is None:
        dt = BASE + datetime.timedelta(days=d)
        v = (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}", f"{dt.month}/{dt.day}/{dt.year}",
             f"{dt.year:04d}{dt.month:02d}{dt.day:02d}")
        _DAYS[d] = v
    return v


def _split(t):
    """Seconds since BASE -> (day, hour, minute, second)."""
    d, r = divmod(t, 86400)
    h, r = divmod(r, 3600)
    m, s = divmod(r, 60)
    return d, h, m, s


def ts(t):
    """Seconds since BASE -> 'YYYY-MM-DDThh:mm:ss'."""
    d, h, m, s = _split(t)
    return f"{_day(d)[0]}T{h:02d}:{m:02d}:{s:02d}"


def iso_date(t):
    return ts(t) + ".0000000Z"


def us_date(t):
    d, h, m, s = _split(t)
    return f"{_day(d)[1]} {h % 12 or 12}:{m:02d}:{s:02d} {'AM' if h < 12 else 'PM'}"


def compact(t):
    d, h, m, s = _split(t)
    return f"{_day(d)[2]}{h:02d}{m:02d}{s:02d}"


# --------------------------------------------------------------------------- random helpers


def uuid(rng):
    x = rng.getrandbits(128)
    x = (x & ~(0xF << 76)) | (0x4 << 76)  # looks like a version-4 UUID
    x = (x & ~(0xC << 60)) | (0x8 << 60)
    h = f"{x:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def weighted(rng, items, cum_weights):
    return rng.choices(items, cum_weights=cum_weights)[0]


def cumulative(weights):
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


# --------------------------------------------------------------------------- vocabulary

FIRST = [
    ("Jürgen", "juergen"), ("Zoë", "zoe"), ("José", "jose"), ("Anna", "anna"),
    ("Mohammed", "mohammed"), ("Olivia", "olivia"), ("Liam", "liam"), ("Søren", "soren"),
    ("Chloé", "chloe"), ("Łukasz", "lukasz"), ("Ava", "ava"), ("Noah", "noah"),
    ("Priya", "priya"), ("Wei", "wei"), ("Fatima", "fatima"), ("Oliver", "oliver"),
    ("Emma", "emma"), ("Mateo", "mateo"), ("Ingrid", "ingrid"), ("Siobhán", "siobhan"),
    ("Ömer", "omer"), ("Ana-María", "ana-maria"), ("D'Arcy", "darcy"), ("Kwame", "kwame"),
    ("Elena", "elena"), ("Yusuf", "yusuf"), ("Hannah", "hannah"), ("Lucas", "lucas"),
    ("Amélie", "amelie"), ("Nikolai", "nikolai"), ("Grace", "grace"), ("Ravi", "ravi"),
]
LAST = [
    ("Müller", "mueller"), ("Ñúñez", "nunez"), ("Smith", "smith"), ("O'Brien", "obrien"),
    ("García", "garcia"), ("Nguyen", "nguyen"), ("Kowalski", "kowalski"),
    ("Johansson", "johansson"), ("Dubois", "dubois"), ("Rossi", "rossi"), ("Patel", "patel"),
    ("Chen", "chen"), ("Kim", "kim"), ("Schröder", "schroeder"), ("van der Berg", "vanderberg"),
    ("Okafor", "okafor"), ("Ivanova", "ivanova"), ("Yılmaz", "yilmaz"), ("Brown", "brown"),
    ("Jones", "jones"), ("Fernández", "fernandez"), ("Novák", "novak"), ("Lefèvre", "lefevre"),
    ("Andersen", "andersen"), ("Moreau", "moreau"), ("Tanaka", "tanaka"), ("Åberg", "aberg"),
]
# Whole names that do not follow the First/Last pattern.
SPECIAL_NAMES = [
    ("渡辺 健", "watanabe.ken"), ("山田 花子", "yamada.hanako"), ("王 芳", "wang.fang"),
    ("李 伟", "li.wei"), ("김 민준", "kim.minjun"), ("佐藤 美咲", "sato.misaki"),
    ("Алексей Смирнов", "aleksey.smirnov"), ("محمد العلي", "mohammed.alali"),
    ('Müller, Jürgen "JJ"', "juergen.mueller"), ("Zoë Ñúñez", "zoe.nunez"),
    ("Sam Lee 🎧", "sam.lee"), ('Robert "Bob" Tables', "robert.tables"),
    ("Nguyễn Thị Minh Khai", "minhkhai.nguyen"), ("Ólafur Arnalds", "olafur.arnalds"),
]
DEPARTMENTS = ["HR", "Sales", "IT", "Legal, EMEA", "R&D", "Finance", "Marketing"]

TENANT_DOMAINS = [("contoso.com", "Contoso"), ("fabrikam.com", "Fabrikam"),
                  ("northwind.onmicrosoft.com", "Northwind")]
EXTERNAL_DOMAINS = ["adatum.com", "tailspintoys.com", "wingtiptoys.com", "litware.eu",
                    "example.org", "proseware.co.jp"]

# Device profiles: (weight, DeviceInformation or None, user agents)
DEVICES = [
    (14, 'Windows 10, "Teams" desktop app', [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.291 Safari/537.36 Teams/1.6.00.1381",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Teams/1.6.00.33567 Chrome/114.0.5735.289 Electron/25.9.8 Safari/537.36"]),
    (14, "Windows 11 Enterprise; Build 22631", [
        "Microsoft Teams/24033.811.2738.2546 (Windows 11; x64)",
        "Microsoft Teams/24004.1403.2634.2418 (Windows 10.0.22631; x64)"]),
    (6, "MacBookPro18,3; macOS 14.2.1", [
        "Microsoft Teams/24033.811.2738.2546 (macOS 14.2.1; arm64)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Safari/605.1.15"]),
    (8, "iPhone14,2; iOS 17.1", [
        "SkypeSpaces/1415/24010.1.0.2401/iOS/17.1",
        "SkypeSpaces/1415/6.2.1/ (iPhone14,2; iOS 17.1)"]),
    (3, "iPad13,4; iPadOS 16.6", ["SkypeSpaces/1415/23113.1.0/iPadOS"]),
    (6, "Samsung SM-G991B, Android 14", [
        "SkypeSpaces/1416/1.0.0.2024010803/Android/14",
        "Microsoft Teams/1416/1.0.0.2024010803 (Android 14; SM-G991B)"]),
    (6, "Chrome 120, Windows 10", [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"]),
    (3, 'Surface Hub 2S, "Board Room 4.12", Teams Rooms', [
        "10.0.1.0 (TeamsRooms; Windows 10 IoT)", "4.19.43.0 (MTR)"]),
    (2, "Poly Studio X50; Teams Rooms on Android", ["1449/1.0.96.2023120401 (Poly X50)"]),
    (2, "Büro-PC „Empfang“; Windows 10 Pro", [
        "Microsoft Teams/23320.3027.2591.1505 (Windows 10; x64)"]),
    (8, None, [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.0.0 Safari/537.36", "Teams/1.6.00.4472"]),
    (5, None, ["Microsoft Teams/24033.811.2738.2546 (Windows 11; x64)",
               "SkypeSpaces/1415/24010.1.0.2401/iOS/17.1"]),
]
DEVICE_CUM = cumulative([d[0] for d in DEVICES])
PHONE_DEVICE = (0, None, ["CallSignalingAgent (45212)", "CallSignalingAgent (2.1)"])
APP_DEVICE = (0, None, ["CallSignalingAgent (BotFramework)", "2.1.0.0 (BotService)"])

MEETING_TYPES = ["ScheduledMeeting", "RecurringMeeting", "AdHocMeeting", "ChannelMeeting",
                 "Broadcast", "ScreenSharingCall", "ScheduledMeeting,Complete"]
MEETING_CUM = cumulative([40, 25, 15, 8, 2, 5, 5])
DURATION = {  # seconds (min, max)
    "ScheduledMeeting": (900, 5400), "ScheduledMeeting,Complete": (900, 5400),
    "RecurringMeeting": (900, 3600), "AdHocMeeting": (120, 2700),
    "ChannelMeeting": (900, 5400), "Broadcast": (1800, MAX_DURATION),
    "ScreenSharingCall": (60, 1800),
}
RECIPIENT_TYPES = ["User", "InternalFederated", "GuestFederated", "Anonymous", "Phone",
                   "Applications"]
RECIPIENT_CUM = cumulative([80, 5, 5, 6, 3, 1])
OTHER_OPERATIONS = ["MessageSent", "MemberAdded", "TeamsSessionStarted", "MeetingDetail"]
TEAM_NAMES = ["Project Ünicorn, Phase 2", 'Ops "War Room"', "営業チーム", "Finance – Q1 close",
              "All Company"]

# --------------------------------------------------------------------------- population


class Person:
    __slots__ = ("oid", "upn", "name", "tenant", "device", "home_ip", "has_upn")

    def __init__(self, oid, upn, name, tenant, device, home_ip, has_upn=True):
        self.oid, self.upn, self.name, self.tenant = oid, upn, name, tenant
        self.device, self.home_ip, self.has_upn = device, home_ip, has_upn


def person_name(rng):
    r = rng.random()
    if r < 0.06:
        return rng.choice(SPECIAL_NAMES)
    f, fs = rng.choice(FIRST)
    l, ls = rng.choice(LAST)
    slug = f"{fs}.{ls}"
    if r < 0.64:
        return f"{f} {l}", slug
    if r < 0.90:
        return f"{l}, {f}", slug
    if r < 0.93:
        nick = rng.choice(["JJ", "Doc", "Kiki", "Ace"])
        return f'{l}, {f} "{nick}"', slug
    return f"{f} {l} ({rng.choice(DEPARTMENTS)})", slug


def ipv4(rng, first=None):
    a = first if first is not None else rng.choice([20, 31, 52, 77, 86, 94, 104, 151, 178, 213])
    return f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def ipv6(rng):
    if rng.random() < 0.3:
        return f"2a01:111:f400::{rng.randrange(1, 0xffff):x}"
    groups = ":".join(f"{rng.randrange(0x10000):x}" for _ in range(4))
    return f"2a02:{rng.randrange(0x1000, 0xffff):x}:{groups}::{rng.randrange(1, 0xfff):x}"


def with_port(rng, ip):
    port = rng.choice([443, 3478, 3479, 3480, rng.randrange(49152, 65535)])
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class Population:
    def __init__(self, seed, n_organizers):
        rng = random.Random(f"{seed}:population")
        n_tenants = rng.choice([2, 3])
        weights = [0.8, 0.2] if n_tenants == 2 else [0.7, 0.2, 0.1]
        self.tenant_cum = cumulative(weights)
        self.tenants = []  # (id, domain, nat ips)
        for k in range(n_tenants):
            nat = [ipv4(rng, rng.choice([20, 40, 52, 104])) for _ in range(4)]
            nat.append(ipv6(rng))
            self.tenants.append((uuid(rng), TENANT_DOMAINS[k][0], nat))
        self.users = []  # per tenant: list of Person
        self.organizers = []  # per tenant: prefix of users
        for k in range(n_tenants):
            n_org = max(20, int(n_organizers * weights[k]))
            self.users.append(self._people(rng, k, self.tenants[k][1], n_org * 3 + 50))
            self.organizers.append(self.users[k][:n_org])
        self.external = []  # (tenant id, Person)
        for dom in EXTERNAL_DOMAINS:
            tid = uuid(rng)
            for p in self._people(rng, tid, dom, 40):
                p.tenant = tid
                p.has_upn = rng.random() < 0.5
                self.external.append(p)
        self.apps = [uuid(rng) for _ in range(5)]

    @staticmethod
    def _people(rng, tenant, domain, n):
        seen = {}
        out = []
        for _ in range(n):
            name, slug = person_name(rng)
            k = seen.get(slug, 0)
            seen[slug] = k + 1
            upn = f"{slug}{k if k else ''}@{domain}"
            dev = weighted(rng, range(len(DEVICES)), DEVICE_CUM)
            home = ipv6(rng) if rng.random() < 0.10 else ipv4(rng)
            out.append(Person(uuid(rng), upn, name, tenant, dev, home))
        return out


# --------------------------------------------------------------------------- configuration


class Config:
    def __init__(self, a):
        self.seed = a.seed
        self.files = a.files
        self.cap = a.row_cap
        self.overlap = a.overlap
        self.capped_every = a.capped_every
        self.format = a.format
        self.O = int(round(WINDOW * a.overlap))
        self.S = WINDOW - self.O  # stride between window starts
        self.explicit_meetings = a.meetings is not None
        self._ov, self._ex = {}, {}
        self.scale = 1.0
        total_rows = a.files * a.row_cap
        self.pop = Population(a.seed, max(200, min(3000, total_rows // 600)))
        self.default_meetings = self._expected_meetings()
        if self.explicit_meetings:
            self.scale = a.meetings / self.default_meetings if self.default_meetings else 0.0

    def window(self, i):
        return i * self.S, i * self.S + WINDOW

    def capped(self, i):
        return self.capped_every > 0 and (i + 1) % self.capped_every == 0

    # Density of records (by CreationTime), in units of row-cap per window length.
    def ov(self, j):  # overlap between window j and j+1
        v = self._ov.get(j)
        if v is None:
            v = random.Random(f"{self.seed}:ov:{j}").uniform(0.70, 0.85)
            if self.overlap > 0.175:
                v *= 0.35 / (2 * self.overlap)
            self._ov[j] = v
        return v

    def target(self, i):
        r = random.Random(f"{self.seed}:target:{i}")
        return r.uniform(1.3, 1.7) if self.capped(i) else r.uniform(0.74, 0.88)

    def ex(self, i):  # exclusive part of window i
        v = self._ex.get(i)
        if v is None:
            f = self.O / WINDOW
            v = (self.target(i) - f * (self.ov(i - 1) + self.ov(i))) / (1 - 2 * f)
            v = max(v, 0.05)
            self._ex[i] = v
        return v

    def density(self, t):
        i, r = divmod(t, self.S)
        return self.ov(i - 1) if r < self.O else self.ex(i)

    def meetings_per_slot(self, s):
        t = s * SLOT + SLOT // 2 + MEAN_LAG
        return self.density(t) * self.cap / WINDOW * SLOT / MEAN_ROWS_PER_MEETING * self.scale

    def slot_range(self, ws, we):
        """Slots whose meetings can create records in [ws, we)."""
        return (ws - MAX_SPAN) // SLOT, (we + JOIN_EARLY) // SLOT

    def _expected_meetings(self):
        lo, _ = self.slot_range(*self.window(0))
        _, hi = self.slot_range(*self.window(self.files - 1))
        return sum(self.meetings_per_slot(s) for s in range(lo, hi + 1))


# --------------------------------------------------------------------------- records

# A record is a tuple (creation time, user column, operation, AuditData dict).


class Gen:
    def __init__(self, cfg):
        self.cfg = cfg
        self.pop = cfg.pop

    def slot(self, s):
        rng = random.Random(f"{self.cfg.seed}:slot:{s}")
        lam = self.cfg.meetings_per_slot(s)
        n = int(lam)
        if rng.random() < lam - n:
            n += 1
        out = []
        for _ in range(n):
            self.meeting(rng, s * SLOT + rng.randrange(SLOT), out)
        return out

    def ip_for(self, rng, person):
        r = rng.random()
        if person is not None and r < 0.45:
            ip = rng.choice(self.pop.tenants[person.tenant][2]) if isinstance(person.tenant, int) \
                else person.home_ip
        elif person is not None and r < 0.75:
            ip = person.home_ip
        elif r < 0.88:
            ip = ipv4(rng)
        else:
            ip = ipv6(rng)
        if rng.random() < 0.10:
            ip = with_port(rng, ip)
        return ip

    def meeting(self, rng, t0, out):
        pop = self.pop
        tk = weighted(rng, range(len(pop.tenants)), pop.tenant_cum)
        tenant_id = pop.tenants[tk][0]
        orgs = pop.organizers[tk]
        org = orgs[int(len(orgs) * rng.random() ** 2)]
        item = weighted(rng, MEETING_TYPES, MEETING_CUM)
        dmin, dmax = DURATION[item]
        dur = rng.randint(dmin, dmax)
        end = t0 + dur
        limit = end + LEAVE_LATE  # no connection lasts beyond this
        mid = uuid(rng)
        if item == "ScreenSharingCall":
            n_att = rng.randint(2, 4)
        elif item == "Broadcast":
            n_att = rng.randint(10, 40)
        else:
            n_att = 2 + int(38 * rng.random() ** 2.8)
        head = {"OrganizationId": tenant_id, "RecordType": 25, "UserKey": org.oid,
                "UserType": 0, "Version": 1, "Workload": "MicrosoftTeams"}
        ctx = (t0, end, limit, mid, item, tenant_id, org, head)

        used = set()
        if rng.random() < 0.92:
            used.add(org.oid)
            att = {"RecipientType": "User", "UserObjectId": org.oid, "DisplayName": org.name,
                   "OrganizationId": tenant_id, "UPN": org.upn, "Role": "Organizer"}
            self.attendee(rng, ctx, att, org, out)
            n_att -= 1
        users = pop.users[tk]
        for _ in range(n_att):
            kind = weighted(rng, RECIPIENT_TYPES, RECIPIENT_CUM)
            person = None
            if kind == "User":
                person = users[rng.randrange(len(users))]
                if person.oid in used:
                    continue
                used.add(person.oid)
                att = {"RecipientType": "User", "UserObjectId": person.oid,
                       "DisplayName": person.name, "OrganizationId": tenant_id,
                       "UPN": person.upn,
                       "Role": "Presenter" if rng.random() < 0.15 else "Attendee"}
            elif kind == "InternalFederated":
                ok = rng.choice([k for k in range(len(pop.tenants)) if k != tk])
                person = pop.users[ok][rng.randrange(len(pop.users[ok]))]
                if person.oid in used:
                    continue
                used.add(person.oid)
                att = {"RecipientType": kind, "UserObjectId": person.oid,
                       "DisplayName": person.name, "OrganizationId": pop.tenants[ok][0],
                       "UPN": person.upn, "Role": "Attendee"}
            elif kind == "GuestFederated":
                person = pop.external[rng.randrange(len(pop.external))]
                if person.oid in used:
                    continue
                used.add(person.oid)
                att = {"RecipientType": kind, "UserObjectId": person.oid,
                       "DisplayName": person.name, "OrganizationId": person.tenant}
                if person.has_upn:
                    att["UPN"] = person.upn
                att["Role"] = "Attendee"
            elif kind == "Anonymous":
                if rng.random() < 0.55:
                    name = person_name(rng)[0]
                    if rng.random() < 0.3:
                        name += rng.choice([" (Guest)", " (Unverified)", " (External)"])
                else:
                    name = f"teamsvisitor:{rng.getrandbits(128):032x}"
                att = {"RecipientType": kind, "DisplayName": name, "Role": "Attendee"}
            elif kind == "Phone":
                if rng.random() < 0.5:
                    name = rng.choice(["+1 425 555 0", "+1 206 555 0", "+44 20 7946 0",
                                       "+49 30 555 0"]) + f"{rng.randrange(1000):03d}"
                else:
                    name = f"*******{rng.randrange(10000):04d}"
                att = {"RecipientType": kind, "DisplayName": name, "Role": "Attendee"}
            else:  # Applications
                att = {"RecipientType": kind, "DisplayName": rng.choice(pop.apps),
                       "OrganizationId": tenant_id, "Role": "Attendee"}
            if kind not in ("User",) and rng.random() < 0.03:
                inviter = users[rng.randrange(len(users))]
                att["InviterInfo"] = {"UserObjectId": inviter.oid, "DisplayName": inviter.name}
            self.attendee(rng, ctx, att, person, out, kind)

        if rng.random() < P_OTHER_OPERATION:
            self.other(rng, ctx, out)

    def attendee(self, rng, ctx, att, person, out, kind="User"):
        t0, end, limit, _mid, _item, _tid, _org, _head = ctx
        if kind == "Phone":
            dev = PHONE_DEVICE
        elif kind == "Applications":
            dev = APP_DEVICE
        elif person is not None and rng.random() < 0.85:
            dev = DEVICES[person.device]
        else:
            dev = DEVICES[weighted(rng, range(len(DEVICES)), DEVICE_CUM)]
        ua = rng.choice(dev[2])
        ip = self.ip_for(rng, person)
        dur = end - t0
        if rng.random() < 0.7:
            join = t0 + rng.randint(-JOIN_EARLY, min(180, dur // 2))
        else:
            join = t0 + rng.randint(0, int(dur * 0.7))
        if rng.random() < 0.7:
            leave = end + rng.randint(-120, LEAVE_LATE)
        else:
            leave = join + rng.randint(60, max(61, end - join))
        leave = min(max(leave, join + 5), limit)
        r = rng.random()
        if r < 0.08 and leave - join > 120:
            # Same device, 2-3 connections with short gaps (network drops).
            k = rng.randint(2, 3)
            cuts = sorted(rng.randint(join + 30, leave - 30) for _ in range(k - 1))
            start = join
            for c in cuts:
                if c - start < 10:
                    continue
                self.emit(rng, ctx, att, start, c, ip, dev[1], ua, out)
                gap = -rng.randint(1, 5) if rng.random() < 0.1 else rng.randint(5, 300)
                start = c + gap
                if rng.random() < 0.2:
                    ip = self.ip_for(rng, person)
            last = leave if start < leave - 5 else min(start + 60, limit)
            if last - start >= 5:
                self.emit(rng, ctx, att, start, last, ip, dev[1], ua, out)
        elif r < 0.12:
            # A second connection from another device (phone plus laptop, ...).
            self.emit(rng, ctx, att, join, leave, ip, dev[1], ua, out)
            dev2 = dev
            while dev2[1] == dev[1]:
                dev2 = DEVICES[weighted(rng, range(len(DEVICES)), DEVICE_CUM)]
            j2 = join + rng.randint(0, max(0, (leave - join) // 2))
            l2 = min(max(j2 + 30, leave + rng.randint(-300, 300)), limit)
            self.emit(rng, ctx, att, j2, l2, self.ip_for(rng, person), dev2[1],
                      rng.choice(dev2[2]), out)
        elif r < 0.13:
            # Two byte-identical connections with different record Ids.
            ct = leave + rng.randint(0, MAX_CREATE_DELAY)
            self.emit(rng, ctx, att, join, leave, ip, dev[1], ua, out, ct)
            self.emit(rng, ctx, att, join, leave, ip, dev[1], ua, out, ct)
        else:
            self.emit(rng, ctx, att, join, leave, ip, dev[1], ua, out)

    def emit(self, rng, ctx, att, join, leave, ip, device, ua, out, ctime=None):
        t0, end, limit, mid, item, tenant_id, org, head = ctx
        if ctime is None:
            ctime = leave + rng.randint(0, MAX_CREATE_DELAY)
        d = {"CreationTime": ts(ctime), "Id": uuid(rng), "Operation": MPD}
        d.update(head)
        d["ClientIP"] = ip
        d["UserId"] = org.upn
        d["ArtifactsShared"] = []
        d["Attendees"] = [att]
        if device is not None:
            d["DeviceInformation"] = device
        d["ExtraProperties"] = [{"Key": "UserAgent", "Value": ua}]
        d["JoinTime"] = ts(join)
        d["LeaveTime"] = ts(leave)
        d["MeetingDetailId"] = mid
        d["ItemName"] = item
        out.append((ctime, org.upn, MPD, d))

    def other(self, rng, ctx, out):
        t0, end, limit, mid, item, tenant_id, org, head = ctx
        op = rng.choice(OTHER_OPERATIONS)
        actor = org if rng.random() < 0.5 else rng.choice(self.pop.users[0])
        ctime = rng.randint(t0, end)
        d = {"CreationTime": ts(ctime), "Id": uuid(rng), "Operation": op,
             "OrganizationId": tenant_id, "RecordType": 25, "UserKey": actor.oid,
             "UserType": 0, "Version": 1, "Workload": "MicrosoftTeams",
             "ClientIP": self.ip_for(rng, actor), "UserId": actor.upn}
        dev = DEVICES[actor.device]
        if op == "MessageSent":
            d["ChatThreadId"] = f"19:meeting_{rng.getrandbits(96):024x}@thread.v2"
            d["CommunicationType"] = rng.choice(["GroupChat", "OneOnOne", "Team"])
            d["MessageId"] = str(1709251200000 + ctime * 1000 + rng.randrange(1000))
            d["MessageSizeInBytes"] = rng.randint(40, 4000)
            d["ParticipantInfo"] = {"HasForeignTenantUsers": rng.random() < 0.1,
                                    "HasGuestUsers": False, "HasOtherGuestUsers": False,
                                    "HasUnauthenticatedUsers": False,
                                    "ParticipatingDomains": [], "ParticipatingTenantIds": [tenant_id]}
        elif op == "MemberAdded":
            m = rng.choice(self.pop.users[0])
            d["Members"] = [{"DisplayName": m.name, "Role": 1, "UPN": m.upn}]
            d["TeamGuid"] = f"19:{rng.getrandbits(128):032x}@thread.tacv2"
            d["TeamName"] = rng.choice(TEAM_NAMES)
            d["CommunicationType"] = "Team"
        elif op == "TeamsSessionStarted":
            if dev[1] is not None:
                d["DeviceInformation"] = dev[1]
            d["ExtraProperties"] = [{"Key": "UserAgent", "Value": rng.choice(dev[2])}]
        else:  # MeetingDetail
            d["ChatThreadId"] = f"19:meeting_{rng.getrandbits(96):024x}@thread.v2"
            d["CommunicationType"] = "Meeting"
            d["EndTime"] = ts(end)
            d["ItemName"] = item
            d["MeetingDetailId"] = mid
            d["StartTime"] = ts(t0)
        out.append((ctime, actor.upn, op, d))


# --------------------------------------------------------------------------- files

LAYOUTS = [
    ("legacy", ["CreationDate", "UserIds", "Operations", "AuditData"]),
    ("portal", ["CreationDate", "UserId", "Operation", "AuditData"]),
    ("purview", ["RecordId", "CreationDate", "RecordType", "Operation", "UserId", "AuditData",
                 "AssociatedAdminUnits", "AssociatedAdminUnitsNames"]),
    ("powershell", ["RecordType", "CreationDate", "UserIds", "Operations", "AuditData",
                    "ResultIndex", "ResultCount", "Identity", "IsValid", "ObjectState"]),
    ("powershell+runspace", ["RunspaceId", "RecordType", "CreationDate", "UserIds", "Operations",
                             "AuditData", "ResultIndex", "ResultCount", "Identity", "IsValid",
                             "ObjectState"]),
]

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_CFG = None
_TRUTH = False
_GEN = None
_CACHE = {}


def _init(args, cfg=None):
    global _CFG, _GEN, _TRUTH
    _CFG = cfg or Config(args)
    _TRUTH = bool(args.truth)
    _GEN = Gen(_CFG)
    _CACHE.clear()


def window_records(i):
    """All records created in window i, in generation order, after fill/trim."""
    cfg, gen = _CFG, _GEN
    ws, we = cfg.window(i)
    lo, hi = cfg.slot_range(ws, we)
    for s in [s for s in _CACHE if s < lo or s > hi]:
        del _CACHE[s]
    recs = []
    for s in range(lo, hi + 1):
        sl = _CACHE.get(s)
        if sl is None:
            sl = _CACHE[s] = gen.slot(s)
        recs.extend(r for r in sl if ws <= r[0] < we)
    if cfg.explicit_meetings:
        return recs
    # Exact bounds: add or remove records only in the part of the window that no
    # other window covers, so the overlaps stay identical in both files.
    es, ee = ws + cfg.O, we - cfg.O
    cap = cfg.cap
    if cfg.capped(i):
        low, high = cap + max(1, cap // 20), None
    else:
        low = math.ceil(NONCAPPED_MIN * cap)
        high = min(cap - 1, math.floor(NONCAPPED_MAX * cap))
    k = 0
    while len(recs) < low and ee > es and k < 100000:
        rng = random.Random(f"{cfg.seed}:fill:{i}:{k}")
        extra = []
        gen.meeting(rng, rng.randint(es, max(es, ee - 1800)), extra)
        recs.extend(r for r in extra if es <= r[0] < ee)
        k += 1
    if high is not None and len(recs) > high:
        inner = [n for n, r in enumerate(recs) if es <= r[0] < ee]
        drop = set(random.Random(f"{cfg.seed}:trim:{i}").sample(
            inner, min(len(inner), len(recs) - high)))
        recs = [r for n, r in enumerate(recs) if n not in drop]
    return recs


def write_blob(i, out_dir, ws, we, recs):
    """Window i as the Management Activity API delivers it: every record (no cap), in no
    time order, as a compact JSON array or NDJSON (--format), named by a content id, so path
    order is not time order. --format mixed: arrays for even i, NDJSON for odd, one array in
    four pretty-printed with ASCII escapes, plain, gzip or zstd by turns. Every seventh blob
    is delivered twice, under a second id."""
    cfg = _CFG
    recs = list(recs)
    random.Random(f"{cfg.seed}:blob-order:{i}").shuffle(recs)
    kind = "ndjson" if cfg.format == "ndjson" or (cfg.format == "mixed" and i % 2) else "json"
    if kind == "ndjson":
        text = "".join(_ENCODE(d) + "\n" for _c, _u, _o, d in recs)
    elif cfg.format == "mixed" and i % 4 == 2:
        text = json.dumps([d for _c, _u, _o, d in recs], indent=2, ensure_ascii=True) + "\n"
    else:
        text = "[" + ",".join(_ENCODE(d) for _c, _u, _o, d in recs) + "]"
    data = text.encode("utf-8")
    compression = ["", ".gz", ".zst"][i % 3] if cfg.format == "mixed" else ""
    if compression == ".zst" and shutil.which("zstd") is None:
        compression = ".gz"
    if compression == ".gz":
        data = gzip.compress(data, mtime=0)
    elif compression == ".zst":
        data = subprocess.run(["zstd", "-q", "-3", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    names = []
    for copy in range(2 if i % 7 == 6 else 1):
        content_id = hashlib.sha256(f"{cfg.seed}:{i}:{copy}".encode()).hexdigest()[:24]
        names.append(f"blob-{content_id}.{kind}{compression}")
        path = os.path.join(out_dir, names[-1])
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    first = ts(min(r[0] for r in recs)) if recs else "-"
    last = ts(max(r[0] for r in recs)) if recs else "-"
    ids = [(d["Id"], o == MPD) for _c, _u, o, d in recs]
    return dict(i=i, name=" ".join(names), rows=len(recs) * len(names), total=len(recs),
                window=(ts(ws), ts(we)), span=(first, last), layout=kind + compression,
                left=[x for x, (c, *_r) in zip(ids, recs) if c < ws + cfg.O],
                right=[x for x, (c, *_r) in zip(ids, recs) if c >= we - cfg.O], lost=0,
                capped=False, copies=len(names), mpd=sum(1 for _id, mpd in ids if mpd),
                truth=[(n + 1, d["Id"], ts(c)) for n, (c, _u, _o, d) in enumerate(recs)]
                if _TRUTH else None)


def write_file(i, out_dir):
    cfg = _CFG
    ws, we = cfg.window(i)
    recs = window_records(i)
    if cfg.format != "csv":
        return write_blob(i, out_dir, ws, we, recs)
    total = len(recs)
    recs.sort(key=lambda r: -r[0])  # newest first; stable for ties
    rows = recs[:cfg.cap]
    layout, header = LAYOUTS[(i + i // 5) % 5]  # shifted so capped files vary too
    bom = i % 3 == 2
    crlf = i % 4 in (0, 3)
    ps = layout.startswith("powershell")
    datefmt = us_date if (ps or i % 2 == 1) else iso_date
    name = f"UAL-{compact(ws)}-{compact(we)}.csv"
    path = os.path.join(out_dir, name)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8-sig" if bom else "utf-8", newline="",
              buffering=1 << 23) as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL if ps else csv.QUOTE_MINIMAL,
                       lineterminator="\r\n" if crlf else "\n")
        w.writerow(header)
        if layout == "legacy" or layout == "portal":
            w.writerows([datefmt(c), u, op, _ENCODE(d)] for c, u, op, d in rows)
        elif layout == "purview":
            w.writerows([d["Id"], datefmt(c), "25", op, u, _ENCODE(d), "", ""]
                        for c, u, op, d in rows)
        else:
            pre = [uuid(random.Random(f"{cfg.seed}:runspace:{i}"))] if layout.endswith("runspace") else []
            w.writerows(pre + ["MicrosoftTeams", datefmt(c), u, op, _ENCODE(d), str(n + 1),
                               str(total), d["Id"], "True", "Unchanged"]
                        for n, (c, u, op, d) in enumerate(rows))
    os.replace(tmp, path)
    # Ids in the overlaps, for the duplicate count; records lost to the cap
    # that no other file holds.
    left = [(d["Id"], o == MPD) for c, _u, o, d in rows if c < ws + cfg.O]
    right = [(d["Id"], o == MPD) for c, _u, o, d in rows if c >= we - cfg.O]
    lost = sum(1 for c, _u, _o, _d in recs[cfg.cap:] if c >= ws + cfg.O or i == 0)
    first = ts(rows[-1][0]) if rows else "-"
    last = ts(rows[0][0]) if rows else "-"
    # Every record of the window, kept or not, for --truth: (row in the file or None, Id,
    # CreationTime). Rows are counted from 1 after the header.
    truth = ([(n + 1 if n < cfg.cap else None, d["Id"], ts(c)) for n, (c, _u, _o, d)
              in enumerate(recs)] if _TRUTH else None)
    return dict(i=i, name=name, rows=len(rows), total=total, window=(ts(ws), ts(we)),
                span=(first, last), layout=layout, left=left, right=right, lost=lost,
                capped=total > cfg.cap, truth=truth)


def _work(job):
    i, out_dir = job
    return write_file(i, out_dir)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Generate a Purview audit-log export archive: CSV exports of Teams "
                    "MeetingParticipantDetail records (and other operations) over consecutive, "
                    "overlapping time windows, some of them capped. Same arguments, same bytes.",
        epilog="Example: python3 scripts/gen_archive.py --out /tmp/s --files 6 --row-cap 300 "
               "--seed 7. One summary line per file goes to stderr, then the totals (rows, "
               "duplicates, distinct records, capped files, records lost to the caps).")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="directory to write into (created with its parents); use an empty one: "
                        "files whose names come up again are overwritten, others left alone")
    p.add_argument("--files", type=int, default=40, metavar="N",
                   help="number of export files, one per time window (default 40)")
    p.add_argument("--row-cap", type=int, default=50000, metavar="N",
                   help="data rows at which an export stops, keeping its newest records, as "
                        "Purview's do (default 50000)")
    p.add_argument("--seed", type=int, default=1, metavar="S",
                   help="random seed (default 1); the same arguments give byte-identical files")
    p.add_argument("--meetings", type=int, default=None, metavar="N",
                   help="total meetings, approximately. Default: scaled so a normal window "
                        "holds 70-98%% of --row-cap rows and every --capped-every-th window "
                        "more; when given, record density scales by N / that default and files "
                        "are capped wherever their window happens to exceed --row-cap")
    p.add_argument("--overlap", type=float, default=0.15, metavar="F",
                   help="fraction of a window shared with the next one, 0 to 0.45 "
                        "(default 0.15): the records there are in both files")
    p.add_argument("--capped-every", type=int, default=5, metavar="K",
                   help="every K-th window (K-1, 2K-1, ... from 0) holds more records than "
                        "--row-cap, so its file is capped (default 5; 0: never)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: the CPU count, or 1 for small archives); "
                        "the output does not depend on it")
    p.add_argument("--format", default="csv", choices=["csv", "json", "ndjson", "mixed"],
                   help="csv: Purview exports (default); json: each window as a Management "
                        "Activity API content blob, a JSON array of every record of the window "
                        "(no row cap), in no time order, named blob-<content id>.json so path "
                        "order is not time order; ndjson: the same, one record per line; mixed: "
                        "arrays and NDJSON by turns, one array in four pretty-printed with ASCII "
                        "escapes, plain, .gz and .zst by turns (.zst needs the zstd program). "
                        "In every blob format, every seventh window's blob is delivered twice")
    p.add_argument("--truth", default=None, metavar="FILE",
                   help="also write FILE, a CSV of every record generated for each window, "
                        "kept or not: file,row,id,creation_time, with row (from 1, after the "
                        "header) empty for a record the row cap left out. A record whose Id "
                        "has no row in any file is missing from the archive: what a reader's "
                        "list of windows to export again must cover")
    p.add_argument("--from-file", type=int, default=0, metavar="K",
                   help="write only the files from the K-th (0-based) on, as a run with --files "
                        "would write them: with the same seed, --files N+1 --from-file N writes "
                        "the export that follows an archive of N files (a nightly's new file)")
    a = p.parse_args(argv)
    if a.files < 1 or a.row_cap < 1:
        p.error("--files and --row-cap must be at least 1")
    if not 0 <= a.overlap <= 0.45:
        p.error("--overlap must be between 0 and 0.45")
    if not 0 <= a.from_file < a.files:
        p.error("--from-file must be at least 0 and below --files")
    if a.capped_every < 0:
        p.error("--capped-every must be >= 0")
    if a.meetings is not None and a.meetings < 0:
        p.error("--meetings must be >= 0")

    started = time.monotonic()
    cfg = Config(a)  # for the summary line (workers build their own)
    os.makedirs(a.out, exist_ok=True)
    jobs = a.jobs or os.cpu_count() or 1
    if a.jobs is None and a.files * a.row_cap < 200000:
        jobs = 1  # not worth starting processes
    jobs = max(1, min(jobs, a.files - a.from_file))
    work = [(i, a.out) for i in range(a.from_file, a.files)]
    if jobs == 1:
        _init(a, cfg)
        results = map(_work, work)
        pool = None
    else:
        try:
            ctx = multiprocessing.get_context("fork")
        except ValueError:
            ctx = multiprocessing.get_context()
        pool = ctx.Pool(jobs, initializer=_init, initargs=(a,))
        # Contiguous chunks let a worker reuse the slots shared by neighbouring windows.
        results = pool.imap(_work, work, chunksize=max(1, math.ceil(a.files / (jobs * 3))))
    done = []
    truth = open(a.truth, "w", newline="") if a.truth else None
    try:
        if truth:
            csv.writer(truth).writerow(["file", "row", "id", "creation_time"])
        for r in results:
            done.append(r)
            if truth:
                csv.writer(truth).writerows([r["name"], "" if row is None else row, i, c]
                                            for row, i, c in r.pop("truth"))
            flag = f"  CAPPED ({r['total']} in window)" if r["capped"] else ""
            print(f"{r['name']}  rows={r['rows']}  window={r['window'][0]}..{r['window'][1]}"
                  f"  layout={r['layout']}{flag}", file=sys.stderr)
    finally:
        if truth:
            truth.close()
        if pool is not None:
            pool.close()
            pool.join()
    rows = sum(r["rows"] for r in done)
    both = [x for k in range(len(done) - 1)
            for x in set(done[k]["right"]) & set(done[k + 1]["left"])]
    dups, dups_mpd = len(both), sum(1 for _id, mpd in both if mpd)
    # Blobs delivered twice: every record of the second copy is a duplicate.
    dups += sum(r["total"] * (r.get("copies", 1) - 1) for r in done)
    dups_mpd += sum(r.get("mpd", 0) * (r.get("copies", 1) - 1) for r in done)
    capped = sum(1 for r in done if r["capped"])
    lost = sum(r["lost"] for r in done)
    print(f"total: {len(done)} files, {rows} rows, {dups} duplicate rows (same Id in two files; "
          f"{dups_mpd} of them {MPD}), "
          f"{rows - dups} distinct records, {capped} capped files, {lost} records in no file "
          f"(cut by caps); ~{round(cfg.default_meetings * cfg.scale)} meetings generated; "
          f"{time.monotonic() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
