//! `--since` / `--until` (issue "Nightly runs"): the meeting reports cover the meetings first
//! joined in the window; deduplication, "first in archive order", the truncation audit and
//! the re-download list still see the whole archive.

use crate::util::{code, report_set, stderr, TestDir};

/// One connection record: Id, meeting, attendee, device and join/leave times of 2024-03-0D.
pub(crate) fn rec(
    id: u32,
    meeting: &str,
    who: &str,
    device: &str,
    join: &str,
    leave: &str,
) -> String {
    let mut r = serde_json::json!({
        "Id": format!("60000000-0000-0000-0000-{id:012}"),
        "CreationTime": join,
        "Operation": "MeetingParticipantDetail",
        "MeetingDetailId": meeting,
        "UserId": "org@contoso.com",
        "UserKey": "okey-w",
        "ItemName": "ScheduledMeeting",
        "ClientIP": "198.51.100.7",
        "DeviceInformation": device,
        "JoinTime": join,
        "LeaveTime": leave,
        "Attendees": [{"UserObjectId": who, "RecipientType": "User", "UPN": format!("{who}@contoso.com")}],
    });
    if join.is_empty() {
        if let Some(o) = r.as_object_mut() {
            o.remove("JoinTime");
            o.insert("CreationTime".into(), "2024-03-05T08:00:00".into());
        }
    }
    r.to_string()
}

pub(crate) fn export(records: &[String]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["Operation", "AuditData"]).expect("csv");
    for r in records {
        w.write_record(["MeetingParticipantDetail", r]).expect("csv");
    }
    String::from_utf8(w.into_inner().expect("csv")).expect("utf-8")
}

/// The fixture, by meeting (window: 2024-03-05 to before 2024-03-06):
/// - meet-a: first join 03-04 23:50, a second connection after midnight: spans the window's
///   start, so it is out (its first join is before --since);
/// - meet-b: joins 10:00 and 10:20 on one device (a drop), and one connection on 03-06: in,
///   with all three connections;
/// - meet-c: first join exactly at --until: out (the window ends before it);
/// - meet-d: first join exactly at --since: in;
/// - meet-e: its record's first copy (a.csv, first in archive order) joined on 03-04; a later
///   copy with the same Id in b.csv says 03-05. The first copy wins, so meet-e is out;
/// - meet-f: no join time at all: out of any window.
fn archive(t: &TestDir) {
    let a = export(&[
        rec(1, "meet-a", "u1", "Teams", "2024-03-04T23:50:00", "2024-03-04T23:59:00"),
        rec(2, "meet-a", "u2", "Teams", "2024-03-05T00:10:00", "2024-03-05T00:30:00"),
        rec(3, "meet-b", "u3", "Teams", "2024-03-05T10:00:00", "2024-03-05T10:15:00"),
        rec(4, "meet-b", "u3", "Teams", "2024-03-05T10:20:00", "2024-03-05T11:00:00"),
        rec(9, "meet-e", "u9", "Teams", "2024-03-04T12:00:00", "2024-03-04T12:30:00"),
    ]);
    let b = export(&[
        rec(5, "meet-b", "u4", "Edge", "2024-03-06T00:30:00", "2024-03-06T01:00:00"),
        rec(6, "meet-c", "u5", "Teams", "2024-03-06T00:00:00", "2024-03-06T00:20:00"),
        rec(7, "meet-d", "u6", "Teams", "2024-03-05T00:00:00", "2024-03-05T00:45:00"),
        rec(8, "meet-f", "u7", "Teams", "", "2024-03-05T09:00:00"),
        rec(9, "meet-e", "u9", "Teams", "2024-03-05T12:00:00", "2024-03-05T12:30:00"),
    ]);
    std::fs::create_dir_all(t.join("archive")).expect("mkdir");
    std::fs::write(t.join("archive/a.csv"), a).expect("write");
    std::fs::write(t.join("archive/b.csv"), b).expect("write");
}

const WINDOW: [&str; 4] = ["--since", "2024-03-05", "--until", "2024-03-06T00:00"];

