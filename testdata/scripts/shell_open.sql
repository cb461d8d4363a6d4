-- args: --demo=40
-- .open closes the database and opens another, with apsql's statements
-- (SYNC, TRASH, search()) registered on it; a bad path keeps the old one.
.bail off
CREATE TABLE mine AS SELECT 1 AS x;
.open $TMP/other.duckdb
.output $TMP/sync.txt
SYNC NODES;
.output
SELECT count(*) > 30 AS synced FROM nodes;
SELECT count(*) > 0 AS searched FROM search('type:(PHOTOS)');
SELECT count(*) AS mine FROM information_schema.tables WHERE table_name = 'mine';
EXPLAIN TRASH 'not-in-the-mirror';
.open $TMP/no_such_dir/x.duckdb
SELECT count(*) > 30 AS still_other FROM nodes;
.open
SELECT count(*) AS in_memory_nodes FROM nodes;
.open $TMP/other.duckdb
SELECT count(*) > 30 AS reopened FROM nodes;
.open other.duckdb
SELECT count(*) > 30 AS same_file FROM nodes;
.open a b
