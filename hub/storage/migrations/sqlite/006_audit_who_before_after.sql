-- Audit entries say who by user id as well as username, which request made the write, and the
-- target's state before and after it (JSON text; NULL when the write has no such state).
ALTER TABLE audit_log ADD COLUMN user_id TEXT;
ALTER TABLE audit_log ADD COLUMN request_id TEXT;
ALTER TABLE audit_log ADD COLUMN before_json TEXT;
ALTER TABLE audit_log ADD COLUMN after_json TEXT;
-- The audit API filters by actor and by target within a tenant, newest first.
CREATE INDEX audit_log_tenant_actor ON audit_log (tenant_id, actor);
CREATE INDEX audit_log_tenant_target ON audit_log (tenant_id, target);
