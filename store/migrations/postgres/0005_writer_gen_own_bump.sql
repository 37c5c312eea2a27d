-- A writer's transaction (store.Postgres, which sets safehold.writer) bumps
-- writer_gen once, when it commits, after checking that nobody else bumped
-- it since its BEGIN; every other change of docs (another version's
-- writer, psql, a data migration) bumps it here. With a bump per statement
-- a change by hand made while a group ran hid among the group's own bumps,
-- and the writer kept serving what it remembered.
CREATE OR REPLACE FUNCTION bump_writer_gen() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	IF coalesce(current_setting('safehold.writer', true), '') <> 'on' THEN
		UPDATE writer_gen SET gen = gen + 1;
	END IF;
	RETURN NULL;
END $$;
