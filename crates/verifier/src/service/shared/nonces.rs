//! The ITA profile's spent nonces in the store (`ita_spent_nonces`): a
//! nonce is spent once across the fleet (its primary key).

use tee_attest_store::Pg;

use super::SharedFailure;

/// Spend an ITA nonce fleet-wide: `true` the first time anywhere, `false`
/// after; expired rows are swept on the way.
pub(crate) async fn spend_ita_nonce(
    pg: &Pg,
    nonce: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, SharedFailure> {
    let what = "spending the nonce";
    let client = pg
        .pool()
        .get()
        .await
        .map_err(|e| SharedFailure::of(what, e))?;
    // One round trip: expired rows swept and the nonce spent together.
    let done = client
        .execute(
            "WITH swept AS (DELETE FROM ita_spent_nonces WHERE expires_at < $3) \
             INSERT INTO ita_spent_nonces (nonce, expires_at) VALUES ($1, $2) \
             ON CONFLICT (nonce) DO NOTHING",
            &[&nonce, &expires_at, &now],
        )
        .await
        .map_err(|e| SharedFailure::of(what, e))?;
    Ok(done == 1)
}

/// Un-spend an ITA nonce whose request failed through no fault of its own.
pub(crate) async fn release_ita_nonce(pg: &Pg, nonce: &str) -> Result<(), SharedFailure> {
    let what = "releasing the nonce";
    let client = pg
        .pool()
        .get()
        .await
        .map_err(|e| SharedFailure::of(what, e))?;
    client
        .execute("DELETE FROM ita_spent_nonces WHERE nonce = $1", &[&nonce])
        .await
        .map_err(|e| SharedFailure::of(what, e))?;
    Ok(())
}
