//! Orkes token auth: a token minted from a key id and secret (`POST /api/token`), sent as
//! `X-Authorization` on every call, refreshed every 45 minutes and whenever the server answers
//! 401/403 with `EXPIRED_TOKEN` or `INVALID_TOKEN` (then the call is replayed once). A server
//! without `/token` (404: Conductor OSS) turns auth off. One token serves every client of a
//! host; refreshes are single-flight.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde::{Deserialize, Serialize};

use crate::client::{ClientError, ErrorBody};

/// The route tokens are minted at, as named in errors.
const TOKEN_ROUTE: &str = "/token";

/// How long a token is used before it is refreshed (the SDKs use 45 minutes too).
const TOKEN_TTL: Duration = Duration::from_secs(45 * 60);

/// The Orkes error codes that mean "get a new token and try again".
pub(crate) fn is_token_error(body: &[u8]) -> bool {
    let body = ErrorBody::parse(body);
    [body.error, body.code]
        .into_iter()
        .flatten()
        .any(|code| code == "EXPIRED_TOKEN" || code == "INVALID_TOKEN")
}

/// A token, the key and secret it is minted from, and when it was minted.
#[derive(Debug)]
pub(crate) struct TokenSource {
    key_id: String,
    key_secret: String,
    state: Mutex<TokenState>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct TokenState {
    token: Option<(HeaderValue, Instant)>,
    /// Bumped on every mint, so a caller can tell whether someone else refreshed already.
    generation: u64,
    /// The server has no `/token` endpoint: send no token.
    disabled: bool,
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
struct TokenResponse {
    token: String,
}

impl TokenSource {
    /// A token source for `key_id` / `key_secret`.
    pub(crate) fn new(key_id: String, key_secret: String) -> Self {
        Self {
            key_id,
            key_secret,
            state: Mutex::new(TokenState::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token to send, minting one when there is none or it is older than the TTL;
    /// `None` when the server has no auth.
    pub(crate) async fn token(
        &self,
        http: &Client<HttpConnector, Full<Bytes>>,
        base: &str,
        deadline: Duration,
    ) -> Result<Option<UsedToken>, ClientError> {
        let seen = {
            let state = self.state();
            if state.disabled {
                return Ok(None);
            }
            match &state.token {
                Some((header, minted)) if minted.elapsed() < TOKEN_TTL => {
                    return Ok(Some(UsedToken {
                        header: header.clone(),
                        generation: state.generation,
                    }));
                }
                _ => state.generation,
            }
        };
        self.refresh(http, base, deadline, seen).await
    }

    /// Drops the token a request was refused with, so the next call mints a new one.
    pub(crate) fn invalidate(&self, used: &UsedToken) {
        let mut state = self.state();
        if state.generation == used.generation {
            state.token = None;
        }
    }

    /// Mints a new token unless another caller already did since generation `seen`.
    async fn refresh(
        &self,
        http: &Client<HttpConnector, Full<Bytes>>,
        base: &str,
        deadline: Duration,
        seen: u64,
    ) -> Result<Option<UsedToken>, ClientError> {
        let _single_flight = self.refreshing.lock().await;
        {
            let state = self.state();
            if state.disabled {
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
        let (status, body) = tokio::time::timeout(deadline, async {
            let response = http.request(request).await?;
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
            tracing::info!("the server has no /token endpoint; sending no auth token");
            state.disabled = true;
            return Ok(None);
        }
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
        let header = HeaderValue::from_str(&token.token).map_err(|err| ClientError::Auth {
            reason: "the server's token is not a valid header",
            source: Some(Arc::new(err)),
        })?;
        state.generation += 1;
        state.token = Some((header.clone(), Instant::now()));
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
}
