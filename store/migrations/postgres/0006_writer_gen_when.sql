-- The trigger is not called for a writer's own statements (store.Postgres,
-- which sets safehold.writer and bumps writer_gen once as it commits): its
-- WHEN is the condition bump_writer_gen checks, so a write by hand, by a
-- data migration or by a replica older than 0005 moves writer_gen exactly
-- as before, but an upsert of the writer no longer makes two PL/pgSQL calls
-- (its INSERT's and its UPDATE's statement triggers) that do nothing.
CREATE OR REPLACE TRIGGER docs_bump_writer_gen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON docs
	FOR EACH STATEMENT
	WHEN (coalesce(current_setting('safehold.writer', true), '') <> 'on')
	EXECUTE FUNCTION bump_writer_gen();
