//! Where the drops are (SPEC 4): networks.csv, clients.csv and timeline.csv against a small
//! hand-built archive whose every count is worked out below, the building file's longest-prefix
//! rule, and the time zone of the timeline.

use std::collections::HashMap;

use crate::util::*;

/// A CSV report's rows, each by column name.
fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| header.iter().map(String::from).zip(r.unwrap().iter().map(String::from)).collect())
        .collect()
}

/// Asserts a report's text, showing both in full when they differ.
#[track_caller]
fn assert_report_text(t: &TestDir, name: &str, expected: &str) {
    assert_text(name, expected, &t.read(name));
}

const WIN_CLASSIC: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                           (KHTML, like Gecko) Chrome/120.0.6099.291 Safari/537.36 Teams/1.6.00.1381";
const MAC_CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const IOS_APP: &str = "SkypeSpaces/1415/24010.1.0.2401/iOS/17.1";
const NEW_TEAMS: &str = "Microsoft Teams/24033.811.2738.2546 (Windows 11; x64)";

/// One connection of one attendee, as an audit record.
struct Conn<'a> {
    meeting: &'a str,
    attendee: &'a str,
    device: Option<&'a str>,
    agent: &'a str,
    ip: &'a str,
    join: &'a str,
    leave: Option<&'a str>,
}

