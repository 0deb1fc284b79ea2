//! Ages and dates as kubectl prints them: apimachinery's `HumanDuration`
//! (about two significant figures) and Go's RFC 1123 with a numeric zone.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// `HumanDuration`: `<2m` seconds, `<10m` `XmYs`, `<3h` minutes, `<8h`
/// `XhYm`, `<48h` hours, `<8d` `XdYh`, `<2y` days, `<8y` `XyYd`, then years.
/// The rule lives once, in the API's table printer; up to 2 s in the future
/// counts as now (clock skew between machines).
pub fn human_duration(d: SignedDuration) -> String {
    nodelet_api::age::human_duration(d.as_secs())
}

/// kubectl's `translateTimestampSince`: `<unknown>` for a missing time.
pub fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".into(),
    }
}

/// Go's `time.RFC1123Z`: `Sat, 21 Nov 2026 12:00:00 +0000`.
pub fn rfc1123z(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%a, %d %b %Y %H:%M:%S %z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hd(secs: i64) -> String {
        human_duration(SignedDuration::from_secs(secs))
    }

    #[test]
    fn human_duration_table() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (59, "59s"),
            (119, "119s"),
            (120, "2m"),
            (121, "2m1s"),
            (9 * 60 + 59, "9m59s"),
            (10 * 60, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (7 * 3600 + 59 * 60, "7h59m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (49 * 3600, "2d1h"),
            (8 * 86400 - 3600, "7d23h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (8 * 365 * 86400, "8y"),
            (9 * 365 * 86400 + 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(hd(secs), want, "{secs}s");
        }
    }

    #[test]
    fn rfc1123z_like_go() {
        let t: Timestamp = "2026-11-21T12:00:05Z".parse().unwrap();
        assert_eq!(
            rfc1123z(t, &TimeZone::UTC),
            "Sat, 21 Nov 2026 12:00:05 +0000"
        );
        let tz = TimeZone::fixed(jiff::tz::offset(2));
        assert_eq!(rfc1123z(t, &tz), "Sat, 21 Nov 2026 14:00:05 +0200");
    }

    #[test]
    fn since_unknown_and_known() {
        let now: Timestamp = "2026-11-21T12:00:05Z".parse().unwrap();
        assert_eq!(since(None, now), "<unknown>");
        let t: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        assert_eq!(since(Some(t), now), "5s");
    }
}
