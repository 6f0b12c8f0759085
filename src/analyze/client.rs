//! What client a connection came from (SPEC 4, `clients.csv`): the full UserAgent of a record
//! (the Value of ExtraProperties' `UserAgent` entry) sorted into a documented category and an OS
//! family. Pure string rules; the record path extracts the UserAgent, the reports count.
//!
//! ## Client: the first rule that matches wins
//! Tokens match case-sensitively, as the UserAgents write them.
//!
//! | # | the UserAgent …                                                    | client            |
//! |---|--------------------------------------------------------------------|-------------------|
//! | 1 | is empty (or only spaces)                                          | `?` (platform `?` too) |
//! | 2 | has `CallSignalingAgent` but not `BotFramework` (PSTN and SIP calls come in through the call signaling agent) | Phone / PSTN |
//! | 3 | has `BotFramework` or `BotService`                                 | Bot or service    |
//! | 4 | has `TeamsRooms` or `(MTR)`, or starts with `1449/` (Teams Rooms on Android's app id) | Teams Rooms |
//! | 5 | starts with `SkypeSpaces/` or `Microsoft Teams/`, or has a `Teams/` token (at the start or after a space), and names `iPhone`, `iPad` (`iPadOS`) or `iOS` | Teams mobile (iOS) |
//! | 6 | … as 5, and names `Android`                                        | Teams mobile (Android) |
//! | 7 | … as 5, and the version after the `Teams/` token starts with `1.` (classic Teams 1.x on Electron) | Teams desktop (classic) |
//! | 8 | … as 5, and that version starts with another digit (new Teams, its WebView2 form included) | Teams desktop (new) |
//! | 9 | … as 5, and no version (a bare `SkypeSpaces/1415`)                 | Other             |
//! | 10 | starts with `Mozilla/` (Teams on the web) and has `Edg/` (`EdgA/`, `EdgiOS/` on mobiles) | Teams web (Edge) |
//! | 11 | … `Mozilla/`, has `Firefox/` (`FxiOS/` on iOS)                    | Teams web (Firefox) |
//! | 12 | … `Mozilla/`, has `Chrome/` or `CriOS/`                           | Teams web (Chrome) |
//! | 13 | … `Mozilla/`, has `Safari/` and `Version/`                        | Teams web (Safari) |
//! | 14 | … `Mozilla/`, none of those                                       | Teams web (other browser) |
//! | 15 | anything else                                                      | Other             |
//!
//! Rule 5 comes before the browser rules because classic Teams and new Teams' WebView2 write a
//! whole Chrome or Edge UserAgent with `Teams/…` at its end.
//!
//! ## Platform: the first token found wins
//!
//! | # | the UserAgent has                       | platform |
//! |---|-----------------------------------------|----------|
//! | 1 | `Windows` (`Windows NT`, `Windows 10 IoT` of Rooms) | Windows |
//! | 2 | `iPhone`, `iPad`, `iOS` (`iPadOS`, `CriOS`) | iOS — before macOS: iPad UserAgents also say `Mac OS X` |
//! | 3 | `Android`                               | Android — before Linux: Android UserAgents also say `Linux` |
//! | 4 | `CrOS`                                  | ChromeOS — before Linux: ChromeOS ones also say `X11` |
//! | 5 | `Macintosh`, `Mac OS X`, `macOS`        | macOS    |
//! | 6 | `Linux`, `X11`                          | Linux    |
//! | 7 | none of those                           | `?`      |
//!
//! ## Kept as text
//! Records keep the whole UserAgent, and these rules run when the reports are written: a change
//! to them changes the next run's clients.csv without reading any export again (a `--state`
//! cache holds the UserAgents).

/// A client category. The order is the reports' order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[repr(u8)]
pub enum Client {
    TeamsDesktopClassic = 0,
    TeamsDesktopNew = 1,
    WebEdge = 2,
    WebChrome = 3,
    WebFirefox = 4,
    WebSafari = 5,
    WebOther = 6,
    MobileIos = 7,
    MobileAndroid = 8,
    Rooms = 9,
    Phone = 10,
    Bot = 11,
    Other = 12,
    /// No UserAgent at all.
    Unknown = 13,
}

impl Client {
    /// Every client.
    pub const ALL: [Client; 14] = [
        Client::TeamsDesktopClassic,
        Client::TeamsDesktopNew,
        Client::WebEdge,
        Client::WebChrome,
        Client::WebFirefox,
        Client::WebSafari,
        Client::WebOther,
        Client::MobileIos,
        Client::MobileAndroid,
        Client::Rooms,
        Client::Phone,
        Client::Bot,
        Client::Other,
        Client::Unknown,
    ];

