//! What entrastream reads from the endpoints it talks to: the identity platform, the
//! managed-identity endpoint and Graph. None of them is trusted, the configured ones included
//! (architecture §12): every body is read with a limit on its decompressed size and a deadline
//! ([`body`]), and whatever of an error body reaches a message, a log line or a health answer
//! goes through one redaction first ([`redact`]).

pub mod body;
pub mod redact;
