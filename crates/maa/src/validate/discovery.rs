//! OpenID discovery of the issuer's JWKS (`{issuer}/.well-known/openid-
//! configuration` → `jwks_uri`, on the issuer's origin).

use serde_json::Value;
use tee_attest_http::{Http, Method};

use super::{normalize_issuer, Jwks};
use crate::MaaError;

fn origin(u: &reqwest::Url) -> (String, Option<String>, Option<u16>) {
    (
        u.scheme().to_string(),
        u.host_str().map(str::to_ascii_lowercase),
        u.port_or_known_default(),
    )
}

async fn get_json(http: &Http, url: &str, what: &str) -> Result<Vec<u8>, MaaError> {
    let resp = http.request(Method::GET, url, &[], None).await?;
    if !(200..300).contains(&resp.status) {
        return Err(MaaError::HttpStatus {
            url: url.to_string(),
            status: resp.status,
            message: format!("fetching {what}"),
        });
    }
    if resp.body.iter().all(u8::is_ascii_whitespace) {
        return Err(MaaError::EmptyResponse(what.to_string()));
    }
    Ok(resp.body)
}

/// Fetches the issuer's JWKS through its OpenID metadata. The `jwks_uri`
/// must be on the issuer's origin (scheme, host, port).
pub(crate) async fn fetch_jwks(http: &Http, issuer: &str) -> Result<Jwks, MaaError> {
    let issuer = normalize_issuer(issuer);
    let meta_url = format!("{issuer}/.well-known/openid-configuration");
    let meta = get_json(http, &meta_url, "the OpenID metadata").await?;
    let meta: Value =
        serde_json::from_slice(&meta).map_err(|e| MaaError::json("the OpenID metadata", e))?;
    let jwks_uri = meta
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| MaaError::json("the OpenID metadata", "no `jwks_uri` string"))?;
    let iss_url = reqwest::Url::parse(issuer)
        .map_err(|e| MaaError::InvalidInput(format!("issuer {issuer:?}: {e}")))?;
    let jwks_url = reqwest::Url::parse(jwks_uri)
        .map_err(|e| MaaError::malformed("the OpenID metadata's jwks_uri", e))?;
    if origin(&iss_url) != origin(&jwks_url) {
        return Err(MaaError::malformed(
            "the OpenID metadata's jwks_uri",
            format!("{jwks_uri:?} is not on the issuer's origin"),
        ));
    }
    let body = get_json(http, jwks_url.as_str(), "the JWKS").await?;
    Jwks::parse(&body)
}
