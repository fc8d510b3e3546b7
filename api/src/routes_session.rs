//! Who the caller is (`GET /api/v1/me`), the fields the search language knows
//! (`GET /api/v1/fields`), and one-time sign-in links (`POST /api/v1/signin`): a link carries
//! a random code, not the token; the first exchange of the code returns the token and ends
//! the code, so a link seen later in a browser history or a terminal scroll-back is useless.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;

use crate::extract::ApiJson;
use crate::{ApiError, ApiState, Principal, Role};

/// How long a sign-in code stays valid when nobody uses it.
pub const SIGN_IN_CODE_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Unused sign-in codes (by SHA-256) and the token each one gives.
#[derive(Debug, Default)]
pub(crate) struct SignInCodes {
    codes: Mutex<HashMap<[u8; 32], (String, Instant)>>,
}

impl SignInCodes {
    fn add(&self, token: String) -> Result<String, ApiError> {
        let code = crate::generate_token()?;
        let mut codes = self.codes.lock().expect("sign-in codes poisoned");
        let now = Instant::now();
        codes.retain(|_, (_, expires)| *expires > now);
        codes.insert(
            crate::auth::digest(&code),
            (token, now + SIGN_IN_CODE_LIFETIME),
        );
        Ok(code)
    }

    fn take(&self, code: &str) -> Option<String> {
        let mut codes = self.codes.lock().expect("sign-in codes poisoned");
        let (token, expires) = codes.remove(&crate::auth::digest(code))?;
        (expires > Instant::now()).then_some(token)
    }
}

impl ApiState {
    /// A one-time code that `POST /api/v1/signin` exchanges for `token`, once, within
    /// [`SIGN_IN_CODE_LIFETIME`]. The UI takes it from the page address's fragment
    /// (`/#signin=<code>`), which browsers never send to a server.
    pub fn add_sign_in_code(&self, token: String) -> Result<String, ApiError> {
        self.inner.sign_in.add(token)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    code: String,
}

/// `POST /api/v1/signin`: the token behind a one-time code, and who it is.
pub(crate) async fn sign_in(
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<SignIn>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let refused = || {
        ApiError::unauthorized(
            "this sign-in link was already used or has expired; sign in with a token",
        )
    };
    let token = state
        .inner
        .sign_in
        .take(&request.code)
        .ok_or_else(refused)?;
    let principal = state
        .inner
        .auth
        .principal_of_token(&token)
        .ok_or_else(refused)?;
    let mut answer = me_json(&principal);
    answer["token"] = serde_json::Value::String(token);
    Ok(Json(answer))
}

/// `GET /api/v1/me`: the caller's name, role, restrictions and what the role allows.
pub(crate) async fn me(Extension(principal): Extension<Principal>) -> Json<serde_json::Value> {
    Json(me_json(&principal))
}

fn me_json(principal: &Principal) -> serde_json::Value {
    serde_json::json!({
        "name": principal.name,
        "role": principal.role.as_str(),
        "namespaces": principal.scope.namespaces,
        "clusters": principal.scope.clusters,
        "can": {
            "search": true,
            "export": principal.role >= Role::Analyst,
            "sql": principal.role >= Role::Analyst,
            "ack": principal.role >= Role::Analyst,
            "rules": true,
        }
    })
}

/// `GET /api/v1/fields`: the fields of the search language and those that take facets.
pub(crate) async fn fields() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "fields": search::query_fields(),
        "facets": search::facet_fields(),
    }))
}