/// A Purview export (the four-column layout) holding one record per connection.
fn export(conns: &[Conn<'_>]) -> String {
    let mut csv = String::from("CreationDate,UserIds,Operations,AuditData\n");
    for (n, c) in conns.iter().enumerate() {
        let mut data = serde_json::json!({
            "CreationTime": c.join, "Id": format!("7e000000-0000-0000-0000-{n:012}"),
            "Operation": "MeetingParticipantDetail", "OrganizationId": "tenant",
            "RecordType": 25, "UserKey": "org-key", "UserType": 0, "Version": 1,
            "Workload": "MicrosoftTeams", "ClientIP": c.ip, "UserId": "org@contoso.com",
            "Attendees": [{"RecipientType": "User", "UserObjectId": c.attendee,
                           "DisplayName": c.attendee, "OrganizationId": "tenant"}],
            "ExtraProperties": [{"Key": "UserAgent", "Value": c.agent}],
            "JoinTime": c.join, "MeetingDetailId": c.meeting, "ItemName": "ScheduledMeeting",
        });
        if let Some(leave) = c.leave {
            data["LeaveTime"] = leave.into();
        }
        if let Some(device) = c.device {
            data["DeviceInformation"] = device.into();
        }
        let field = data.to_string().replace('"', "\"\"");
        csv.push_str(&format!("{},org@contoso.com,MeetingParticipantDetail,\"{field}\"\n", c.join));
    }
    csv
}

/// The archive every count below is worked out from.
///
/// Meeting m1 (09:00-10:30 UTC):
/// - attendee a, device Laptop, classic Teams: 09:00-09:20 from 10.1.2.3:50000 (HQ, a /22
///   inside the campus /16), 09:21-09:40 from 10.1.9.9 (campus only), 09:45-10:30 from
///   10.1.2.4 (HQ). Two drops: HQ's (gap 60 s) and the campus's (gap 300 s).
/// - attendee b, no device, Chrome on a Mac: 09:05-09:30 and 09:31-10:00 from the IPv6 site
///   2a01:db8:1::/48 (with and without a port). One drop, gap 60 s.
/// - attendee c, iPhone app, 203.0.113.7: one connection, no drop.
/// - attendee d, two devices from 192.0.2.10: no drop.
///
/// Meeting m2 (11:00-11:50 UTC):
/// - attendee a again from HQ, 11:10-11:20.
/// - attendee e, new Teams, 198.51.100.1: 11:00 without a LeaveTime, then 11:30-11:50. One
///   drop whose gap and hour are unknown.
fn archive() -> String {
    let c = |meeting, attendee, device, agent, ip, join, leave| Conn {
        meeting,
        attendee,
        device,
        agent,
        ip,
        join,
        leave,
    };
    let laptop = Some("Laptop");
    let t = |h: &str| -> &'static str { Box::leak(format!("2024-03-05T{h}:00").into_boxed_str()) };
    export(&[
        c("m1", "a", laptop, WIN_CLASSIC, "10.1.2.3:50000", t("09:00"), Some(t("09:20"))),
        c("m1", "a", laptop, WIN_CLASSIC, "10.1.9.9", t("09:21"), Some(t("09:40"))),
        c("m1", "a", laptop, WIN_CLASSIC, "10.1.2.4", t("09:45"), Some(t("10:30"))),
        c("m1", "b", None, MAC_CHROME, "[2a01:db8:1:2::5]:443", t("09:05"), Some(t("09:30"))),
        c("m1", "b", None, MAC_CHROME, "2a01:db8:1:2::6", t("09:31"), Some(t("10:00"))),
        c("m1", "c", Some("iPhone14,2"), IOS_APP, "203.0.113.7", t("09:00"), Some(t("10:00"))),
        c("m1", "d", Some("Phone"), IOS_APP, "192.0.2.10", t("09:10"), Some(t("09:50"))),
        c("m1", "d", Some("Desk"), NEW_TEAMS, "192.0.2.10", t("09:50"), Some(t("10:20"))),
        c("m2", "a", laptop, WIN_CLASSIC, "10.1.2.3", t("11:10"), Some(t("11:20"))),
        c("m2", "e", Some("Desk"), NEW_TEAMS, "198.51.100.1", t("11:00"), None),
        c("m2", "e", Some("Desk"), NEW_TEAMS, "198.51.100.1", t("11:30"), Some(t("11:50"))),
    ])
}

/// The building file, tab-separated, with one bad line (line 3: a /40 of an IPv4 address).
const SITES_TSV: &str = "\
10.1.0.0\tHQ-Floor1\t22\tHQ\tContoso\tOffice\tEng\tSeattle\t98052\tUS\tWA\tNA\t1\t0\t0
10.1.0.0\tCampus\t16\tCampus\tContoso\tCampus\tMixed\tSeattle\t98052\tUS\tWA\tNA\t1\t0\t1
10.9.0.0\tBroken\t40\tX\tContoso\tOffice\tEng\tSeattle\t98052\tUS\tWA\tNA\t1\t0\t0
2a01:db8:1::\tTokyo-v6\t48\tTokyo\tContoso\tOffice\tSales\tTokyo\t100\tJP\t13\tAPAC\t1\t0
";

fn setup(t: &TestDir) -> (String, String) {
    let data = t.join("archive.csv");
    std::fs::write(&data, archive()).unwrap();
    let sites = t.join("sites.tsv");
    std::fs::write(&sites, SITES_TSV).unwrap();
    (data.to_string_lossy().into_owned(), sites.to_string_lossy().into_owned())
}

#[test]
fn networks_follow_the_longest_prefix_and_drops_belong_to_the_connection_that_ended() {
    let t = TestDir::new();
    let (data, sites) = setup(&t);
    let out = t.run_out("r", &["--sites", &sites, &data]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sites.tsv: line 3: "), "{stderr}");
    assert_report_text(
        &t,
        "r/networks.csv",
        "network,network_name,building,city,country,inside_corp,vpn,connections,attendees,\
         meetings,drops,drop_rate_percent,median_gap_seconds
10.1.0.0/16,Campus,Campus,Seattle,US,1,1,1,1,1,1,100.0,300
10.1.0.0/22,HQ-Floor1,HQ,Seattle,US,1,0,3,1,2,1,33.3,60
198.51.100.0/24,,,,,,,2,1,1,1,50.0,
2a01:db8:1::/48,Tokyo-v6,Tokyo,Tokyo,JP,1,,2,1,1,1,50.0,60
192.0.2.0/24,,,,,,,2,1,1,0,0.0,
203.0.113.0/24,,,,,,,1,1,1,0,0.0,
",
    );
    let summary = t.summary("r");
    let drops = &summary["drops"];
    assert_eq!(drops["drops"], 4);
    assert_eq!(drops["drops_without_leave_time"], 1);
    assert_eq!(drops["sites"]["ranges"], 3);
    assert_eq!(drops["sites"]["bad_lines"], 1);
    assert_eq!(drops["sites"]["overlapping_ranges"], 1);
    // No unmatched network has 10 connections: none is reported missing.
    assert_eq!(drops["sites"]["missing_subnets"], serde_json::json!([]));
}

#[test]
fn the_drops_per_network_add_up_to_the_reconnections() {
    let t = TestDir::new();
    let (data, sites) = setup(&t);
    for (out, extra) in [("plain", vec![]), ("sites", vec!["--sites", &sites])] {
        let mut args = extra.clone();
        args.push(&data);
        t.run_out(out, &args);
        let reconnections = csv_rows(&t.read(&format!("{out}/disconnections.csv")))
            .iter()
            .filter(|r| r["connection"].parse::<u32>().unwrap() >= 2)
            .count();
        for report in ["networks.csv", "clients.csv"] {
            let drops: u64 = csv_rows(&t.read(&format!("{out}/{report}")))
                .iter()
                .map(|r| r["drops"].parse::<u64>().unwrap())
                .sum();
            assert_eq!(drops, reconnections as u64, "{out}/{report}");
        }
        assert_eq!(reconnections, 4);
    }
}

#[test]
fn clients_are_classified_from_the_whole_user_agent_and_no_device_stays_apart() {
    let t = TestDir::new();
    let (data, _) = setup(&t);
    t.run_out("r", &[&data]);
    assert_report_text(
        &t,
        "r/clients.csv",
        "client,platform,device,connections,attendees,meetings,drops,drop_rate_percent,\
         median_gap_seconds
Teams desktop (classic),Windows,Laptop,4,1,2,2,50.0,180
Teams desktop (new),Windows,Desk,3,2,2,1,33.3,
Teams web (Chrome),macOS,?,2,1,1,1,50.0,60
Teams mobile (iOS),iOS,Phone,1,1,1,0,0.0,
Teams mobile (iOS),iOS,\"iPhone14,2\",1,1,1,0,0.0,
",
    );
    // tala's property column is untouched: the agent family, cut at the first " (".
    let attendees = csv_rows(&t.read("r/attendees.csv"));
    let b = attendees.iter().find(|r| r["attendee_key"] == "b").unwrap();
    assert_eq!(b["property"], "Mozilla/5.0");
}

#[test]
fn the_timeline_counts_joins_drops_by_leave_and_meetings_in_progress() {
    let t = TestDir::new();
    let (data, _) = setup(&t);
    t.run_out("utc", &[&data]);
    assert_report_text(
        &t,
        "utc/timeline.csv",
        "hour,connections,drops,meetings
2024-03-05T09:00,8,3,1
2024-03-05T10:00,0,0,1
2024-03-05T11:00,3,0,1
",
    );
    // The same instants in New York (EST, UTC-5) and at UTC+05:30, where hours start at :30
    // UTC: 08:30-09:30 UTC is the 14:00 hour, and meeting m1 (to 10:30) reaches into 16:00.
    t.run_out("ny", &["--tz", "America/New_York", &data]);
    assert_report_text(
        &t,
        "ny/timeline.csv",
        "hour,connections,drops,meetings
2024-03-05T04:00,8,3,1
2024-03-05T05:00,0,0,1
2024-03-05T06:00,3,0,1
",
    );
    t.run_out("in", &["--tz", "+05:30", &data]);
    assert_report_text(
        &t,
        "in/timeline.csv",
        "hour,connections,drops,meetings
2024-03-05T14:00,5,1,1
2024-03-05T15:00,3,2,1
2024-03-05T16:00,2,0,2
2024-03-05T17:00,1,0,1
",
    );
    assert_eq!(t.summary("in")["options"]["time_zone"], "UTC+05:30");
}

#[test]
fn the_hour_repeated_when_clocks_go_back_is_two_rows() {
    // New York, 2024-11-03: 01:00-02:00 happens twice, first in EDT (05:00-06:00 UTC), then in
    // EST (06:00-07:00 UTC). One attendee drops in the first and rejoins in the second.
    let t = TestDir::new();
    let data = t.join("dst.csv");
    let conn = |join, leave| Conn {
        meeting: "m-dst",
        attendee: "a",
        device: Some("Laptop"),
        agent: NEW_TEAMS,
        ip: "10.1.2.3",
        join,
        leave: Some(leave),
    };
    std::fs::write(
        &data,
        export(&[
            conn("2024-11-03T05:10:00", "2024-11-03T05:50:00"),
            conn("2024-11-03T06:10:00", "2024-11-03T06:40:00"),
        ]),
    )
    .unwrap();
    t.run_out("r", &["--tz", "America/New_York", &data.to_string_lossy()]);
    assert_report_text(
        &t,
        "r/timeline.csv",
        "hour,connections,drops,meetings
2024-11-03T01:00,1,1,1
2024-11-03T01:00,1,0,1
",
    );
}

#[test]
fn the_ip_filter_limits_what_is_counted_and_networks_prints_to_stdout() {
    let t = TestDir::new();
    let (data, sites) = setup(&t);
    let out = t.run_out("r", &["--sites", &sites, "--cidr", "10.1.0.0/16", &data]);
    assert_eq!(code(&out), 0);
    let rows = csv_rows(&t.read("r/networks.csv"));
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r["network"].as_str(), r["connections"].as_str(), r["drops"].as_str()))
        .collect();
    assert_eq!(got, [("10.1.0.0/16", "1", "1"), ("10.1.0.0/22", "3", "1")]);
    let printed = t
        .cmd()
        .args(["--networks", "--sites", &sites, "--cidr", "10.1.0.0/16", &data])
        .output()
        .unwrap();
    assert_eq!(code(&printed), 0);
    assert_eq!(String::from_utf8_lossy(&printed.stdout), t.read("r/networks.csv"));
}

