//! ES256 compact JWS: `base64url(header).base64url(claims).base64url(sig)`
//! with the raw 64-byte `r||s` signature JOSE uses.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED, EcdsaKeyPair, UnparsedPublicKey};
use serde_json::{Value, json};

pub fn sign(key: &EcdsaKeyPair, kid: &str, claims: &Value) -> Result<String, String> {
    let header = json!({"alg": "ES256", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key
        .sign(&SystemRandom::new(), input.as_bytes())
        .map_err(|_| "signing the token failed".to_string())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
}

/// The claims of `token` if it is an ES256 JWS with key id `kid` whose
/// signature `public` verifies; `None` for anything else (a token of
/// another kind is simply not ours).
pub fn verify(token: &str, kid: &str, public: &[u8]) -> Option<Value> {
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header["alg"] != "ES256" || header["kid"] != kid {
        return None;
    }
    let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
    let input = &token[..h.len() + 1 + c.len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public)
        .verify(input.as_bytes(), &sig)
        .ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()
}