#[test]
fn the_window_selects_meetings_by_first_join_and_deduplication_sees_everything() {
    let t = TestDir::new();
    archive(&t);
    let o = t.run_out("all", &["archive"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = t.run_out("win", &[&WINDOW[..], &["archive"]].concat());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_report!(
        t,
        "win",
        "organizers.csv",
        "meeting_id,organizer_email,organizer_id,organizer_organization,meeting_type,first_join,last_leave,number_attendees
meet-d,org@contoso.com,okey-w,,ScheduledMeeting,2024-03-05T00:00:00,2024-03-05T00:45:00,1
meet-b,org@contoso.com,okey-w,,ScheduledMeeting,2024-03-05T10:00:00,2024-03-06T01:00:00,2
"
    );
    // meet-b keeps its connection of the next day: the window selects meetings, not rows.
    let attendees = t.read("win/attendees.csv");
    assert_eq!(attendees.lines().count(), 1 + 4, "{attendees}");
    assert!(
        attendees.contains("meet-b,u4,u4@contoso.com,User,,2024-03-06T00:30:00"),
        "{attendees}"
    );
    assert_eq!(t.read("win/disconnections.csv").lines().count(), 1 + 2);
    // Without the window: all six meetings, meet-e at its first copy's time.
    let all = t.read("all/organizers.csv");
    assert_eq!(all.lines().count(), 1 + 6, "{all}");
    assert!(
        all.contains("meet-e,org@contoso.com,okey-w,,ScheduledMeeting,2024-03-04T12:00:00"),
        "{all}"
    );
    // The summary: the window's meetings, the whole archive's duplicates, the options.
    let (s, w) = (t.summary("all"), t.summary("win"));
    assert_eq!((s["meetings"].as_u64(), w["meetings"].as_u64()), (Some(6), Some(2)));
    assert_eq!((w["meetings_affected"].as_u64(), w["attendees"].as_u64()), (Some(1), Some(3)));
    assert_eq!(w["duplicates_dropped"], s["duplicates_dropped"]);
    assert_eq!(w["conflicting_duplicates"].as_u64(), Some(1));
    assert_eq!(w["options"]["since"], "2024-03-05T00:00:00");
    assert_eq!(w["options"]["until"], "2024-03-06T00:00:00");
    assert!(stderr(&o).contains("1 meetings affected out of 2 (50.0%)"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "meetings first joined from 2024-03-05T00:00:00 to before 2024-03-06T00:00:00: 2,"
        ),
        "{}",
        stderr(&o)
    );
    // The audit covers every file either way.
    let (all, win) = (report_set(&t.join("all")), report_set(&t.join("win")));
    for audit in ["truncation.csv", "redownload.csv", "redownload.ps1", "errors.csv"] {
        assert_eq!(all[audit], win[audit], "{audit}");
    }
}

#[test]
fn a_window_through_a_split_run_and_bad_windows() {
    let t = TestDir::new();
    archive(&t);
    let o = t.run_out("local", &[&WINDOW[..], &["archive"]].concat());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Partials do not depend on the window: map without it, finalize with it.
    let plan = t.cmd().args(["plan", "--shards", "2", "archive"]).output().expect("plan");
    std::fs::write(t.join("plan.json"), &plan.stdout).expect("plan");
    let mut partials = Vec::new();
    for shard in ["0", "1"] {
        let o = t
            .cmd()
            .args(["map", "--plan", "plan.json", "--shard", shard, "--out", "w", "-q"])
            .output()
            .expect("map");
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        partials.push(String::from_utf8(o.stdout).expect("utf-8").trim().to_string());
    }
    let o = t
        .cmd()
        .args(
            [&["finalize", "--out", "split", "-q"][..], &WINDOW, &[&partials[0], &partials[1]]]
                .concat(),
        )
        .output()
        .expect("finalize");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(report_set(&t.join("split")), report_set(&t.join("local")));
    for (args, why) in [
        (["--since", "2024-03-06", "--until", "2024-03-05"], "is not before --until"),
        (["--since", "2024-03-05", "--until", "2024-03-05T00:00:00"], "is not before --until"),
        (["--since", "yesterday", "--until", "2024-03-05"], "expected a UTC date or date-time"),
        (["--since", "2024-02-30", "--until", "2024-03-05"], "expected a UTC date or date-time"),
    ] {
        let o = t.run_out("bad", &[&args[..], &["archive"]].concat());
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
    }
}