    /// The CSV value: short and stable, reports and scripts key on it.
    pub fn label(self) -> &'static str {
        match self {
            Client::TeamsDesktopClassic => "Teams desktop (classic)",
            Client::TeamsDesktopNew => "Teams desktop (new)",
            Client::WebEdge => "Teams web (Edge)",
            Client::WebChrome => "Teams web (Chrome)",
            Client::WebFirefox => "Teams web (Firefox)",
            Client::WebSafari => "Teams web (Safari)",
            Client::WebOther => "Teams web (other browser)",
            Client::MobileIos => "Teams mobile (iOS)",
            Client::MobileAndroid => "Teams mobile (Android)",
            Client::Rooms => "Teams Rooms",
            Client::Phone => "Phone / PSTN",
            Client::Bot => "Bot or service",
            Client::Other => "Other",
            Client::Unknown => "?",
        }
    }
}

/// An OS family.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[repr(u8)]
pub enum Platform {
    Windows = 0,
    MacOs = 1,
    Linux = 2,
    ChromeOs = 3,
    Ios = 4,
    Android = 5,
    /// No UserAgent, or one that names no OS.
    Unknown = 6,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Platform; 7] = [
        Platform::Windows,
        Platform::MacOs,
        Platform::Linux,
        Platform::ChromeOs,
        Platform::Ios,
        Platform::Android,
        Platform::Unknown,
    ];

    /// The CSV value.
    pub fn label(self) -> &'static str {
        match self {
            Platform::Windows => "Windows",
            Platform::MacOs => "macOS",
            Platform::Linux => "Linux",
            Platform::ChromeOs => "ChromeOS",
            Platform::Ios => "iOS",
            Platform::Android => "Android",
            Platform::Unknown => "?",
        }
    }
}

/// The client and platform of a full UserAgent (the rules in the module doc).
pub fn classify(user_agent: &str) -> (Client, Platform) {
    let ua = user_agent.trim();
    if ua.is_empty() {
        return (Client::Unknown, Platform::Unknown);
    }
    (client(ua), platform(ua))
}

fn client(ua: &str) -> Client {
    let has = |token: &str| ua.contains(token);
    if has("CallSignalingAgent") && !has("BotFramework") {
        return Client::Phone;
    }
    if has("BotFramework") || has("BotService") {
        return Client::Bot;
    }
    if has("TeamsRooms") || has("(MTR)") || ua.starts_with("1449/") {
        return Client::Rooms;
    }
    let version = teams_version(ua);
    if ua.starts_with("SkypeSpaces/") || ua.starts_with("Microsoft Teams/") || version.is_some() {
        // `iPad` also finds `iPadOS`.
        if has("iPhone") || has("iPad") || has("iOS") {
            return Client::MobileIos;
        }
        if has("Android") {
            return Client::MobileAndroid;
        }
        return match version {
            Some(v) if v.starts_with("1.") => Client::TeamsDesktopClassic,
            Some(v) if v.starts_with(|c: char| c.is_ascii_digit()) => Client::TeamsDesktopNew,
            _ => Client::Other,
        };
    }
    if ua.starts_with("Mozilla/") {
        return if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
            Client::WebEdge
        } else if has("Firefox/") || has("FxiOS/") {
            Client::WebFirefox
        } else if has("Chrome/") || has("CriOS/") {
            Client::WebChrome
        } else if has("Safari/") && has("Version/") {
            Client::WebSafari
        } else {
            Client::WebOther
        };
    }
    Client::Other
}

/// The version after the first `Teams/` token (at the start or after a space), up to the next
/// space, `;`, `(` or `)`. `MicrosoftTeams/` or `TeamsRooms/` are not the token.
fn teams_version(ua: &str) -> Option<&str> {
    let (at, _) = ua
        .match_indices("Teams/")
        .find(|&(at, _)| at == 0 || ua.as_bytes().get(at - 1) == Some(&b' '))?;
    let rest = ua.get(at + "Teams/".len()..)?;
    let end = rest.find([' ', ';', '(', ')']).unwrap_or(rest.len());
    rest.get(..end)
}

