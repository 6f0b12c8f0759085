#!/usr/bin/env python3
"""Writes the hand-checked test fixtures: testdata/fixtures/ and testdata/audit/ (the expected
reports live in tests/*.rs, worked out by hand from these rows), and testdata/compressed/ from
them and the sample archive (needs the zstd command). Run from the repository root:

    python3 scripts/make_fixtures.py

Deterministic: rerunning it rewrites byte-identical files.
"""
import csv, json, os, io
T='testdata/fixtures'
def aud(id, meeting, att, join, leave, ip='10.0.0.1', dev='Teams desktop', ua='Microsoft Teams/1.6 (Windows NT 10.0)', org='org@contoso.com', okey='okey-1', item='ScheduledMeeting', ct=None, op='MeetingParticipantDetail', drop=()):
    d = {"CreationTime": ct or (leave or join or "2024-03-05T12:00:00"), "Id": id, "Operation": op,
         "OrganizationId": "tenant-c", "RecordType": 25, "UserKey": okey, "UserType": 0, "Version": 1,
         "Workload": "MicrosoftTeams", "ClientIP": ip, "UserId": org, "ArtifactsShared": [],
         "Attendees": [att], "DeviceInformation": dev,
         "ExtraProperties": [{"Key": "UserAgent", "Value": ua}], "JoinTime": join, "LeaveTime": leave,
         "MeetingDetailId": meeting, "ItemName": item}
    for k in drop: d.pop(k, None)
    return json.dumps(d, ensure_ascii=False, separators=(',', ':'))
def user(uid, name, upn, tenant='tenant-c', rt='User'):
    return {"RecipientType": rt, "UserObjectId": uid, "DisplayName": name, "OrganizationId": tenant, "UPN": upn, "Role": "Attendee"}
def anon(name, rt='Anonymous'):
    return {"RecipientType": rt, "DisplayName": name, "Role": "Attendee"}
