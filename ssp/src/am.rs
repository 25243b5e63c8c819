//! Authorization Module: which client identities may reach which mote.
//!
//! A policy is a default (deny unless configured otherwise) and a list of rules; a rule
//! allows (or denies) one client selector to reach a set of motes. A rule matches when its
//! client selector matches any of the client's names *and* its mote set contains the mote.
//! Any matching deny rule denies, whatever the allow rules and their order say (so one
//! identity can be shut out of motes a broader rule opens); else any matching allow rule
//! allows; nothing matching means the default. Revoked certificates never get here: the CAM
//! refuses them (configured CRLs). Client selectors, all taken from the validated leaf
//! certificate (see [`ClientIdentity`]):
//! - `cn:<commonName>`: the subject commonName, exact;
//! - `dns:<name>`: a subjectAltName dNSName, exact (case-insensitive);
//! - `uri:<uri>`: a subjectAltName URI, exact;
//! - `spki-sha256:<64 hex digits>`: the key itself (robust to re-issued certificates),
//!   whether it came in a certificate or as a raw public key;
//! - `rpk-sha256:<64 hex digits>`: a client that authenticated with this raw public key
//!   (RFC 7250; the SHA-256 of its DER SubjectPublicKeyInfo);
//! - `*`: any client whose chain the CAM accepted.
//!
//! A raw-key client has no chain for a CA to vouch for: only a rule naming its key
//! (`rpk-sha256:` or `spki-sha256:`) lets it in; `*`, the name selectors and the default
//! verdict never do.
//!
//! Motes are named by their configured name or their IPv6 address; `*` is every mote.

use std::net::Ipv6Addr;

use crate::cam::ClientIdentity;

/// A client selector of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSelector {
    CommonName(String),
    DnsName(String),
    Uri(String),
    SpkiSha256([u8; 32]),
    RawKeySha256([u8; 32]),
    Any,
}

impl ClientSelector {
    /// Parses `cn:`, `dns:`, `uri:`, `spki-sha256:`, `rpk-sha256:` or `*`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(ClientSelector::Any);
        }
        let (kind, value) = s.split_once(':').ok_or_else(|| {
            format!("{s:?}: expected cn:, dns:, uri:, spki-sha256:, rpk-sha256: or *")
        })?;
        if value.is_empty() {
            return Err(format!("{s:?}: empty value"));
        }
        match kind {
            "cn" => Ok(ClientSelector::CommonName(value.to_string())),
            "dns" => Ok(ClientSelector::DnsName(value.to_ascii_lowercase())),
            "uri" => Ok(ClientSelector::Uri(value.to_string())),
            "spki-sha256" | "rpk-sha256" => {
                let bytes = decode_hex(value)
                    .filter(|b| b.len() == 32)
                    .ok_or_else(|| format!("{s:?}: expected 64 hex digits"))?;
                let mut h = [0u8; 32];
                h.copy_from_slice(&bytes);
                Ok(if kind == "rpk-sha256" {
                    ClientSelector::RawKeySha256(h)
                } else {
                    ClientSelector::SpkiSha256(h)
                })
            }
            other => Err(format!(
                "{other:?}: unknown selector kind (cn, dns, uri, spki-sha256, rpk-sha256)"
            )),
        }
    }

    pub fn matches(&self, id: &ClientIdentity) -> bool {
        match self {
            ClientSelector::SpkiSha256(h) => &id.spki_sha256 == h,
            ClientSelector::RawKeySha256(h) => id.raw_public_key && &id.spki_sha256 == h,
            _ if id.raw_public_key => false,
            ClientSelector::Any => true,
            ClientSelector::CommonName(cn) => id.common_name.as_deref() == Some(cn.as_str()),
            ClientSelector::DnsName(d) => id.dns_names.iter().any(|n| n.eq_ignore_ascii_case(d)),
            ClientSelector::Uri(u) => id.uris.iter().any(|n| n == u),
        }
    }
}

pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16);
            Some((d(p[0])? << 4 | d(p[1])?) as u8)
        })
        .collect()
}

/// Which motes a rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoteSelector {
    Name(String),
    Address(Ipv6Addr),
    Any,
}

impl MoteSelector {
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        if s == "*" {
            MoteSelector::Any
        } else if let Ok(a) = s.parse::<Ipv6Addr>() {
            MoteSelector::Address(a)
        } else {
            MoteSelector::Name(s.to_string())
        }
    }

    fn matches(&self, mote: &MoteRef<'_>) -> bool {
        match self {
            MoteSelector::Any => true,
            MoteSelector::Name(n) => n == mote.name,
            MoteSelector::Address(a) => *a == mote.address,
        }
    }
}