fn platform(ua: &str) -> Platform {
    let any = |tokens: &[&str]| tokens.iter().any(|t| ua.contains(t));
    if any(&["Windows"]) {
        Platform::Windows
    } else if any(&["iPhone", "iPad", "iOS"]) {
        Platform::Ios
    } else if any(&["Android"]) {
        Platform::Android
    } else if any(&["CrOS"]) {
        Platform::ChromeOs
    } else if any(&["Macintosh", "Mac OS X", "macOS"]) {
        Platform::MacOs
    } else if any(&["Linux", "X11"]) {
        Platform::Linux
    } else {
        Platform::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::Client::*;
    use super::*;

    const WIN_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.291 Safari/537.36";

    #[test]
    fn every_documented_example() {
        let classic_win = format!("{WIN_CHROME} Teams/1.6.00.1381");
        let webview2 = format!("{WIN_CHROME} Edg/120.0.2210.91 Teams/24033.811.2738.2546");
        let cases: &[(&str, Client, Platform)] = &[
            ("", Unknown, Platform::Unknown),
            ("   ", Unknown, Platform::Unknown),
            // Phone, bots, rooms.
            ("CallSignalingAgent (45)", Phone, Platform::Unknown),
            ("CallSignalingAgent BotFramework/1.0", Bot, Platform::Unknown),
            ("2.1.0.0 (BotService)", Bot, Platform::Unknown),
            ("BotFramework-DotNet/4.0 (Windows 10)", Bot, Platform::Windows),
            ("4.19.43.0 (MTR)", Rooms, Platform::Unknown),
            (
                "Microsoft Teams/24033.811.2738.2546 (TeamsRooms; Windows 10 IoT)",
                Rooms,
                Platform::Windows,
            ),
            ("1449/1.0.96.2023120601/0708/Android/12", Rooms, Platform::Android),
            // Teams mobile.
            ("SkypeSpaces/1415/24010.1.0.2401/iOS/17.1", MobileIos, Platform::Ios),
            ("SkypeSpaces/1415/6.2.1/ (iPhone14,2; iOS 17.1)", MobileIos, Platform::Ios),
            ("SkypeSpaces/1415/23113.1.0/iPadOS", MobileIos, Platform::Ios),
            ("SkypeSpaces/1416/1.0.0.2024010803/Android/14", MobileAndroid, Platform::Android),
            (
                "Microsoft Teams/1416/1.0.0.2024010803 (Android 14; SM-G991B)",
                MobileAndroid,
                Platform::Android,
            ),
            // Teams desktop, classic and new.
            (&classic_win, TeamsDesktopClassic, Platform::Windows),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Teams/1.6.00.33567 Chrome/114.0.5735.289 Electron/25.9.8 Safari/537.36",
                TeamsDesktopClassic,
                Platform::MacOs,
            ),
            ("Teams/1.6.00.4472", TeamsDesktopClassic, Platform::Unknown),
            ("Microsoft Teams/24033.811.2738.2546 (Windows 11; x64)", TeamsDesktopNew, Platform::Windows),
            (
                "Microsoft Teams/24004.1403.2634.2418 (Windows 10.0.22631; x64)",
                TeamsDesktopNew,
                Platform::Windows,
            ),
            ("Microsoft Teams/24033.811.2738.2546 (macOS 14.2.1; arm64)", TeamsDesktopNew, Platform::MacOs),
            (&webview2, TeamsDesktopNew, Platform::Windows),
            ("SkypeSpaces/1415", Other, Platform::Unknown),
            ("SkypeSpaces/1415/1.0/Windows", Other, Platform::Windows),
            ("Microsoft Teams/ (Windows 11)", Other, Platform::Windows),
            // Teams on the web.
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                WebEdge,
                Platform::Windows,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 EdgA/120.0.2210.115",
                WebEdge,
                Platform::Android,
            ),
            (WIN_CHROME, WebChrome, Platform::Windows),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                WebChrome,
                Platform::ChromeOs,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                WebChrome,
                Platform::Linux,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
                WebChrome,
                Platform::Ios,
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                WebFirefox,
                Platform::Linux,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
                WebFirefox,
                Platform::Windows,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
                WebSafari,
                Platform::MacOs,
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
                WebSafari,
                Platform::Ios,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
                WebOther,
                Platform::Ios,
            ),
            ("Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)", WebOther, Platform::Windows),
            // Anything else.
            ("curl/8.4.0", Other, Platform::Unknown),
            ("MicrosoftTeams/1.0 (Linux)", Other, Platform::Linux),
        ];
        for &(ua, client, platform) in cases {
            assert_eq!(classify(ua), (client, platform), "{ua:?}");
        }
    }

    #[test]
    fn every_variant_has_its_own_label() {
        let clients: std::collections::HashSet<_> = Client::ALL.map(Client::label).into();
        let platforms: std::collections::HashSet<_> = Platform::ALL.map(Platform::label).into();
        assert_eq!((clients.len(), platforms.len()), (Client::ALL.len(), Platform::ALL.len()));
        assert_eq!((Client::Unknown.label(), Platform::Unknown.label()), ("?", "?"));
    }

    proptest::proptest! {
        #[test]
        fn classify_never_panics(ua in "\\PC{0,200}") {
            let (c, p) = classify(&ua);
            proptest::prop_assert!(Client::ALL.contains(&c) && Platform::ALL.contains(&p));
        }

        /// Around the tokens the rules look for, where slicing near a boundary could go wrong.
        #[test]
        fn classify_never_panics_near_tokens(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "Teams/", " Teams/", "1.", "24033", "Mozilla/", "SkypeSpaces/", "Microsoft Teams/",
                    "é", " ", ";", ")", "(", "iOS", "Android", "Edg/", "Version/", "Safari/", "1449/",
                ]),
                0..12,
            ),
        ) {
            let _ = classify(&parts.concat());
        }
    }
}
