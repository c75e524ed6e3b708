//! What the client puts in and takes out of ITA's messages: the route of
//! an evidence type, the user data, the REPORTDATA of a TD quote or the
//! user data of an HCL report's variable data, and the token of an answer.

use super::*;

/// The route of an evidence type (code 8 for one ITA is not used for).
pub(super) fn kind_of(t: EvidenceType) -> Result<EvidenceKind, ItaError> {
    if t == TDX_VM {
        Ok(EvidenceKind::Tdx)
    } else if t == AZURE_GUEST_TDX {
        Ok(EvidenceKind::AzureTdx)
    } else {
        Err(ItaError::InvalidInput(format!(
            "the ITA client has no route for {t} evidence (TdxVm and AzureGuest/Tdx only)"
        )))
    }
}

/// The user data: the client payload as a JSON object with the caller's
/// nonce as `nonce` (unless the payload has one, any case).
pub(super) fn user_data(
    nonce: &[u8],
    payload: &BTreeMap<String, String>,
) -> Result<Vec<u8>, ItaError> {
    let mut m: Map<String, Value> = payload
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if !payload.keys().any(|k| k.eq_ignore_ascii_case("nonce")) {
        let n = std::str::from_utf8(nonce).map_err(|_| {
            ItaError::InvalidInput("the nonce must be text (it goes into JSON user data)".into())
        })?;
        m.insert("nonce".into(), Value::String(n.to_string()));
    }
    serde_json::to_vec(&m).map_err(|source| ItaError::Encode { source })
}

/// The REPORTDATA of a TD quote (v4: body at 48; v5: body type 2 or 3
/// and size at 48, body at 54; REPORTDATA at body offset 520), if it is
/// one.
pub(crate) fn quote_report_data(quote: &[u8]) -> Option<[u8; 64]> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(quote.get(o..o + 2)?.try_into().ok()?));
    let version = u16_at(0)?;
    let tee_type = u32::from_le_bytes(quote.get(4..8)?.try_into().ok()?);
    if tee_type != 0x81 {
        return None;
    }
    let body = match version {
        4 => 48,
        5 if matches!(u16_at(48)?, 2 | 3) => 54,
        _ => return None,
    };
    quote.get(body + 520..body + 584)?.try_into().ok()
}

/// The `user-data` (hex) of an HCL report's variable data (code 8 when it
/// has none of 64 bytes).
pub(super) fn var_data_user_data(var_data: &[u8]) -> Result<[u8; 64], ItaError> {
    let bad = |why: &str| ItaError::InvalidInput(format!("the HCL variable data: {why}"));
    let v: Value = serde_json::from_slice(var_data).map_err(|_| bad("not JSON"))?;
    let hex = v
        .get("user-data")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no user-data"))?;
    let b = hex.as_bytes();
    if b.len() != 128 {
        return Err(bad("user-data is not 64 bytes of hex"));
    }
    let mut out = [0u8; 64];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| bad("user-data is not hex"))?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| bad("user-data is not hex"))?;
    }
    Ok(out)
}

/// The JWT of ITA's answer `{"token": "..."}`: code 18 when the answer or
/// the token is empty, 16 when it is not that JSON.
pub(super) fn token_from_answer(answer: &[u8]) -> Result<String, ItaError> {
    if answer.iter().all(u8::is_ascii_whitespace) {
        return Err(ItaError::EmptyResponse("the attestation answer".into()));
    }
    let v: Value =
        serde_json::from_slice(answer).map_err(|e| ItaError::json("the attestation answer", e))?;
    match v.get("token") {
        Some(Value::String(t)) if t.trim().is_empty() => Err(ItaError::EmptyResponse(
            "the attestation answer's token".into(),
        )),
        Some(Value::String(t)) => Ok(t.clone()),
        Some(_) => Err(ItaError::json(
            "the attestation answer",
            "`token` is not a string",
        )),
        None => Err(ItaError::json("the attestation answer", "no `token`")),
    }
}