#[test]
fn a_comma_separated_building_file_gives_the_same_networks() {
    let t = TestDir::new();
    let (data, tsv) = setup(&t);
    let csv = t.join("sites.csv");
    // Quoted fields, a comma inside one, CRLF line ends.
    let text = SITES_TSV
        .lines()
        .map(|l| {
            let f: Vec<String> = l.split('\t').map(|x| format!("\"{x}\"")).collect();
            f.join(",")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        .replace("\"HQ\"", "\"HQ, North\"");
    std::fs::write(&csv, text).unwrap();
    t.run_out("tsv", &["--sites", &tsv, &data]);
    t.run_out("csv", &["--sites", &csv.to_string_lossy(), &data]);
    assert_eq!(
        t.read("csv/networks.csv"),
        t.read("tsv/networks.csv").replace(",HQ,", ",\"HQ, North\",")
    );
}

#[test]
fn an_unreadable_building_file_is_refused_before_anything_is_read() {
    let t = TestDir::new();
    let (data, _) = setup(&t);
    let out = t.run_out("r", &["--sites", "no-such-sites.tsv", &data]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-sites.tsv"));
    assert!(!t.join("r").exists());
    let out = t.run_out("r", &["--tz", "Mars/Olympus", &data]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Mars/Olympus"));
    // A building file that exists but cannot be read (a directory) is fatal, before the
    // reports: the previous ones stay as they were.
    let first = t.run_out("kept", &[&data]);
    assert_eq!(code(&first), 0);
    let before = report_set(&t.join("kept"));
    std::fs::create_dir(t.join("sites-dir")).unwrap();
    let out = t.run_out("kept", &["--sites", &t.join("sites-dir").to_string_lossy(), &data]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("cannot read the building file"), "{}", stderr(&out));
    assert_eq!(report_set(&t.join("kept")), before);
}

#[test]
fn building_names_in_networks_csv_are_quoted_and_made_excel_safe() {
    let t = TestDir::new();
    let (data, _) = setup(&t);
    let sites = t.join("formula.tsv");
    std::fs::write(&sites, SITES_TSV.replace("HQ-Floor1", "=HQ,Floor1")).unwrap();
    let sites = sites.to_string_lossy().into_owned();
    t.run_out("plain", &["--sites", &sites, &data]);
    t.run_out("safe", &["--excel-safe", "--sites", &sites, &data]);
    let plain = t.read("plain/networks.csv");
    assert!(plain.contains("10.1.0.0/22,\"=HQ,Floor1\",HQ,Seattle,US,1,0,"), "{plain}");
    assert_eq!(t.read("safe/networks.csv"), plain.replace("\"=HQ,Floor1\"", "\"'=HQ,Floor1\""));
}