/// The mote a client wants to reach.
#[derive(Debug, Clone, Copy)]
pub struct MoteRef<'a> {
    pub name: &'a str,
    pub address: Ipv6Addr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub verdict: Verdict,
    pub client: ClientSelector,
    pub motes: Vec<MoteSelector>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default: Verdict,
    pub rules: Vec<Rule>,
}

impl Default for Policy {
    /// Deny everything: a forgotten policy must not open every mote.
    fn default() -> Self {
        Policy {
            default: Verdict::Deny,
            rules: Vec::new(),
        }
    }
}

impl Policy {
    /// A policy that lets any validated client reach any mote.
    pub fn allow_all() -> Self {
        Policy {
            default: Verdict::Allow,
            rules: Vec::new(),
        }
    }

    pub fn decide(&self, id: &ClientIdentity, mote: &MoteRef<'_>) -> Verdict {
        let matching = |v: Verdict| {
            self.rules.iter().any(|r| {
                r.verdict == v && r.client.matches(id) && r.motes.iter().any(|m| m.matches(mote))
            })
        };
        if matching(Verdict::Deny) {
            Verdict::Deny
        } else if matching(Verdict::Allow) {
            Verdict::Allow
        } else if id.raw_public_key {
            Verdict::Deny
        } else {
            self.default
        }
    }

    /// Whether any allow rule names a raw public key: the IoTSSP then lets clients
    /// authenticate with one (and refuses every key no rule names).
    pub fn names_raw_keys(&self) -> bool {
        self.rules.iter().any(|r| {
            r.verdict == Verdict::Allow && matches!(r.client, ClientSelector::RawKeySha256(_))
        })
    }
}

/// The policy with its decision counters.
#[derive(Debug, Clone, Default)]
pub struct Am {
    policy: Policy,
    pub allowed: u64,
    pub denied: u64,
}

impl Am {
    pub fn new(policy: Policy) -> Self {
        Am {
            policy,
            allowed: 0,
            denied: 0,
        }
    }

