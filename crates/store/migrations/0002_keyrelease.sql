-- 0002 keyrelease: the key-release service's keys, spent nonces and audit
-- (crates/keyrelease, KeyStore on PostgreSQL). Key material is AES-256-GCM
-- ciphertext under the KEK, sealed and opened in the service: the database
-- never sees it in clear.
CREATE TABLE keyrelease_keys (
    name TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    kty TEXT NOT NULL,
    created BIGINT NOT NULL,
    policy TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    material BYTEA NOT NULL,
    PRIMARY KEY (name, version)
);

-- A nonce spent at one instance is refused at every other: the primary key
-- makes `INSERT … ON CONFLICT DO NOTHING` succeed exactly once.
CREATE TABLE keyrelease_nonces (
    name TEXT NOT NULL,
    nonce TEXT NOT NULL,
    used_at BIGINT NOT NULL,
    PRIMARY KEY (name, nonce)
);

CREATE TABLE keyrelease_audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time BIGINT NOT NULL,
    last_time BIGINT NOT NULL,
    count BIGINT NOT NULL DEFAULT 1,
    key TEXT NOT NULL,
    version TEXT,
    jti TEXT,
    issuer TEXT,
    decision TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX keyrelease_audit_last_time ON keyrelease_audit (last_time);
CREATE INDEX keyrelease_audit_refusals
    ON keyrelease_audit (key, issuer, reason, last_time) WHERE decision = 'refused';
