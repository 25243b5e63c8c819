//! The provisioning PKI: a P-256 CA and the certificates it issues to motes (TLS server and,
//! for outbound sessions, client, in their name), to the Internet client (TLS client) and to
//! the server the motes report to (TLS server). Built with the x509-cert builder and
//! a profile of our own, because its CA/B-Forum profiles demand C/O/CN on CAs and add no
//! SAN (docs/crates.md, "X.509").
//!
//! Private keys are p256 `SigningKey`s (zeroized on drop) and leave this module only as
//! PKCS#8 PEM in `Zeroizing<String>`.

use std::net::Ipv6Addr;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::EncodePem;
use x509_cert::der::asn1::{Ia5String, OctetString};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned as SubjectPublicKeyInfo, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate};
use zeroize::Zeroizing;

use crate::Error;
use crate::secrets::random_bytes;

/// id-kp-serverAuth (RFC 5280 section 4.2.1.12).
const ID_KP_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
/// id-kp-clientAuth.
const ID_KP_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// Certificates start this long before "now", so a peer whose clock is a little behind
/// (another namespace, a mote's RTC) does not see them as not yet valid.
const BACKDATE: Duration = Duration::from_secs(3600);

/// What a certificate is for.
#[derive(Debug, Clone)]
pub enum Role {
    /// The self-signed CA: CA:true, keyCertSign.
    Ca,
    /// A mote's certificate: serverAuth and clientAuth, SAN = the mote's address.
    Mote { address: Ipv6Addr },
    /// The Internet client's certificate: clientAuth.
    Client,
    /// A server the motes report to (outbound delegation): serverAuth, SAN = DNS `name`.
    Server { name: String },
}

/// A certificate with its private key.
pub struct Issued {
    pub cert: Certificate,
    pub key: SigningKey,
}

impl Issued {
    pub fn cert_pem(&self) -> Result<String, Error> {
        self.cert
            .to_pem(LineEnding::LF)
            .map_err(|e| Error::Pki(format!("certificate PEM: {e}")))
    }

    pub fn key_pem(&self) -> Result<Zeroizing<String>, Error> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Pki(format!("private key PEM: {e}")))
    }

    /// The public key alone (RFC 7250 raw public key), as a PEM "PUBLIC KEY".
    pub fn public_key_pem(&self) -> Result<String, Error> {
        self.spki()?
            .to_pem(LineEnding::LF)
            .map_err(|e| Error::Pki(format!("public key PEM: {e}")))
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo, in hex: how the IoTSSP's policy
    /// (`rpk-sha256:`) and DCert motes (`client_rpk_sha256`) name a raw public key.
    pub fn spki_sha256_hex(&self) -> Result<String, Error> {
        use sha2::Digest;
        use x509_cert::der::Encode;
        let der = self
            .spki()?
            .to_der()
            .map_err(|e| Error::Pki(format!("public key DER: {e}")))?;
        Ok(sha2::Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    fn spki(&self) -> Result<SubjectPublicKeyInfo, Error> {
        SubjectPublicKeyInfo::from_key(self.key.verifying_key())
            .map_err(|e| Error::Pki(format!("public key: {e}")))
    }
}

/// A fresh P-256 key from the OS RNG.
pub fn generate_key() -> Result<SigningKey, Error> {
    // A random 32-byte string is a valid scalar unless it is 0 or >= n (probability ~2^-32).
    for _ in 0..16 {
        let bytes = Zeroizing::new(random_bytes::<32>()?);
        if let Ok(k) = SigningKey::from_slice(bytes.as_slice()) {
            return Ok(k);
        }
    }
    Err(Error::Pki("could not draw a valid P-256 scalar".into()))
}

/// A common name we are willing to put in a certificate: it also has to survive RFC 4514
/// parsing unchanged and be matchable by `cn:` in the IoTSSP's authorization policy.
pub fn check_common_name(cn: &str) -> Result<(), String> {
    if cn.is_empty() || cn.len() > 64 {
        return Err(format!("{cn:?}: must be 1..=64 characters"));
    }
    if let Some(c) = cn
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!(
            "{cn:?}: character {c:?} not allowed (letters, digits, '.', '-', '_')"
        ));
    }
    Ok(())
}

fn cn_name(cn: &str) -> Result<Name, Error> {
    check_common_name(cn).map_err(Error::Pki)?;
    Name::from_str(&format!("CN={cn}")).map_err(|e| Error::Pki(format!("subject {cn:?}: {e}")))
}

fn serial() -> Result<SerialNumber, Error> {
    let mut b = random_bytes::<16>()?;
    // Positive and without a leading zero byte: DER INTEGER rules and RFC 5280's 20 octets.
    b[0] = (b[0] & 0x7f) | 0x40;
    SerialNumber::new(&b).map_err(|e| Error::Pki(format!("serial: {e}")))
}

fn validity(days: u32) -> Result<Validity, Error> {
    let now = SystemTime::now();
    let from = now.checked_sub(BACKDATE).unwrap_or(now);
    let until = now + Duration::from_secs(u64::from(days) * 86_400);
    let t = |s: SystemTime| Time::try_from(s).map_err(|e| Error::Pki(format!("validity: {e}")));
    Ok(Validity::new(t(from)?, t(until)?))
}

