//! The one way upstream text reaches a message: an error code or message field from a token
//! endpoint, a managed-identity endpoint or Graph goes through [`redact`] before it is put into
//! an error, and from there into logs, `/readyz` and `check`'s output. Bodies themselves are
//! never copied.
//!
//! A hostile or broken endpoint may echo what it was sent: the client secret (as sent, or
//! form-encoded), a client assertion, the bearer token. So the secrets the caller knows are
//! removed wherever they appear, and so is anything shaped like one: a JWT (`eyJ…`, which every
//! access token and assertion is), the value after `client_secret=`, `client_assertion=`,
//! `assertion=`, `access_token`, `refresh_token`, `password`, and after `Bearer` or `Basic`.
//! Control characters become spaces (no forged log lines), and the result is cut to
//! [`MESSAGE_CHARS`].

use std::sync::LazyLock;

use regex::Regex;

/// The longest piece of upstream text kept in a message, in characters.
pub const MESSAGE_CHARS: usize = 200;

/// What replaces a secret.
const REDACTED: &str = "[redacted]";

struct Patterns {
    /// A JWT or JWS: base64url of `{"` is `eyJ`.
    token: Regex,
    /// A credential's name, its separator (form, JSON or escaped JSON) and its value.
    named: Regex,
    /// An authorization scheme and its credentials.
    scheme: Regex,
}

static PATTERNS: LazyLock<Option<Patterns>> = LazyLock::new(|| {
    Some(Patterns {
        token: Regex::new(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)*").ok()?,
        named: Regex::new(
            r#"(?i)\b(client_secret|client_assertion|assertion|access_token|refresh_token|id_token|password)(\\?"?\s*[=:]\s*\\?"?)([^\s&"'\\,;(){}\[\]]+)"#,
        )
        .ok()?,
        scheme: Regex::new(r"(?i)\b(bearer|basic)(?:\s+|%20|\+)[A-Za-z0-9._~+/%-]+=*").ok()?,
    })
});

/// `text` from an upstream, safe to put into a message: `secrets` (the values the caller sent:
/// the client secret, the bearer token) and anything shaped like a secret redacted, control
/// characters replaced by spaces, at most [`MESSAGE_CHARS`] characters (`…` marks a cut).
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let Some(patterns) = PATTERNS.as_ref() else {
        // the patterns are constants that compile (a test says so); never pass text unchecked
        return REDACTED.to_owned();
    };
    let mut clean = text.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        let form_encoded: String =
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let json_escaped = serde_json::to_string(secret).unwrap_or_default();
        let json_escaped = json_escaped.trim_matches('"');
        for spelling in [*secret, form_encoded.as_str(), json_escaped] {
            if !spelling.is_empty() {
                clean = clean.replace(spelling, REDACTED);
            }
        }
    }
    let clean = patterns.token.replace_all(&clean, "[redacted token]");
    let clean = patterns.named.replace_all(&clean, "${1}${2}[redacted]");
    let clean = patterns.scheme.replace_all(&clean, "${1} [redacted]");
    let mut kept: String = clean
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .take(MESSAGE_CHARS + 1)
        .collect();
    if kept.chars().count() > MESSAGE_CHARS {
        kept = kept.chars().take(MESSAGE_CHARS - 1).collect();
        kept.push('…');
    }
    kept.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Xy7~Q.s3cr3t_v4lue-with~tilde";
    const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwcyJ9.c2lnbmF0dXJl";

    #[test]
    fn the_patterns_compile() {
        assert!(PATTERNS.is_some());
    }

    #[test]
    fn configured_secrets_are_redacted_as_sent_and_as_encoded() {
        let form = format!(
            "grant_type=client_credentials&client_id=abc&secret={}&scope=x",
            url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect::<String>()
        );
        assert_eq!(
            redact(&form, &[SECRET]),
            "grant_type=client_credentials&client_id=abc&secret=[redacted]&scope=x"
        );
        assert_eq!(
            redact(&format!("the secret {SECRET} is wrong"), &[SECRET]),
            "the secret [redacted] is wrong"
        );
    }

    #[test]
    fn tokens_assertions_and_named_values_are_redacted_without_knowing_them() {
        assert_eq!(
            redact(&format!("Access token {TOKEN} has expired."), &[]),
            "Access token [redacted token] has expired."
        );
        assert_eq!(
            redact(
                "client_secret=hunter2&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=abc.def",
                &[]
            ),
            "client_secret=[redacted]&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=[redacted]"
        );
        assert_eq!(
            redact(r#"{"assertion":"abc.def","password": "pw"}"#, &[]),
            r#"{"assertion":"[redacted]","password": "[redacted]"}"#
        );
        assert_eq!(
            redact(r#"echo: {\"access_token\":\"opaque\"}"#, &[]),
            r#"echo: {\"access_token\":\"[redacted]\"}"#
        );
        assert_eq!(
            redact(
                "Authorization: Bearer opaque-token.value== and Basic dXNlcjpwYXNz",
                &[]
            ),
            "Authorization: Bearer [redacted] and Basic [redacted]"
        );
        assert_eq!(
            redact(&format!("authorization: bearer {TOKEN}"), &[]),
            "authorization: bearer [redacted token]"
        );
    }

    #[test]
    fn messages_stay_on_one_line_and_short() {
        assert_eq!(
            redact(
                "AADSTS7000215: Invalid client secret provided.\r\nforged line",
                &[]
            ),
            "AADSTS7000215: Invalid client secret provided.  forged line"
        );
        let long = "é".repeat(500);
        let kept = redact(&long, &[]);
        assert_eq!(kept.chars().count(), MESSAGE_CHARS);
        assert!(kept.ends_with('…'));
        // a secret cut in half by the limit is redacted before the cut
        let text = format!("{}{SECRET}", "x".repeat(190));
        assert_eq!(
            redact(&text, &[SECRET]),
            format!("{}[redacted]", "x".repeat(190))
        );
    }

    #[test]
    fn ordinary_messages_pass_unchanged() {
        for message in [
            "Insufficient privileges to complete the operation.",
            "Neither tenant is B2C or tenant doesn't have premium license",
            "AADSTS700027: Client assertion failed signature validation.",
            "Invalid client secret provided (assertion: ); the request was refused",
            "Invalid filter clause",
        ] {
            assert_eq!(redact(message, &[]), message);
        }
    }
}
