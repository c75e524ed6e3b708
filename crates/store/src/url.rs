//! The connection URL: its TLS mode, and its redaction for messages.

use std::path::PathBuf;

use crate::error::{Result, StoreError};
use crate::tls::Verify;

/// The URL with its password replaced by `***` (in the user-info part and
/// in a `password=` parameter): the only form in which a URL is shown.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let auth_end = out[rest..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..auth_end].rfind('@') {
            let userinfo = &out[rest..rest + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest + colon + 1..rest + at, "***");
            }
        }
    }
    // `password=` as a query parameter or a key-value pair, any case.
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    loop {
        let lower = rest.to_ascii_lowercase();
        let Some(i) = lower.find("password=") else {
            result.push_str(rest);
            break;
        };
        let start = i + "password=".len();
        result.push_str(&rest[..start]);
        result.push_str("***");
        let end = rest[start..]
            .find(['&', ' ', '\t', '\n', '#'])
            .map_or(rest.len(), |j| start + j);
        rest = &rest[end..];
    }
    result
}

/// What the URL asks for, and the URL as the driver reads it.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The URL for `tokio_postgres::Config` (sslmode rewritten to
    /// `require` or `disable`; `sslrootcert` removed).
    pub url: String,
    /// TLS, and how the certificate is checked; `None`: plain.
    pub tls: Option<Verify>,
    /// The URL's `sslrootcert`, if any.
    pub root_cert: Option<PathBuf>,
}

/// Reads `sslmode` (`disable`, `allow`, `prefer`: no TLS; `require`,
/// `verify-ca`: TLS, the chain verified against the CA; `verify-full`: and
/// the host name) and `sslrootcert` from a `postgres://` URL.
pub(crate) fn parse(url: &str) -> Result<Parsed> {
    let shown = redact_url(url);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::Config(format!(
            "{shown} is not a postgres:// or postgresql:// URL"
        )));
    }
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut tls = None;
    let mut root_cert = None;
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => {
                tls = match v {
                    "disable" | "allow" | "prefer" => None,
                    "require" | "verify-ca" => Some(Verify::Chain),
                    "verify-full" => Some(Verify::Full),
                    other => {
                        return Err(StoreError::Config(format!(
                            "sslmode={other:?} is not one of disable, allow, prefer, require, \
                             verify-ca, verify-full ({shown})"
                        )))
                    }
                }
            }
            "sslrootcert" => root_cert = Some(PathBuf::from(v)),
            _ => kept.push(pair),
        }
    }
    kept.push(if tls.is_some() {
        "sslmode=require"
    } else {
        "sslmode=disable"
    });
    Ok(Parsed {
        url: format!("{base}?{}", kept.join("&")),
        tls,
        root_cert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:s3cret@127.0.0.1:5432/db?sslmode=require"),
            "postgres://u:***@127.0.0.1:5432/db?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss:w@rd@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&Password=s3cret&x=1"),
            "postgres://h/db?user=u&Password=***&x=1"
        );
        assert_eq!(
            redact_url("host=h password=s3cret user=u"),
            "host=h password=*** user=u"
        );
    }

    #[test]
    fn modes_parse() {
        let p = parse("postgres://u:p@h/db?sslmode=verify-full&sslrootcert=/ca.pem").unwrap();
        assert_eq!(p.tls, Some(Verify::Full));
        assert_eq!(p.root_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(p.url, "postgres://u:p@h/db?sslmode=require");
        let p = parse("postgresql://u:p@h/db").unwrap();
        assert_eq!(
            (p.tls, p.url.as_str()),
            (None, "postgresql://u:p@h/db?sslmode=disable")
        );
        let p = parse("postgres://h/db?sslmode=verify-ca&application_name=x").unwrap();
        assert_eq!(p.tls, Some(Verify::Chain));
        assert_eq!(p.url, "postgres://h/db?application_name=x&sslmode=require");
        let e = parse("postgres://u:s3cret@h/db?sslmode=bogus").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let e = parse("mysql://u:s3cret@h/db").unwrap_err();
        assert!(!format!("{e:?}").contains("s3cret"), "{e:?}");
    }
}
