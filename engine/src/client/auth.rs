//! Orkes token auth: a token minted from a key id and secret (`POST /api/token`), sent as
//! `X-Authorization` on every call, refreshed at 80 % of its lifetime (from the JWT's `exp`, or
//! the answer's `expiresIn`; 45 minutes when neither is known, as the SDKs do) and whenever the
//! server answers 401/403 with `EXPIRED_TOKEN` or `INVALID_TOKEN` (then the call is replayed
//! once). A server without `/token` (404: Conductor OSS) gets no token, and `/token` is asked
//! again after a backoff (1 minute doubling to 1 hour), so one misrouted 404 does not turn auth
//! off for the life of the process. One token serves every client of a host; refreshes are
//! single-flight. The secret and the token appear in no log line and no `Debug` output.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use serde::{Deserialize, Serialize};

use crate::client::{ClientError, ErrorBody};

/// The route tokens are minted at, as named in errors.
const TOKEN_ROUTE: &str = "/token";

/// How long a token is used when neither it nor the token answer says (the SDKs use 45
/// minutes too).
const FALLBACK_TOKEN_TTL: Duration = Duration::from_secs(45 * 60);
/// The share of a token's lifetime after which it is refreshed.
const REFRESH_AT: f64 = 0.8;
/// The shortest use of a token, so a token that is nearly expired when minted is not minted
/// again on every call.
const MIN_TOKEN_USE: Duration = Duration::from_secs(1);
/// When `/token` answered 404: how long until it is asked again, at first and at most.
const NO_AUTH_RECHECK_FIRST: Duration = Duration::from_secs(60);
const NO_AUTH_RECHECK_MAX: Duration = Duration::from_secs(3600);

/// The Orkes error codes that mean "get a new token and try again".
pub(crate) fn is_token_error(body: &[u8]) -> bool {
    let body = ErrorBody::parse(body);
    [body.error, body.code]
        .into_iter()
        .flatten()
        .any(|code| code == "EXPIRED_TOKEN" || code == "INVALID_TOKEN")
}

/// A token, the key and secret it is minted from, and when to refresh it.
pub(crate) struct TokenSource {
    key_id: String,
    key_secret: String,
    state: Mutex<TokenState>,
    refreshing: tokio::sync::Mutex<()>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("key_id", &self.key_id)
            .field("key_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct TokenState {
    /// The token (marked sensitive, so its `Debug` shows no value) and when to refresh it.
    token: Option<(HeaderValue, Instant)>,
    /// Bumped on every mint, so a caller can tell whether someone else refreshed already.
    generation: u64,
    /// The server answered `/token` with 404: send no token until this instant.
    no_auth_until: Option<Instant>,
    /// How long the next 404 disables auth for.
    no_auth_backoff: Duration,
}

impl TokenState {
    /// Whether the server is believed to have no auth right now.
    fn auth_off(&self) -> bool {
        self.no_auth_until
            .is_some_and(|until| Instant::now() < until)
    }
}

/// The token a request was sent with.
#[derive(Debug, Clone)]
pub(crate) struct UsedToken {
    pub(crate) header: HeaderValue,
    generation: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest<'a> {
    key_id: &'a str,
    key_secret: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    token: String,
    /// Seconds the token lives, when the server says.
    expires_in: Option<f64>,
}

/// How long a token lives: its JWT `exp` claim, else the answer's `expiresIn`, else `None`.
fn token_lifetime(token: &str, expires_in: Option<f64>, now: SystemTime) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Claims {
        exp: Option<f64>,
    }
    let from_jwt = token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok())
        .and_then(|json| serde_json::from_slice::<Claims>(&json).ok())
        .and_then(|claims| claims.exp)
        .map(|exp| {
            exp - now
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        });
    from_jwt
        .or(expires_in)
        .filter(|secs| secs.is_finite())
        .map(|secs| Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX))
}

/// When a token minted now should be refreshed.
fn refresh_after(lifetime: Option<Duration>) -> Duration {
    match lifetime {
        Some(lifetime) => lifetime.mul_f64(REFRESH_AT).max(MIN_TOKEN_USE),
        None => FALLBACK_TOKEN_TTL,
    }
}

