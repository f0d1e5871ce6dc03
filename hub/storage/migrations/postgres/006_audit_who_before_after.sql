-- Audit entries say who by user id as well as username, which request made the write, and the
-- target's state before and after it (JSON text as request/details: Python's json may write NaN,
-- which jsonb refuses; NULL when the write has no such state).
ALTER TABLE audit_log ADD COLUMN user_id text;
ALTER TABLE audit_log ADD COLUMN request_id text;
ALTER TABLE audit_log ADD COLUMN before_json text;
ALTER TABLE audit_log ADD COLUMN after_json text;
-- The audit API filters by actor and by target within a tenant, newest first.
CREATE INDEX audit_log_tenant_actor ON audit_log (tenant_id, actor);
CREATE INDEX audit_log_tenant_target ON audit_log (tenant_id, target);
