-- 0001 meta: small named values of the fleet's shared state (a store's
-- key-encryption-key check, and the like). Keys are namespaced by their
-- owner: `keyrelease.kek_check`, `verifier.…`.
CREATE TABLE meta (
    k TEXT PRIMARY KEY,
    v BYTEA NOT NULL
);
