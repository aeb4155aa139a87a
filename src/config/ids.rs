//! Tenant and application ids, checked before they become a directory (the file checkpoint
//! store), a URL segment (the token endpoint) or a Kafka key (the kafka checkpoint store).
//!
//! Entra ID names a tenant by its directory id (a GUID) or by one of its verified domains
//! (`contoso.onmicrosoft.com`); an application by its client id (a GUID). Anything else (`..`,
//! `x/../../evil?#@`, non-ASCII text) could leave the checkpoint directory, rewrite the token URL
//! or make two tenants share one directory, so it is refused at validation, and the code that
//! builds a path, URL or key takes a [`TenantId`], which only [`TenantId::parse`] makes.

use std::fmt;

/// What a tenant id may be, for messages.
pub const TENANT_ID_RULE: &str = "write the directory (tenant) id, a GUID such as \
     72f988bf-86f1-41af-91ab-2d7cd011db47, or a verified domain such as contoso.onmicrosoft.com \
     (ASCII letters, digits, '-' and '.', at least one dot, no empty label, no label starting or \
     ending with '-')";

/// A tenant id that is a GUID or a domain name: safe as a directory name, a URL path segment
/// and a Kafka key part. Compared as written (configured ids are refused when two differ only
/// in case).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// The id, when it is a GUID or a domain name; else a message naming it and what is allowed.
    pub fn parse(text: &str) -> Result<TenantId, String> {
        if is_guid(text) || is_domain_name(text) {
            Ok(TenantId(text.to_owned()))
        } else {
            Err(format!("{text:?} is not a tenant id; {TENANT_ID_RULE}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// `8-4-4-4-12` hexadecimal digits, in either case.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.bytes().all(|byte| byte.is_ascii_hexdigit())
        })
}

/// A DNS name of at least two labels: ASCII letters, digits and '-', no label empty, longer than
/// 63 or starting or ending with '-', at most 253 characters.
pub fn is_domain_name(text: &str) -> bool {
    text.len() <= 253
        && text.contains('.')
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_guids_or_domain_names() {
        for good in [
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
            "contoso.onmicrosoft.com",
            "fabrikam.de",
            "eu-west.contoso-labs.co.uk",
        ] {
            assert_eq!(
                TenantId::parse(good).map(|id| id.to_string()),
                Ok(good.to_owned())
            );
        }
        for bad in [
            "",
            ".",
            "..",
            "t1",
            "x/../../evil?#@",
            ".contoso.com",
            "contoso.com.",
            "contoso..com",
            "-contoso.com",
            "contoso-.com",
            "contoso.com/..",
            "contoso.com%2f",
            "müller.de",
            "ｃｏｎｔｏｓｏ.com",
            "72f988bf-86f1-41af-91ab-2d7cd011db4",
            "72f988bf-86f1-41af-91ab-2d7cd011db47-",
            "{72f988bf-86f1-41af-91ab-2d7cd011db47}",
            "72f988bg-86f1-41af-91ab-2d7cd011db47",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} is refused");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(TenantId::parse(&long_label).is_err());
        assert_eq!(
            TenantId::parse("x/../../evil?#@"),
            Err(format!(
                "\"x/../../evil?#@\" is not a tenant id; {TENANT_ID_RULE}"
            ))
        );
    }
}
