-- The writers' generation: every statement that changes docs bumps it (a
-- statement trigger, so any writer does, whatever its version, psql too).
-- A writer that finds it unchanged since its own last commit knows that
-- the documents it remembers are still current (store.Postgres's cache).
CREATE TABLE writer_gen (
	id  integer PRIMARY KEY CHECK (id = 1),
	gen bigint NOT NULL
);
INSERT INTO writer_gen VALUES (1, 0);
CREATE FUNCTION bump_writer_gen() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	UPDATE writer_gen SET gen = gen + 1;
	RETURN NULL;
END $$;
CREATE TRIGGER docs_bump_writer_gen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON docs
	FOR EACH STATEMENT EXECUTE FUNCTION bump_writer_gen();
