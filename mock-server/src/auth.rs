//! Orkes-style optional auth: `POST /api/token` mints tokens for one key/secret pair, and every
//! other `/api` call must carry a live one in `X-Authorization`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// The key id and secret clients must present to `POST /api/token`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The key id (`keyId`).
    pub key_id: String,
    /// The key secret (`keySecret`).
    pub key_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("key_id", &self.key_id)
            .field("key_secret", &"<redacted>")
            .finish()
    }
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

/// Issued tokens and their expiry times. Tokens are JWT-shaped (`exp` in their claims) but
/// unsigned: the mock checks them by lookup.
pub(crate) struct Auth {
    credentials: Credentials,
    ttl: Duration,
    tokens: Mutex<HashMap<String, Instant>>,
    rng: Mutex<fastrand::Rng>,
    /// Tokens minted so far.
    minted: AtomicU64,
    /// Calls refused for a missing, unknown or expired token.
    refused: AtomicU64,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Live tokens are credentials: count them, never print them.
        let live = self.tokens.lock().map(|t| t.len()).unwrap_or_default();
        f.debug_struct("Auth")
            .field("credentials", &self.credentials)
            .field("ttl", &self.ttl)
            .field("tokens", &live)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Checks tokens minted for `credentials`, each valid for `ttl`.
    pub(crate) fn new(credentials: Credentials, ttl: Duration, seed: u64) -> Self {
        Self {
            credentials,
            ttl,
            tokens: Mutex::new(HashMap::new()),
            rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed_70c3)),
            minted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
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
        // JWT-shaped, unsigned: clients read `exp` to know when to refresh.
        let exp = SystemTime::now()
            .checked_add(self.ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let claims = serde_json::json!({"sub": key_id, "exp": exp, "jti": format!("{nonce:016x}")});
        let token = format!(
            "{}.{}.baton-mock",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
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
        self.minted.fetch_add(1, Ordering::Relaxed);
        Ok(token)
    }

    /// How many tokens were minted.
    pub(crate) fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    /// How many calls were refused for their token.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Accepts a live token, counting refusals; a missing or unknown one is `INVALID_TOKEN`, an expired one
    /// `EXPIRED_TOKEN`.
    pub(crate) fn check(&self, header: Option<&str>) -> Result<(), ApiError> {
        let checked = self.check_token(header);
        if checked.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        checked
    }

    fn check_token(&self, header: Option<&str>) -> Result<(), ApiError> {
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
