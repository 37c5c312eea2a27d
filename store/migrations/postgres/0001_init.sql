-- Text columns compare bytewise (COLLATE "C"), as SQLite does: keys are
-- stored lower-cased, listed in byte order, and prefix LIKEs use the index.
CREATE TABLE docs (
	kind    text COLLATE "C" NOT NULL,
	key     text COLLATE "C" NOT NULL,
	scope   text COLLATE "C" NOT NULL DEFAULT '',
	type    text COLLATE "C" NOT NULL DEFAULT '',
	value   bytea,
	version bigint NOT NULL DEFAULT 1,
	created timestamptz NOT NULL,
	updated timestamptz NOT NULL,
	PRIMARY KEY (kind, key)
);
CREATE INDEX docs_scope ON docs(kind, scope);
CREATE INDEX docs_type ON docs(kind, type, key);

CREATE TABLE tasks (
	id          text COLLATE "C" PRIMARY KEY,
	kind        text NOT NULL,
	tkey        text COLLATE "C" UNIQUE,
	payload     bytea,
	run_at      timestamptz NOT NULL,
	attempts    integer NOT NULL DEFAULT 0,
	last_error  text NOT NULL DEFAULT '',
	lease_owner text COLLATE "C" NOT NULL DEFAULT '',
	lease_until timestamptz,
	created     timestamptz NOT NULL
);
CREATE INDEX tasks_due ON tasks(run_at, id);

-- The latest claim of every task ever claimed (fencing), kept a day after
-- the task is gone; see store.ErrLeaseLost.
CREATE TABLE task_leases (
	task_id text COLLATE "C" PRIMARY KEY,
	owner   text COLLATE "C" NOT NULL,
	epoch   bigint NOT NULL,
	until   timestamptz NOT NULL
);
CREATE INDEX task_leases_until ON task_leases(until);
