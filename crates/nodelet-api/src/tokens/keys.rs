//! The service account signing key: generated once (ECDSA P-256, PKCS#8
//! PEM, mode 0600) next to the API's other PKI, and its key id as the API
//! server computes it (`base64url(sha256(PKIX DER of the public key))`).

use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

use crate::error::ApiError;

const FILE: &str = "sa.key";
/// `SubjectPublicKeyInfo` header of an uncompressed P-256 point.
const SPKI_P256_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

pub struct SigningKey {
    pub pair: EcdsaKeyPair,
    pub kid: String,
}

fn load(pem: &str) -> Result<EcdsaKeyPair, ApiError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| ApiError::internal(format!("service account key: {e}")))?;
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        der.secret_der(),
        &SystemRandom::new(),
    )
    .map_err(|e| ApiError::internal(format!("service account key: {e}")))
}

/// Loads `<root>/pki/sa.key`, creating it on first use.
pub fn ensure(root: &Path) -> Result<SigningKey, ApiError> {
    let dir = crate::pki::pki_dir(root);
    let path = dir.join(FILE);
    let pem = match std::fs::read_to_string(&path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
            let key = rcgen::KeyPair::generate().map_err(|e| {
                ApiError::internal(format!("generating the service account key: {e}"))
            })?;
            let pem = key.serialize_pem();
            crate::pki::write_private(&path, &pem)?;
            pem
        }
        Err(e) => {
            return Err(ApiError::internal(format!(
                "reading {}: {e}",
                path.display()
            )));
        }
    };
    let pair = load(&pem)?;
    let kid = key_id(pair.public_key().as_ref());
    Ok(SigningKey { pair, kid })
}

/// The API server's `keyIDFromPublicKey`.
pub fn key_id(point: &[u8]) -> String {
    use base64::Engine;
    let mut spki = SPKI_P256_PREFIX.to_vec();
    spki.extend_from_slice(point);
    let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}