    pub fn authorize(&mut self, id: &ClientIdentity, mote: &MoteRef<'_>) -> Verdict {
        let v = self.policy.decide(id, mote);
        match v {
            Verdict::Allow => self.allowed += 1,
            Verdict::Deny
                if id.raw_public_key && !self.policy.rules.iter().any(|r| r.client.matches(id)) =>
            {
                self.denied += 1;
                tracing::info!(client = %id, mote = mote.name, "authorization denied: no rule names this raw public key (rpk-sha256)");
            }
            Verdict::Deny => {
                self.denied += 1;
                tracing::info!(client = %id, mote = mote.name, "authorization denied");
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(cn: &str) -> ClientIdentity {
        ClientIdentity {
            common_name: Some(cn.into()),
            dns_names: vec!["Client.Example".into()],
            uris: vec![],
            spki_sha256: [7; 32],
            raw_public_key: false,
        }
    }

    #[test]
    fn rules_and_default() {
        let mote1 = MoteRef {
            name: "mote-1",
            address: "2001:db8:1::2".parse().unwrap(),
        };
        let mote2 = MoteRef {
            name: "mote-2",
            address: "2001:db8:1::3".parse().unwrap(),
        };
        let p = Policy {
            default: Verdict::Deny,
            rules: vec![
                Rule {
                    verdict: Verdict::Allow,
                    client: ClientSelector::parse("cn:alice").unwrap(),
                    motes: vec![MoteSelector::parse("mote-1")],
                },
                Rule {
                    verdict: Verdict::Allow,
                    client: ClientSelector::parse("dns:client.example").unwrap(),
                    motes: vec![MoteSelector::parse("2001:db8:1::3")],
                },
                Rule {
                    verdict: Verdict::Allow,
                    client: ClientSelector::parse(&format!("spki-sha256:{}", "08".repeat(32)))
                        .unwrap(),
                    motes: vec![MoteSelector::Any],
                },
            ],
        };
        assert_eq!(p.decide(&id("alice"), &mote1), Verdict::Allow);
        assert_eq!(p.decide(&id("bob"), &mote1), Verdict::Deny);
        assert_eq!(
            p.decide(&id("bob"), &mote2),
            Verdict::Allow,
            "SAN dNSName, case-insensitive, by address"
        );
        let mut carol = id("carol");
        carol.dns_names.clear();
        carol.spki_sha256 = [8; 32];
        assert_eq!(p.decide(&carol, &mote2), Verdict::Allow);
        assert_eq!(
            Policy::default().decide(&id("alice"), &mote1),
            Verdict::Deny
        );
        assert_eq!(Policy::allow_all().decide(&id("x"), &mote1), Verdict::Allow);
    }

    #[test]
    fn a_matching_deny_rule_wins_over_allow_rules_and_the_default() {
        let mote1 = MoteRef {
            name: "mote-1",
            address: "2001:db8:1::2".parse().unwrap(),
        };
        let mote2 = MoteRef {
            name: "mote-2",
            address: "2001:db8:1::3".parse().unwrap(),
        };
        let deny_alice = Rule {
            verdict: Verdict::Deny,
            client: ClientSelector::parse("cn:alice").unwrap(),
            motes: vec![MoteSelector::parse("mote-1")],
        };
        let allow_all = Rule {
            verdict: Verdict::Allow,
            client: ClientSelector::Any,
            motes: vec![MoteSelector::Any],
        };
        for rules in [
            vec![allow_all.clone(), deny_alice.clone()],
            vec![deny_alice.clone(), allow_all.clone()],
        ] {
            let p = Policy {
                default: Verdict::Allow,
                rules,
            };
            assert_eq!(
                p.decide(&id("alice"), &mote1),
                Verdict::Deny,
                "whatever the order"
            );
            assert_eq!(p.decide(&id("alice"), &mote2), Verdict::Allow);
            assert_eq!(p.decide(&id("bob"), &mote1), Verdict::Allow);
        }
    }

    #[test]
    fn raw_key_clients_need_a_rule_naming_their_key() {
        let mote1 = MoteRef {
            name: "mote-1",
            address: "2001:db8:1::2".parse().unwrap(),
        };
        let known = ClientIdentity::from_raw_key(b"known key");
        let stranger = ClientIdentity::from_raw_key(b"stranger");
        let p = Policy {
            default: Verdict::Allow,
            rules: vec![
                Rule {
                    verdict: Verdict::Allow,
                    client: ClientSelector::parse(&format!("rpk-sha256:{}", known.spki_hex()))
                        .unwrap(),
                    motes: vec![MoteSelector::parse("mote-1")],
                },
                Rule {
                    verdict: Verdict::Allow,
                    client: ClientSelector::Any,
                    motes: vec![MoteSelector::Any],
                },
            ],
        };
        assert!(p.names_raw_keys());
        assert_eq!(p.decide(&known, &mote1), Verdict::Allow);
        // Neither `*` nor the default lets an unnamed raw key in.
        assert_eq!(p.decide(&stranger, &mote1), Verdict::Deny);
        assert_eq!(Policy::allow_all().decide(&stranger, &mote1), Verdict::Deny);
        // An rpk-sha256 rule does not admit a certificate with that key; spki-sha256 admits both.
        let mut certified = id("x");
        certified.spki_sha256 = known.spki_sha256;
        let only_rpk = Policy {
            default: Verdict::Deny,
            rules: vec![p.rules[0].clone()],
        };
        assert_eq!(only_rpk.decide(&certified, &mote1), Verdict::Deny);
        let spki = Policy {
            default: Verdict::Deny,
            rules: vec![Rule {
                verdict: Verdict::Allow,
                client: ClientSelector::SpkiSha256(known.spki_sha256),
                motes: vec![MoteSelector::Any],
            }],
        };
        assert_eq!(spki.decide(&certified, &mote1), Verdict::Allow);
        assert_eq!(spki.decide(&known, &mote1), Verdict::Allow);
        assert!(!spki.names_raw_keys());
        assert_eq!(
            known.to_string(),
            format!("rpk-sha256:{}", known.spki_hex())
        );
    }

    #[test]
    fn selector_errors_are_explained() {
        assert!(ClientSelector::parse("cn:").is_err());
        assert!(
            ClientSelector::parse("foo:bar")
                .unwrap_err()
                .contains("unknown selector")
        );
        assert!(ClientSelector::parse("spki-sha256:abcd").is_err());
        assert!(ClientSelector::parse("alice").is_err());
        assert_eq!(ClientSelector::parse("*").unwrap(), ClientSelector::Any);
    }
}
