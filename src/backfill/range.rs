//! What a backfill may read: `--since`/`--until` as times, Graph's retention per stream and
//! licence, and the part of the range the live stream already covers. Pure: no I/O.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::stream::StreamKind;

/// The tenant's Entra ID licence, which sets how long Graph keeps its logs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Licence {
    /// Entra ID P1 or P2: 30 days of every log (sign-ins need it).
    Premium,
    /// Entra ID Free: 7 days of directory audits and provisioning, no sign-ins.
    Free,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A backfill's first window must be read while Graph still holds it: the earliest `--since`
/// accepted is this much after the retention limit.
pub const RETENTION_MARGIN: Duration = Duration::from_secs(3600);

/// How long Graph keeps `stream` on a tenant with `licence`; `None` when it does not serve it.
pub fn retention(stream: StreamKind, licence: Licence) -> Option<Duration> {
    match licence {
        Licence::Premium => Some(30 * DAY),
        Licence::Free if stream.is_sign_in() => None,
        Licence::Free => Some(7 * DAY),
    }
}

fn licence_name(licence: Licence) -> &'static str {
    match licence {
        Licence::Premium => "Entra ID P1/P2",
        Licence::Free => "Entra ID Free",
    }
}

/// `--since`/`--until`: an RFC 3339 time in UTC (`2026-01-05T12:00:00Z`), `now`, or a duration
/// before `now` (`7d`, `36h`, `90m`).
pub fn parse_time(flag: &str, text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(time) = Timestamp::parse_rfc3339(text) {
        return Ok(time);
    }
    match humantime::parse_duration(text) {
        Ok(ago) => Ok(now.saturating_sub(ago)),
        Err(_) => Err(format!(
            "{flag} `{text}` is neither an RFC 3339 time in UTC (2026-01-05T12:00:00Z) nor a duration \
             before now (7d, 36h, 90m)"
        )),
    }
}

/// Refuses `[since, until]` when it is empty or reaches before Graph's retention of `stream`.
pub fn check_range(
    stream: StreamKind,
    licence: Licence,
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
) -> Result<(), String> {
    if since >= until {
        return Err(format!(
            "--since {} is not before --until {}: the range is empty; fix: give an earlier --since or a later --until",
            since.to_rfc3339_seconds(),
            until.to_rfc3339_seconds()
        ));
    }
    if until > now {
        return Err(format!(
            "--until {} is in the future (now is {}); fix: leave --until out to backfill up to the live stream",
            until.to_rfc3339_seconds(),
            now.to_rfc3339_seconds()
        ));
    }
    let Some(kept) = retention(stream, licence) else {
        return Err(format!(
            "stream {stream}: Graph keeps no sign-ins of a tenant on {} (they need Entra ID P1 or P2); fix: \
             backfill directory_audits and provisioning only, or pass --licence premium for a licensed tenant",
            licence_name(licence)
        ));
    };
    let limit = now.saturating_sub(kept);
    let earliest = limit.saturating_add(RETENTION_MARGIN).floor_to_second();
    if since < earliest {
        return Err(format!(
            "stream {stream}: --since {} is beyond Graph's retention: it keeps {} days on {} (back to {}), and \
             refuses an older start; fix: --since {} or later (an hour inside the retention, so that the first \
             windows are read before they leave it)",
            since.to_rfc3339_seconds(),
            kept.as_secs() / DAY.as_secs(),
            licence_name(licence),
            limit.to_rfc3339_seconds(),
            earliest.to_rfc3339_seconds()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-05T12:00:00Z.
    const NOW: Timestamp = Timestamp::from_secs(1_767_614_400);

    #[test]
    fn times_are_rfc3339_now_or_a_duration_ago() {
        assert_eq!(parse_time("--since", "now", NOW), Ok(NOW));
        assert_eq!(
            parse_time("--since", "2026-01-04T12:00:00Z", NOW),
            Ok(NOW.saturating_sub(DAY))
        );
        assert_eq!(
            parse_time("--since", "7d", NOW),
            Ok(NOW.saturating_sub(7 * DAY))
        );
        assert_eq!(
            parse_time("--since", "36h", NOW),
            Ok(NOW.saturating_sub(Duration::from_secs(36 * 3600)))
        );
        assert_eq!(
            parse_time("--until", "yesterday", NOW),
            Err(
                "--until `yesterday` is neither an RFC 3339 time in UTC (2026-01-05T12:00:00Z) nor a \
                 duration before now (7d, 36h, 90m)"
                    .to_owned()
            )
        );
    }

    #[test]
    fn ranges_beyond_retention_or_empty_are_refused_with_the_earliest_start() {
        let since = NOW.saturating_sub(31 * DAY);
        assert_eq!(
            check_range(StreamKind::SignInsInteractive, Licence::Premium, since, NOW, NOW),
            Err(
                "stream sign_ins_interactive: --since 2025-12-05T12:00:00Z is beyond Graph's retention: it \
                 keeps 30 days on Entra ID P1/P2 (back to 2025-12-06T12:00:00Z), and refuses an older start; \
                 fix: --since 2025-12-06T13:00:00Z or later (an hour inside the retention, so that the first \
                 windows are read before they leave it)"
                    .to_owned()
            )
        );
        let eight_days = NOW.saturating_sub(8 * DAY);
        assert!(
            check_range(
                StreamKind::DirectoryAudits,
                Licence::Premium,
                eight_days,
                NOW,
                NOW
            )
            .is_ok()
        );
        let free = check_range(
            StreamKind::DirectoryAudits,
            Licence::Free,
            eight_days,
            NOW,
            NOW,
        )
        .expect_err("beyond 7 days");
        assert!(
            free.contains("keeps 7 days on Entra ID Free (back to 2025-12-29T12:00:00Z)"),
            "{free}"
        );
        assert!(
            check_range(StreamKind::SignInsInteractive, Licence::Free, NOW, NOW, NOW)
                .expect_err("empty")
                .starts_with(
                    "--since 2026-01-05T12:00:00Z is not before --until 2026-01-05T12:00:00Z"
                )
        );
        assert!(
            check_range(
                StreamKind::SignInsInteractive,
                Licence::Free,
                eight_days,
                NOW,
                NOW
            )
            .expect_err("no sign-ins on Free")
            .contains("Graph keeps no sign-ins of a tenant on Entra ID Free")
        );
    }
}
