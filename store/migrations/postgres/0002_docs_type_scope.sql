-- Lists by type under a scope (every ARM list) read only the matching rows.
CREATE INDEX docs_type_scope ON docs(kind, type, scope, key);