def write(path, header, rows, bom=False, crlf=False, quote_all=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator='\r\n' if crlf else '\n', quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    w.writerow(header)
    for r in rows: w.writerow(r)
    with open(path, 'w', encoding='utf-8', newline='') as f:
        f.write(('\ufeff' if bom else '') + buf.getvalue())
M='MeetingParticipantDetail'
U1=user('u-1','Ann Lee','ann@contoso.com'); 
# --- layouts: one file per header layout
write(f'{T}/layouts/1-old.csv', ['CreationDate','UserIds','Operations','AuditData'],
  [['2024-03-05T09:31:00.0000000Z','org@contoso.com',M, aud('10000000-0000-0000-0000-000000000001','meet-1',U1,'2024-03-05T09:00:00','2024-03-05T09:30:00')]])
write(f'{T}/layouts/2-classic.csv', ['CreationDate','UserId','Operation','AuditData'],
  [['3/5/2024 9:21:00 AM','org@contoso.com',M, aud('10000000-0000-0000-0000-000000000002','meet-1',anon('Guest, One'),'2024-03-05T09:05:00','2024-03-05T09:20:00',ip='2a01:111:f400::1',dev='Edge browser',ua='Mozilla/5.0 (X11; Linux x86_64) Chrome/120')]])
write(f'{T}/layouts/3-purview.csv', ['RecordId','CreationDate','RecordType','Operation','UserId','AuditData','AssociatedAdminUnits','AssociatedAdminUnitsNames'],
  [['10000000-0000-0000-0000-000000000003','2024-03-05T11:01:00.0000000Z','25',M,'boss@contoso.com', aud('10000000-0000-0000-0000-000000000003','meet-2',anon('+1 425 555 0100','Phone'),'2024-03-05T10:00:00','2024-03-05T11:00:00',ip='52.114.1.7:51234',dev='',ua='SkypeSpaces/1415/24010.1.0',org='boss@contoso.com',okey='okey-2',item='AdHocMeeting',drop=('DeviceInformation',)),'','']])
write(f'{T}/layouts/4-powershell.csv', ['RecordType','CreationDate','UserIds','Operations','AuditData','ResultIndex','ResultCount','Identity','IsValid','ObjectState','RunspaceId'],
  [['MicrosoftTeams','3/5/2024 10:31:00 AM','boss@contoso.com',M, aud('10000000-0000-0000-0000-000000000004','meet-2',anon('9f1c2d3e-0000-4000-8000-00000000abcd','Applications'),'2024-03-05T10:10:00','2024-03-05T10:30:00',ip='[2a01:111:f400::2]:443',dev='Bot',ua='10.0.1.0 (Bot Framework)',org='boss@contoso.com',okey='okey-2',item='AdHocMeeting'),'1','1','10000000-0000-0000-0000-000000000004','True','Unchanged','rs-1']],
  bom=True, crlf=True, quote_all=True)
# --- quirks: BOM + CRLF, quoted newlines, commas and quotes in fields, non-ASCII
q1 = json.loads(aud('20000000-0000-0000-0000-000000000001','meet-q',user('u-q1','Müller, Jürgen "JJ"','jj@fabrikam.com','tenant-f','InternalFederated'),'2024-03-05T08:00:00','2024-03-05T08:10:00',dev='Windows 10, "Teams" desktop app',item='ScheduledMeeting,Complete'))
q1_text = json.dumps(q1, ensure_ascii=False, indent=1)  # pretty-printed: newlines inside the quoted CSV field
write(f'{T}/quirks.csv', ['CreationDate','UserIds','Operations','AuditData'],
  [['2024-03-05T08:10:00.0000000Z','org@contoso.com\nsecond line',M, q1_text],
   ['2024-03-05T08:20:00.0000000Z','org@contoso.com',M, aud('20000000-0000-0000-0000-000000000002','meet-q',anon('渡辺 健'),'2024-03-05T08:05:00','2024-03-05T08:20:00',ip='10.0.0.9',dev='Mac, Safari',ua='Mozilla/5.0 (Macintosh)',item='ScheduledMeeting,Complete')]],
  bom=True, crlf=True)
# --- dedup: the same record in two files, a conflicting copy, identical connections
a_hdr = ['CreationDate','UserId','Operation','AuditData']
D1 = aud('30000000-0000-0000-0000-000000000001','meet-d',user('u-d1','Dee One','d1@contoso.com'),'2024-03-05T13:00:00','2024-03-05T13:30:00',ip='10.1.1.1')
D2 = aud('30000000-0000-0000-0000-000000000002','meet-d',user('u-d2','Dee Two','d2@contoso.com'),'2024-03-05T13:00:00','2024-03-05T13:45:00',ip='10.1.1.2')
D3 = aud('30000000-0000-0000-0000-000000000003','meet-d',user('u-d2','Dee Two','d2@contoso.com'),'2024-03-05T13:00:00','2024-03-05T13:45:00',ip='10.1.1.2',ct='2024-03-05T13:46:00')
D2b = aud('30000000-0000-0000-0000-000000000002','meet-d',user('u-d2','Dee Two','d2@contoso.com'),'2024-03-05T13:00:00','2024-03-05T13:50:00',ip='10.1.1.2')
D4 = aud('30000000-0000-0000-0000-000000000004','meet-d',user('u-d3','Dee Three',''),'2024-03-05T13:10:00','2024-03-05T13:20:00',ip='10.1.1.3',org='other@contoso.com',okey='okey-9',item='RecurringMeeting')
write(f'{T}/dedup/a.csv', a_hdr, [['x','org@contoso.com',M,D1],['x','org@contoso.com',M,D2],['x','org@contoso.com',M,D3]])
write(f'{T}/dedup/b.csv', a_hdr, [['x','org@contoso.com',M,D4],['x','org@contoso.com',M,D2b],['x','org@contoso.com',M,D1]])
# --- reconnections: one device (flagged), two devices (not), no device twice (flagged as "?")
R = lambda i, att, j, l, **kw: ['x','org@contoso.com',M, aud(f'40000000-0000-0000-0000-00000000000{i}','meet-r',att,j,l,**kw)]
UX = user('u-x','Xavier','x@contoso.com'); UY = user('u-y','Yara','y@contoso.com'); Z = anon('Zoë Ñúñez')
write(f'{T}/reconnect.csv', a_hdr, [
  R(1, UX, '2024-03-05T14:00:00','2024-03-05T14:10:00', ip='10.2.0.1'),
  R(2, UX, '2024-03-05T14:12:00','2024-03-05T14:40:00', ip='10.2.0.2'),
  R(3, UY, '2024-03-05T14:00:00','2024-03-05T14:20:00', ip='10.2.0.3'),
  R(4, UY, '2024-03-05T14:21:00','2024-03-05T14:40:00', ip='10.2.0.4', dev='iPhone14,2; iOS 17.1'),
  R(5, Z, '2024-03-05T14:05:00','2024-03-05T14:15:00', ip='10.2.0.5', drop=('DeviceInformation',)),
  R(6, Z, '2024-03-05T14:14:00','2024-03-05T14:30:00', ip='10.2.0.5', drop=('DeviceInformation',)),
])
# --- missing fields, a non-meeting operation, a row that is not JSON
P_hdr = ['RecordId','CreationDate','RecordType','Operation','UserId','AuditData','AssociatedAdminUnits','AssociatedAdminUnitsNames']
P = lambda i, op, data: [f'5000000{i}','2024-03-05T16:00:00.0000000Z','25',op,'org@contoso.com',data,'','']
write(f'{T}/missing.csv', P_hdr, [
  P(1, M, aud('50000000-0000-0000-0000-000000000001', None, user('u-m0','Nobody','n@contoso.com'),'2024-03-05T15:00:00','2024-03-05T15:10:00', drop=('MeetingDetailId',))),
  P(2, M, aud('50000000-0000-0000-0000-000000000002','meet-m',user('u-m1','Em One','m1@contoso.com'), None,'2024-03-05T15:30:00', drop=('JoinTime',))),
  P(3, M, aud('50000000-0000-0000-0000-000000000003','meet-m',user('u-m2','Em Two','m2@contoso.com'),'2024-03-05T15:00:00', None, drop=('LeaveTime',), ct='2024-03-05T15:59:00')),
  P(4, M, aud('50000000-0000-0000-0000-000000000004','meet-m',{"RecipientType":"User","Role":"Attendee"},'2024-03-05T15:05:00','2024-03-05T15:25:00')),
  P(5, 'MemberAdded', json.dumps({"CreationTime":"2024-03-05T15:40:00","Id":"50000000-0000-0000-0000-000000000005","Operation":"MemberAdded","RecordType":25,"UserId":"org@contoso.com","Members":[{"UPN":"new@contoso.com"}]}, separators=(',',':'))),
  P(6, M, '{"Id":"50000000-0000-0000-0000-000000000006","Operation":"MeetingParticipantDetail",'),
])
# --- not exports
open(f'{T}/empty.csv','w').close()
write(f'{T}/not-audit.csv', ['name','email'], [['Bob','bob@contoso.com']])
# --- truncation audit: named windows with a gap, a record outside its window, a capped file,
# a plain file cut in the middle of a record
A = lambda i, ct, meeting='meet-a': ['x','org@contoso.com',M, aud(f'60000000-0000-0000-0000-0000000000{i:02}',meeting,user(f'u-a{i}','A','a@contoso.com'),ct,ct,ct=ct)]
write(f'{T}/../audit/UAL-20240301000000-20240301010000.csv', a_hdr, [A(1,'2024-03-01T00:50:00'), A(2,'2024-03-01T00:10:00')])
write(f'{T}/../audit/UAL-20240301030000-20240301040000.csv', a_hdr, [A(3,'2024-03-01T04:30:00'), A(4,'2024-03-01T03:05:00')])
write(f'{T}/../audit/capped.csv', a_hdr, [A(5,'2024-03-01T03:40:00'), A(6,'2024-03-01T03:20:00'), A(7,'2024-03-01T03:00:00')])
full = [A(8,'2024-03-01T00:20:00'), A(9,'2024-03-01T00:15:00')]
write(f'{T}/../audit/cut-mid-record.csv', a_hdr, full)
raw = open(f'{T}/../audit/cut-mid-record.csv','rb').read()
open(f'{T}/../audit/cut-mid-record.csv','wb').write(raw[:len(raw) - 200])

# --- compressed: multi-frame zstd, multi-member gzip, gzip named .csv, truncated streams
import gzip, subprocess
def zstd_bytes(b):
    return subprocess.run(['zstd', '-q', '-c', '-19'], input=b, capture_output=True, check=True).stdout
C = 'testdata/compressed'
os.makedirs(C, exist_ok=True)
rec = open(f'{T}/reconnect.csv', 'rb').read()
open(f'{C}/multi-frame.csv.zst', 'wb').write(zstd_bytes(rec[:len(rec) // 2]) + zstd_bytes(rec[len(rec) // 2:]))
q = open(f'{T}/quirks.csv', 'rb').read()
open(f'{C}/multi-member.csv.gz', 'wb').write(gzip.compress(q[:len(q) // 2], mtime=0) + gzip.compress(q[len(q) // 2:], mtime=0))
open(f'{C}/gzip-named.csv', 'wb').write(gzip.compress(open(f'{T}/layouts/1-old.csv', 'rb').read(), mtime=0))
s = open('testdata/sample/UAL-20240301000000-20240301060000.csv', 'rb').read()
z = zstd_bytes(s)
open(f'{C}/truncated.csv.zst', 'wb').write(z[:len(z) * 6 // 10])
g = gzip.compress(s, mtime=0)
open(f'{C}/truncated.csv.gz', 'wb').write(g[:len(g) * 6 // 10])
# --- IPv6 and ports for the IP filters; records of other workloads for `show`
V = lambda i, att, j, l, ip: ['x', 'org@contoso.com', M, aud(f'70000000-0000-0000-0000-00000000000{i}', 'meet-v', att, j, l, ip=ip)]
write(f'{T}/ipv6.csv', a_hdr, [
  V(1, user('u-v6', 'Vee Six', 'v6@contoso.com'), '2024-03-05T17:00:00', '2024-03-05T17:10:00', '[2a01:111:f400::1]:443'),
  V(2, user('u-v6', 'Vee Six', 'v6@contoso.com'), '2024-03-05T17:11:00', '2024-03-05T17:30:00', '2a01:111:f400::1'),
  V(3, user('u-v4', 'Vee Four', 'v4@contoso.com'), '2024-03-05T17:00:00', '2024-03-05T17:05:00', '52.114.1.7:51234'),
  V(4, user('u-v4', 'Vee Four', 'v4@contoso.com'), '2024-03-05T17:06:00', '2024-03-05T17:30:00', '52.114.1.7:51999'),
])
O = lambda d: ['x', d.get('UserId', ''), d['Operation'], json.dumps(d, ensure_ascii=False, separators=(',', ':'))]
write(f'{T}/other-ops.csv', a_hdr, [
  O({"CreationTime": "2024-03-06T08:00:00", "Id": "80000000-0000-0000-0000-000000000001", "Operation": "MailItemsAccessed", "RecordType": 50, "UserType": 0, "UserId": "ann@contoso.com", "ClientIP": "10.9.9.9", "Folders": [{"Path": "\\Inbox", "FolderItems": [{"Id": "m1"}, {"Id": "m2"}]}]}),
  O({"CreationTime": "2024-03-06T08:05:00", "Id": "80000000-0000-0000-0000-000000000002", "Operation": "FileDownloaded", "RecordType": 6, "UserType": 2, "UserId": "admin@contoso.com", "ClientIP": "10.9.9.10", "ObjectId": "https://contoso.sharepoint.com/a.docx"}),
  O({"CreationTime": "2024-03-06T08:06:00", "Id": "80000000-0000-0000-0000-000000000003", "Operation": "FutureThing", "RecordType": 9999, "UserType": 77, "UserId": "svc@contoso.com"}),
])
# --- bad inputs (issue "Reliability"): each file, where it is an export at all, also holds a
# good record whose attendee key is good-<case>, which must still be reported.
B = 'testdata/bad'
os.makedirs(B, exist_ok=True)
def good(case, n=1):
    # A distinct, deterministic Id per case and copy.
    rid = f'9{n:07}-0000-0000-0000-{sum(case.encode()):012}'
    return ['x', 'org@contoso.com', M, aud(rid, 'meet-bad', user(f'good-{case}', 'Good', 'good@contoso.com'), '2024-03-07T09:00:00', '2024-03-07T09:30:00')]
def raw(path, text):
    open(path, 'wb').write(text if isinstance(text, bytes) else text.encode())
open(f'{B}/empty.csv', 'wb').close()
raw(f'{B}/header-only.csv', 'CreationDate,UserIds,Operations,AuditData\r\n')
write(f'{B}/no-auditdata.csv', ['CreationDate', 'UserIds', 'Operations'], [['x', 'y', M]])
import random as _r
_g = _r.Random(6)
raw(f'{B}/garbage.csv', bytes(_g.randrange(256) for _ in range(4096)))
raw(f'{B}/pdf-renamed.csv', b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n')
# invalid UTF-8 inside a field: the record is kept with U+FFFD
bad_name = aud('91000000-0000-0000-0000-000000000001', 'meet-bad', user('u-utf8', 'NAME', 'x@contoso.com'), '2024-03-07T09:00:00', '2024-03-07T09:20:00')
head = 'CreationDate,UserIds,Operations,AuditData\n'
row = 'x,org@contoso.com,MeetingParticipantDetail,"' + bad_name.replace('"', '""') + '"\n'
raw(f'{B}/invalid-utf8.csv', head.encode() + row.encode().replace(b'NAME', b'Ren\xe9e \xff\xfe'))
# unterminated quote at the end of the file: the file is cut, the row before is kept
buf = io.StringIO(); w = csv.writer(buf, lineterminator='\n'); w.writerow(a_hdr); w.writerow(good('unterminated'))
raw(f'{B}/unterminated-quote.csv', buf.getvalue() + 'x,org@contoso.com,MeetingParticipantDetail,"{""Id"":""91000000-0000-0000-0000-000000000002"",""Attendees"":[\n')
# rows with too few and too many fields
buf = io.StringIO(); w = csv.writer(buf, lineterminator='\n'); w.writerow(a_hdr)
w.writerow(['x', 'org@contoso.com'])
w.writerow(good('fields') + ['extra', 'fields'])
raw(f'{B}/field-counts.csv', buf.getvalue())
# AuditData shapes: not JSON, a JSON array, wrong types
def shaped(i, **over):
    d = json.loads(aud(f'92000000-0000-0000-0000-00000000000{i}', 'meet-bad', user(f'u-shape{i}', 'S', 's@contoso.com'), '2024-03-07T09:00:00', '2024-03-07T09:10:00'))
    d.update(over)
    return ['x', 'org@contoso.com', M, json.dumps(d, separators=(',', ':'))]
write(f'{B}/json-shapes.csv', a_hdr, [
    ['x', 'org@contoso.com', M, 'this is not JSON'],
    ['x', 'org@contoso.com', M, '[{"Id":"92000000-0000-0000-0000-000000000000"}]'],
    shaped(1, Attendees={"RecipientType": "User", "UserObjectId": "u-object", "UPN": "o@contoso.com"}),
    shaped(2, JoinTime=1709629964),
    shaped(3, Id="not-a-uuid"),
    shaped(4, JoinTime="2024-03-07T10:00:00", LeaveTime="2024-03-07T09:00:00"),
    good('shapes'),
])
# the header row again in the middle (two exports concatenated by hand)
write(f'{B}/header-again.csv', a_hdr, [good('again', 1), a_hdr, good('again', 2)])
# NUL bytes: inside AuditData (not JSON any more: skipped) and in another column (harmless)
buf = io.StringIO(); w = csv.writer(buf, lineterminator='\n'); w.writerow(a_hdr)
w.writerow(['x', 'org\x00@contoso.com', M, aud('93000000-0000-0000-0000-000000000001', 'meet-bad', user('u-nul', 'N\x00L', 'n@contoso.com'), '2024-03-07T09:00:00', '2024-03-07T09:05:00').replace('\\u0000', '\x00')])
w.writerow(['x', 'org\x00@contoso.com', M, good('nul')[3]])
raw(f'{B}/nul-bytes.csv', buf.getvalue())
# corrupted (not just truncated) compressed streams
src = open('testdata/sample/UAL-20240301000000-20240301060000.csv', 'rb').read()
z = bytearray(zstd_bytes(src)); z[len(z) // 2:len(z) // 2 + 8] = b'\xff' * 8
raw(f'{B}/corrupt.csv.zst', bytes(z))
g = bytearray(gzip.compress(src, mtime=0)); g[len(g) // 2:len(g) // 2 + 8] = b'\x00' * 8
raw(f'{B}/corrupt.csv.gz', bytes(g))
# --- issue "Hostile inputs": standard compressors' variants, UTF-16, a row without a line end
def export_text(case):
    buf = io.StringIO(); w = csv.writer(buf, lineterminator='\r\n'); w.writerow(a_hdr); w.writerow(good(case))
    return buf.getvalue()
# PowerShell's Out-File: UTF-16LE with a byte-order mark (read), and the same without it (named)
raw(f'{B}/utf16.csv', b'\xff\xfe' + export_text('utf16').encode('utf-16-le'))
raw(f'{B}/utf16-no-bom.csv', export_text('utf16nobom').encode('utf-16-le'))
# pzstd starts with a skippable frame (magic 0x184D2A50, 4 bytes of length, the frame's size)
z = zstd_bytes(export_text('pzstd').encode())
raw(f'{B}/pzstd.csv.zst', b'\x50\x2a\x4d\x18' + (4).to_bytes(4, 'little') + len(z).to_bytes(4, 'little') + z)
# gzip padded with zero bytes after its last member, as some tools write it (gzip -t accepts it)
raw(f'{B}/padded.csv.gz', gzip.compress(export_text('padded').encode(), mtime=0) + b'\x00' * 1024)
# a small .zst that expands to 300 MB without a line end after one good row
raw(f'{B}/no-line-end.csv.zst', zstd_bytes(export_text('nolineend').encode() + b'x' * (300 << 20)))
