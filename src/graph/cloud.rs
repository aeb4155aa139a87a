//! The hosts of each Microsoft cloud. Tokens from one cloud are not valid in another, so the login
//! host, the Graph host and the token scope always come from the same row.

use crate::config::{Cloud, Endpoints, TenantId};

/// Where a tenant's tokens and data come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudEndpoints {
    /// Base URL of the identity platform, without a trailing slash.
    pub login_base: String,
    /// Base URL of Graph, without a trailing slash.
    pub graph_base: String,
    /// The Graph resource the token is for; the scope is `{resource}/.default`.
    pub graph_resource: String,
}

impl CloudEndpoints {
    /// The cloud's hosts (learn.microsoft.com, "National cloud deployments"), with overrides.
    pub fn resolve(cloud: Cloud, overrides: Option<&Endpoints>) -> Self {
        let (login, graph) = match cloud {
            Cloud::Global => (
                "https://login.microsoftonline.com",
                "https://graph.microsoft.com",
            ),
            Cloud::UsGov => (
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us",
            ),
            Cloud::UsGovDod => (
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us",
            ),
            Cloud::China => (
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn",
            ),
        };
        let login_base = overrides
            .and_then(|endpoints| endpoints.login.as_deref())
            .unwrap_or(login)
            .trim_end_matches('/')
            .to_owned();
        let graph_base = overrides
            .and_then(|endpoints| endpoints.graph.as_deref())
            .unwrap_or(graph)
            .trim_end_matches('/')
            .to_owned();
        CloudEndpoints {
            login_base,
            graph_base,
            // a proxy or simulator in front of Graph does not change whose token is needed
            graph_resource: graph.to_owned(),
        }
    }

    pub fn scope(&self) -> String {
        format!("{}/.default", self.graph_resource)
    }

    /// A validated id is a GUID or a domain name: one path segment, nothing to escape.
    pub fn token_url(&self, tenant_id: &TenantId) -> String {
        format!("{}/{tenant_id}/oauth2/v2.0/token", self.login_base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_has_matching_login_graph_and_scope() {
        let tenant = TenantId::parse("contoso.partner.onmschina.cn").expect("a domain");
        let dod = CloudEndpoints::resolve(Cloud::UsGovDod, None);
        assert_eq!(dod.login_base, "https://login.microsoftonline.us");
        assert_eq!(dod.graph_base, "https://dod-graph.microsoft.us");
        assert_eq!(dod.scope(), "https://dod-graph.microsoft.us/.default");
        let china = CloudEndpoints::resolve(Cloud::China, None);
        assert_eq!(
            china.token_url(&tenant),
            "https://login.chinacloudapi.cn/contoso.partner.onmschina.cn/oauth2/v2.0/token"
        );
        assert_eq!(
            china.scope(),
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        let proxied = CloudEndpoints::resolve(
            Cloud::Global,
            Some(&Endpoints {
                login: Some("http://127.0.0.1:8080/".to_owned()),
                graph: Some("http://127.0.0.1:8080".to_owned()),
            }),
        );
        assert_eq!(
            proxied.token_url(&tenant),
            "http://127.0.0.1:8080/contoso.partner.onmschina.cn/oauth2/v2.0/token"
        );
        assert_eq!(proxied.scope(), "https://graph.microsoft.com/.default");
    }
}
