-- Lists by type under a scope (every ARM list) read only the matching rows:
-- docs_scope alone walks every document under the scope (a subscription
-- holds all its resources) and fetches each row to test its type.
CREATE INDEX docs_type_scope ON docs(kind, type, scope, key);
