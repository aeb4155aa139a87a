//! The vocabulary of streams: one (tenant, log type) pair is a stream with its own cursor.
//!
//! These are identifiers only. How a stream is read from Graph lives in `graph::endpoint`, where
//! its Kafka topic goes in `kafka::routing`, how it is mapped in `schema`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A log type that entrastream reads as one stream per tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    DirectoryAudits,
    SignInsInteractive,
    SignInsNonInteractive,
    SignInsServicePrincipal,
    SignInsManagedIdentity,
    Provisioning,
}

/// The log families, one Kafka topic each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogFamily {
    SignIns,
    DirectoryAudits,
    Provisioning,
}

impl StreamKind {
    pub const ALL: [StreamKind; 6] = [
        StreamKind::DirectoryAudits,
        StreamKind::SignInsInteractive,
        StreamKind::SignInsNonInteractive,
        StreamKind::SignInsServicePrincipal,
        StreamKind::SignInsManagedIdentity,
        StreamKind::Provisioning,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            StreamKind::DirectoryAudits => "directory_audits",
            StreamKind::SignInsInteractive => "sign_ins_interactive",
            StreamKind::SignInsNonInteractive => "sign_ins_non_interactive",
            StreamKind::SignInsServicePrincipal => "sign_ins_service_principal",
            StreamKind::SignInsManagedIdentity => "sign_ins_managed_identity",
            StreamKind::Provisioning => "provisioning",
        }
    }

    pub const fn family(self) -> LogFamily {
        match self {
            StreamKind::DirectoryAudits => LogFamily::DirectoryAudits,
            StreamKind::Provisioning => LogFamily::Provisioning,
            StreamKind::SignInsInteractive
            | StreamKind::SignInsNonInteractive
            | StreamKind::SignInsServicePrincipal
            | StreamKind::SignInsManagedIdentity => LogFamily::SignIns,
        }
    }

    pub const fn is_sign_in(self) -> bool {
        matches!(self.family(), LogFamily::SignIns)
    }
}

impl fmt::Display for StreamKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for StreamKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        StreamKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = StreamKind::ALL.iter().map(|kind| kind.as_str()).collect();
                format!(
                    "unknown stream `{text}`, expected one of {}",
                    known.join(", ")
                )
            })
    }
}

impl LogFamily {
    pub const fn as_str(self) -> &'static str {
        match self {
            LogFamily::SignIns => "sign_ins",
            LogFamily::DirectoryAudits => "directory_audits",
            LogFamily::Provisioning => "provisioning",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_round_trip() {
        for kind in StreamKind::ALL {
            assert_eq!(kind.as_str().parse::<StreamKind>(), Ok(kind));
            let yaml = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(yaml, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(
            "signins".parse::<StreamKind>().unwrap_err(),
            "unknown stream `signins`, expected one of directory_audits, sign_ins_interactive, \
             sign_ins_non_interactive, sign_ins_service_principal, sign_ins_managed_identity, \
             provisioning"
        );
    }
}