/// The profile: extensions for each role.
struct Profile {
    subject: Name,
    issuer: Name,
    role: Role,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut ext: Vec<Extension> = Vec::new();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        ext.push(ski.to_extension(subject, &ext)?);
        match &self.role {
            Role::Ca => {
                // RFC 5280 4.2.1.9: critical in CA certificates.
                let bc = BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(0),
                };
                ext.push((true, &bc).to_extension(subject, &ext)?);
                let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
                ext.push((true, &ku).to_extension(subject, &ext)?);
            }
            Role::Mote { .. } | Role::Client | Role::Server { .. } => {
                let aki = AuthorityKeyIdentifier::try_from(issuer_spk)?;
                ext.push((false, &aki).to_extension(subject, &ext)?);
                let bc = BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                };
                ext.push((true, &bc).to_extension(subject, &ext)?);
                // ECDHE_ECDSA: the key only ever signs (the handshake's ECDH key is ephemeral).
                let ku = KeyUsage(KeyUsages::DigitalSignature.into());
                ext.push((true, &ku).to_extension(subject, &ext)?);
                // A mote is the server of inbound delegations and the client of outbound
                // ones (the IoTSSP presents its certificate to the server it reports to).
                let purposes = match self.role {
                    Role::Client => vec![ID_KP_CLIENT_AUTH],
                    Role::Server { .. } => vec![ID_KP_SERVER_AUTH],
                    _ => vec![ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH],
                };
                let eku = ExtendedKeyUsage(purposes);
                ext.push((false, &eku).to_extension(subject, &ext)?);
                if let Role::Mote { address } = &self.role {
                    let ip = OctetString::new(address.octets().to_vec())?;
                    let san = SubjectAltName(vec![GeneralName::IpAddress(ip)]);
                    ext.push((false, &san).to_extension(subject, &ext)?);
                }
                if let Role::Server { name } = &self.role {
                    let dns = Ia5String::new(name)?;
                    let san = SubjectAltName(vec![GeneralName::DnsName(dns)]);
                    ext.push((false, &san).to_extension(subject, &ext)?);
                }
            }
        }
        Ok(ext)
    }
}

/// The self-signed CA, valid for `days`.
pub fn new_ca(cn: &str, days: u32) -> Result<Issued, Error> {
    let key = generate_key()?;
    let name = cn_name(cn)?;
    let profile = Profile {
        subject: name.clone(),
        issuer: name,
        role: Role::Ca,
    };
    let spki = SubjectPublicKeyInfo::from_key(key.verifying_key())
        .map_err(|e| Error::Pki(format!("public key: {e}")))?;
    let builder = CertificateBuilder::new(profile, serial()?, validity(days)?, spki)
        .map_err(|e| Error::Pki(format!("CA certificate: {e}")))?;
    let cert = builder
        .build::<_, DerSignature>(&key)
        .map_err(|e| Error::Pki(format!("CA certificate: {e}")))?;
    Ok(Issued { cert, key })
}

/// A certificate for `cn` with a fresh key, signed by `ca`.
pub fn issue(ca: &Issued, cn: &str, role: Role, days: u32) -> Result<Issued, Error> {
    if matches!(role, Role::Ca) {
        return Err(Error::Pki(
            "issue() makes end-entity certificates only".into(),
        ));
    }
    let key = generate_key()?;
    let issued = Issued {
        cert: ca.cert.clone(),
        key,
    };
    let profile = Profile {
        subject: cn_name(cn)?,
        issuer: ca.cert.tbs_certificate().subject().clone(),
        role,
    };
    let builder = CertificateBuilder::new(profile, serial()?, validity(days)?, issued.spki()?)
        .map_err(|e| Error::Pki(format!("certificate for {cn}: {e}")))?;
    let cert = builder
        .build::<_, DerSignature>(&ca.key)
        .map_err(|e| Error::Pki(format!("certificate for {cn}: {e}")))?;
    Ok(Issued {
        cert,
        key: issued.key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_cert::der::Decode;

    #[test]
    fn names_are_checked() {
        assert!(check_common_name("client.example").is_ok());
        assert!(check_common_name("").is_err());
        assert!(check_common_name("a,b").is_err());
        assert!(check_common_name("CN=x+y").is_err());
        assert!(check_common_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn mote_certificate_has_its_extensions() {
        let ca = new_ca("test-ca", 10).unwrap();
        let m = issue(
            &ca,
            "mote-1",
            Role::Mote {
                address: "fd00:aaaa::212:4b00:0:1".parse().unwrap(),
            },
            1,
        )
        .unwrap();
        let der = x509_cert::der::Encode::to_der(&m.cert).unwrap();
        let c = Certificate::from_der(&der).unwrap();
        let tbs = c.tbs_certificate();
        assert_eq!(tbs.subject().to_string(), "CN=mote-1");
        assert_eq!(tbs.issuer().to_string(), "CN=test-ca");
        let (_, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
        assert!(ku.digital_signature() && !ku.key_cert_sign());
        let (_, eku) = tbs.get_extension::<ExtendedKeyUsage>().unwrap().unwrap();
        assert_eq!(eku.0, vec![ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH]);
        let (_, san) = tbs.get_extension::<SubjectAltName>().unwrap().unwrap();
        match &san.0[..] {
            [GeneralName::IpAddress(ip)] => assert_eq!(ip.as_bytes()[15], 1),
            other => panic!("{other:?}"),
        }
        let (_, bc) = ca
            .cert
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
            .unwrap()
            .unwrap();
        assert!(bc.ca);
        assert_ne!(
            tbs.serial_number(),
            ca.cert.tbs_certificate().serial_number()
        );
    }
}
