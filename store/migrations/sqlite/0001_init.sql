CREATE TABLE docs (
	kind    TEXT NOT NULL,
	key     TEXT NOT NULL,
	scope   TEXT NOT NULL DEFAULT '',
	type    TEXT NOT NULL DEFAULT '',
	value   BLOB,
	version INTEGER NOT NULL DEFAULT 1,
	created TEXT NOT NULL,
	updated TEXT NOT NULL,
	PRIMARY KEY (kind, key)
);
CREATE INDEX docs_scope ON docs(kind, scope);
CREATE INDEX docs_type ON docs(kind, type, key);

CREATE TABLE tasks (
	id          TEXT PRIMARY KEY,
	kind        TEXT NOT NULL,
	tkey        TEXT UNIQUE,
	payload     BLOB,
	run_at      TEXT NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT '',
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until TEXT NOT NULL DEFAULT '',
	created     TEXT NOT NULL
);
CREATE INDEX tasks_due ON tasks(run_at);
