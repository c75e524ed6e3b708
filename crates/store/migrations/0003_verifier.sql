-- The verifier's shared state (crates/verifier/src/service/shared.rs).

-- Each attestation type's policy as sent (text or JWS); NULL: reset to the
-- default. `version` grows by one at each write, under the row's lock.
CREATE TABLE verifier_policies (
    kind TEXT PRIMARY KEY,
    doc TEXT,
    version BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every policy write, in the same transaction as the policy: who, what,
-- the policy hashes before and after.
CREATE TABLE verifier_policy_history (
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    old_hash TEXT,
    new_hash TEXT,
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, version)
);

-- The fleet's signing keys (the verifier's, the ITA profile's): PKCS#8 sealed under the KEK (AES-256-GCM,
-- bound to the key id), never in clear.
CREATE TABLE verifier_signing_keys (
    slot TEXT PRIMARY KEY CHECK (slot IN ('verifier', 'ita')),
    kid TEXT NOT NULL,
    sealed_key BYTEA NOT NULL,
    cert_der BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- The ITA profile's spent nonces: spent once across every instance.
CREATE TABLE ita_spent_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ita_spent_nonces_expiry ON ita_spent_nonces (expires_at);
