//! Which fault, if any, a data request gets: scripted ones at fixed request numbers first, then
//! configured rates, drawn deterministically from the seed and the request number.

use super::config::{FaultKind, FaultSpec};
use super::rng::SimRng;

/// What the request is, so that only faults that make sense for it are injected.
#[derive(Clone, Copy, Debug)]
pub struct RequestShape {
    pub has_skiptoken: bool,
    pub is_sign_in: bool,
}

impl FaultKind {
    fn applies_to(self, shape: RequestShape) -> bool {
        match self {
            FaultKind::SkiptokenExpired => shape.has_skiptoken,
            FaultKind::Licence403 => shape.is_sign_in,
            _ => true,
        }
    }
}

/// Picks the fault of the tenant's `request_number`-th data request (1-based).
pub fn choose(
    spec: &FaultSpec,
    seed: u64,
    tenant_index: usize,
    tenant_id: &str,
    request_number: u64,
    shape: RequestShape,
) -> Option<FaultKind> {
    let scripted = spec.scripted.iter().find(|fault| {
        fault.at_request == request_number
            && fault
                .tenant
                .as_deref()
                .is_none_or(|tenant| tenant == tenant_id)
    });
    if let Some(fault) = scripted {
        return Some(fault.kind).filter(|kind| kind.applies_to(shape));
    }
    let mut rng = SimRng::new(&[seed, 0xfa, tenant_index as u64, request_number]);
    for rate in &spec.rates {
        if rng.chance(rate.probability) && rate.kind.applies_to(shape) {
            return Some(rate.kind);
        }
    }
    None
}

/// The fault of the tenant's `request_number`-th token request (1-based), if one is scripted.
pub fn choose_token(spec: &FaultSpec, tenant_id: &str, request_number: u64) -> Option<FaultKind> {
    spec.token_scripted
        .iter()
        .find(|fault| {
            fault.at_request == request_number
                && fault
                    .tenant
                    .as_deref()
                    .is_none_or(|tenant| tenant == tenant_id)
        })
        .map(|fault| fault.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::{FaultRate, ScriptedFault};

    const PLAIN: RequestShape = RequestShape {
        has_skiptoken: false,
        is_sign_in: true,
    };

    #[test]
    fn scripted_faults_hit_their_request_only() {
        let spec = FaultSpec {
            scripted: vec![ScriptedFault {
                at_request: 3,
                kind: FaultKind::Http503,
                tenant: Some("8c6f3a52-2d1e-4c1b-9a57-3f0e8d2b7c41".to_owned()),
            }],
            ..FaultSpec::default()
        };
        assert_eq!(
            choose(
                &spec,
                1,
                0,
                "8c6f3a52-2d1e-4c1b-9a57-3f0e8d2b7c41",
                3,
                PLAIN
            ),
            Some(FaultKind::Http503)
        );
        assert_eq!(
            choose(
                &spec,
                1,
                0,
                "8c6f3a52-2d1e-4c1b-9a57-3f0e8d2b7c41",
                2,
                PLAIN
            ),
            None
        );
        assert_eq!(
            choose(
                &spec,
                1,
                1,
                "3d2e1f0a-9b8c-4d7e-a6f5-e4d3c2b1a090",
                3,
                PLAIN
            ),
            None
        );
    }

    #[test]
    fn rates_are_deterministic_and_respect_the_request_shape() {
        let spec = FaultSpec {
            rates: vec![
                FaultRate {
                    kind: FaultKind::SkiptokenExpired,
                    probability: 0.5,
                },
                FaultRate {
                    kind: FaultKind::Http500,
                    probability: 0.1,
                },
            ],
            ..FaultSpec::default()
        };
        let draws: Vec<Option<FaultKind>> = (1..=2000)
            .map(|request| choose(&spec, 9, 0, "t", request, PLAIN))
            .collect();
        let again: Vec<Option<FaultKind>> = (1..=2000)
            .map(|request| choose(&spec, 9, 0, "t", request, PLAIN))
            .collect();
        assert_eq!(draws, again);
        assert!(
            !draws.contains(&Some(FaultKind::SkiptokenExpired)),
            "no skip token, no expiry"
        );
        let errors = draws
            .iter()
            .filter(|fault| **fault == Some(FaultKind::Http500))
            .count();
        assert!(
            (100..300).contains(&errors),
            "{errors} of 2000 at 10% after the first rate"
        );
    }
}
