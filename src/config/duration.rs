//! Durations in configuration files, written the way people say them: `30s`, `5m`, `2h`, `1d`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Parses `30s`, `5m`, `1h 30m`, `500ms`; a bare number is refused so that units are never guessed.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|error| {
        format!("invalid duration `{text}` ({error}); write it with a unit, for example `30s`, `5m` or `2h`")
    })
}

/// Formats in the largest unit that divides the duration exactly: `45d`, `90m`, `1500ms`.
pub fn format(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    for (unit_millis, suffix) in [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ] {
        if millis.is_multiple_of(unit_millis) {
            return format!("{}{suffix}", millis / unit_millis);
        }
    }
    format!("{millis}ms")
}

pub fn deserialize<'de, D>(deserializer: D) -> Result<Duration, D::Error>
where
    D: Deserializer<'de>,
{
    let text = DurationText::deserialize(deserializer)?;
    parse(&text.0).map_err(serde::de::Error::custom)
}

pub fn serialize<S>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
{
    serializer.serialize_str(&format(*duration))
}

/// Accepts only strings; a number gets a message that asks for a unit.
struct DurationText(String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
    where
        D: Deserializer<'de>,
    {
        struct TextVisitor;
        impl serde::de::Visitor<'_> for TextVisitor {
            type Value = DurationText;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a duration with a unit, for example `30s`, `5m` or `2h`")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<DurationText, E> {
                Ok(DurationText(value.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "invalid duration `{value}`: a unit is required, for example `{value}s`"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "invalid duration `{value}`: a unit is required, for example `{value}s`"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "invalid duration `{value}`: a unit is required, for example `30s`"
                )))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// The same for `Option<Duration>`.
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D>(deserializer: D) -> Result<Option<Duration>, D::Error>
    where
        D: Deserializer<'de>,
    {
        #[derive(Deserialize)]
        struct Wrapper(#[serde(deserialize_with = "super::deserialize")] Duration);
        Ok(Option::<Wrapper>::deserialize(deserializer)?.map(|Wrapper(duration)| duration))
    }

    pub fn serialize<S>(duration: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        match duration {
            Some(duration) => super::serialize(duration, serializer),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse("30").unwrap_err().contains("write it with a unit"));
        assert_eq!(format(Duration::from_secs(7200)), "2h");
        assert_eq!(format(Duration::from_secs(45 * 86400)), "45d");
        assert_eq!(format(Duration::from_secs(90 * 60)), "90m");
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(
            parse(&format(Duration::from_secs(45 * 86400))),
            Ok(Duration::from_secs(45 * 86400))
        );
    }
}
