//! Orkes-style optional auth: `POST /api/token` mints tokens for one key/secret pair, and every
//! other `/api` call must carry a live one in `X-Authorization`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// The key id and secret clients must present to `POST /api/token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The key id (`keyId`).
    pub key_id: String,
    /// The key secret (`keySecret`).
    pub key_secret: String,
}

impl std::str::FromStr for Credentials {
    type Err = String;

    /// Parses `KEY:SECRET`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((key, secret)) if !key.is_empty() && !secret.is_empty() => Ok(Self {
                key_id: key.to_owned(),
                key_secret: secret.to_owned(),
            }),
            _ => Err(format!("expected KEY:SECRET, got {s:?}")),
        }
    }
}

/// Issued tokens and their expiry times.
#[derive(Debug)]
pub(crate) struct Auth {
    credentials: Credentials,
    ttl: Duration,
    tokens: Mutex<HashMap<String, Instant>>,
    rng: Mutex<fastrand::Rng>,
}

impl Auth {
    /// Checks tokens minted for `credentials`, each valid for `ttl`.
    pub(crate) fn new(credentials: Credentials, ttl: Duration, seed: u64) -> Self {
        Self {
            credentials,
            ttl,
            tokens: Mutex::new(HashMap::new()),
            rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed_70c3)),
        }
    }

    /// A new token for a `keyId`/`keySecret` pair, or 401 when they do not match.
    pub(crate) fn mint(&self, key_id: &str, key_secret: &str) -> Result<String, ApiError> {
        if key_id != self.credentials.key_id || key_secret != self.credentials.key_secret {
            return Err(ApiError::Unauthorized {
                code: "INVALID_TOKEN",
                message: "Invalid key id or secret".to_owned(),
            });
        }
        let nonce = self
            .rng
            .lock()
            .map(|mut rng| rng.u64(..))
            .unwrap_or_default();
        let token = format!("baton-mock.{nonce:016x}");
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        // Forget tokens long expired, so the map stays small.
        tokens.retain(|_, expiry| {
            now.saturating_duration_since(*expiry) < self.ttl * 4 + Duration::from_secs(60)
        });
        tokens.insert(token.clone(), now + self.ttl);
        Ok(token)
    }

    /// Accepts a live token; a missing or unknown one is `INVALID_TOKEN`, an expired one
    /// `EXPIRED_TOKEN`.
    pub(crate) fn check(&self, header: Option<&str>) -> Result<(), ApiError> {
        let invalid = |message: &str| ApiError::Unauthorized {
            code: "INVALID_TOKEN",
            message: message.to_owned(),
        };
        let token = header
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("Missing X-Authorization token"))?;
        let tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match tokens.get(token) {
            Some(expiry) if Instant::now() < *expiry => Ok(()),
            Some(_) => Err(ApiError::Unauthorized {
                code: "EXPIRED_TOKEN",
                message: "Token has expired".to_owned(),
            }),
            None => Err(invalid("Invalid token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_expire() {
        let creds: Credentials = "key:secret".parse().unwrap();
        assert!("nosecret".parse::<Credentials>().is_err());
        let auth = Auth::new(creds, Duration::from_secs(3600), 1);
        assert!(auth.mint("key", "wrong").is_err());
        let token = auth.mint("key", "secret").unwrap();
        assert!(auth.check(Some(&token)).is_ok());
        assert_eq!(auth.check(None).unwrap_err().status(), 401);
        assert!(matches!(
            auth.check(Some("nope")),
            Err(ApiError::Unauthorized {
                code: "INVALID_TOKEN",
                ..
            })
        ));
        let short = Auth::new("k:s".parse().unwrap(), Duration::ZERO, 1);
        let token = short.mint("k", "s").unwrap();
        assert!(matches!(
            short.check(Some(&token)),
            Err(ApiError::Unauthorized {
                code: "EXPIRED_TOKEN",
                ..
            })
        ));
    }
}