impl TokenSource {
    /// A token source for `key_id` / `key_secret`.
    pub(crate) fn new(key_id: String, key_secret: String) -> Self {
        Self {
            key_id,
            key_secret,
            state: Mutex::new(TokenState {
                no_auth_backoff: NO_AUTH_RECHECK_FIRST,
                ..TokenState::default()
            }),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token to send, minting one when there is none or it is due for refresh; `None`
    /// while the server is believed to have no auth.
    pub(crate) async fn token<C: Connect + Clone + Send + Sync + 'static>(
        &self,
        http: &Client<C, Full<Bytes>>,
        base: &str,
        deadline: Duration,
    ) -> Result<Option<UsedToken>, ClientError> {
        let seen = {
            let state = self.state();
            if state.auth_off() {
                return Ok(None);
            }
            match &state.token {
                Some((header, refresh_at)) if Instant::now() < *refresh_at => {
                    return Ok(Some(UsedToken {
                        header: header.clone(),
                        generation: state.generation,
                    }));
                }
                _ => state.generation,
            }
        };
        // Boxed: a refresh is an HTTP call of its own, rare (once per token lifetime); inline,
        // it would make every call's future larger by a third, and every copy of it too.
        Box::pin(self.refresh(http, base, deadline, seen)).await
    }

    /// Drops the token a request was refused with, so the next call mints a new one.
    pub(crate) fn invalidate(&self, used: &UsedToken) {
        let mut state = self.state();
        if state.generation == used.generation {
            state.token = None;
        }
    }

    /// Mints a new token unless another caller already did since generation `seen`.
    async fn refresh<C: Connect + Clone + Send + Sync + 'static>(
        &self,
        http: &Client<C, Full<Bytes>>,
        base: &str,
        deadline: Duration,
        seen: u64,
    ) -> Result<Option<UsedToken>, ClientError> {
        let _single_flight = self.refreshing.lock().await;
        {
            let state = self.state();
            if state.auth_off() {
                return Ok(None);
            }
            if state.generation != seen
                && let Some((header, _)) = &state.token
            {
                return Ok(Some(UsedToken {
                    header: header.clone(),
                    generation: state.generation,
                }));
            }
        }
        let body = serde_json::to_vec(&TokenRequest {
            key_id: &self.key_id,
            key_secret: &self.key_secret,
        })
        .map_err(ClientError::encode)?;
        let uri = format!("{base}{TOKEN_ROUTE}");
        let request = Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| ClientError::request(uri, err))?;
        let server = request.uri().host().unwrap_or_default().to_owned();
        let (status, body) = tokio::time::timeout(deadline, async {
            let response = http
                .request(request)
                .await
                .map_err(|err| ClientError::connection(&server, err))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(ClientError::transport)?
                .to_bytes();
            Ok::<_, ClientError>((status, body))
        })
        .await
        .map_err(|_| ClientError::Timeout(deadline))??;

        let mut state = self.state();
        if status == StatusCode::NOT_FOUND {
            let recheck = state.no_auth_backoff;
            tracing::info!(
                recheck_in = ?recheck,
                "the server has no /token endpoint; sending no auth token until then"
            );
            state.no_auth_until = Some(Instant::now() + recheck);
            state.no_auth_backoff = (recheck * 2).min(NO_AUTH_RECHECK_MAX);
            state.token = None;
            return Ok(None);
        }
        state.no_auth_until = None;
        state.no_auth_backoff = NO_AUTH_RECHECK_FIRST;
        if !status.is_success() {
            return Err(ClientError::Auth {
                reason: "the token endpoint refused to mint a token",
                source: Some(Arc::new(ClientError::status(
                    status.as_u16(),
                    TOKEN_ROUTE,
                    &body,
                ))),
            });
        }
        let token =
            serde_json::from_slice::<TokenResponse>(&body).map_err(|err| ClientError::Auth {
                reason: "the token answer did not decode",
                source: Some(Arc::new(err)),
            })?;
        let mut header = HeaderValue::from_str(&token.token).map_err(|err| ClientError::Auth {
            reason: "the server's token is not a valid header",
            source: Some(Arc::new(err)),
        })?;
        header.set_sensitive(true);
        let lifetime = token_lifetime(&token.token, token.expires_in, SystemTime::now());
        let refresh_in = refresh_after(lifetime);
        tracing::debug!(?lifetime, ?refresh_in, "minted an auth token");
        state.generation += 1;
        state.token = Some((header.clone(), Instant::now() + refresh_in));
        Ok(Some(UsedToken {
            header,
            generation: state.generation,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_orkes_token_errors() {
        assert!(is_token_error(br#"{"status":401,"error":"EXPIRED_TOKEN"}"#));
        assert!(is_token_error(br#"{"status":401,"code":"INVALID_TOKEN"}"#));
        assert!(!is_token_error(
            br#"{"status":401,"error":"ACCESS_DENIED"}"#
        ));
        assert!(!is_token_error(b"not json"));
    }

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.signature",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn lifetimes_come_from_the_jwt_then_expires_in() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let token = jwt(r#"{"sub":"app","exp":1000600}"#);
        assert_eq!(
            token_lifetime(&token, Some(30.0), now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            token_lifetime("opaque-token", Some(120.0), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(token_lifetime("opaque-token", None, now), None);
        assert_eq!(token_lifetime(&jwt(r#"{"sub":"x"}"#), None, now), None);
        // Already expired: refreshed as soon as allowed, never with a negative lifetime.
        assert_eq!(
            token_lifetime(&jwt(r#"{"exp":999000}"#), None, now),
            Some(Duration::ZERO)
        );
        assert_eq!(token_lifetime("a.!!!.c", Some(f64::NAN), now), None);
    }

    #[test]
    fn tokens_are_refreshed_at_four_fifths_of_their_life() {
        assert_eq!(
            refresh_after(Some(Duration::from_secs(600))),
            Duration::from_secs(480)
        );
        assert_eq!(refresh_after(Some(Duration::ZERO)), MIN_TOKEN_USE);
        assert_eq!(refresh_after(None), FALLBACK_TOKEN_TTL);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let source = TokenSource::new("key".into(), "s3cret".into());
        let mut header = HeaderValue::from_static("tok3n");
        header.set_sensitive(true);
        source.state().token = Some((header, Instant::now()));
        let debug = format!("{source:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("tok3n"),
            "{debug}"
        );
    }
}
