-- The verifier's admin audit across the fleet (crates/verifier/src/service/
-- shared/audit.rs): the rows of the data directory's admin-audit.sqlite.
CREATE TABLE verifier_admin_audit (
    id BIGSERIAL PRIMARY KEY,
    first_time BIGINT NOT NULL,
    last_time BIGINT NOT NULL,
    count BIGINT NOT NULL DEFAULT 1,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    old_hash TEXT,
    new_hash TEXT,
    source TEXT
);
CREATE INDEX verifier_admin_audit_last_time ON verifier_admin_audit (last_time);
CREATE INDEX verifier_admin_audit_refusals
    ON verifier_admin_audit (actor, action, target, reason, source, last_time)
    WHERE outcome = 'refused';
