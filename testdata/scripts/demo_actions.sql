-- args: --demo=300
-- The main job against the in-process emulator: SYNC, query, act, re-sync.
.output $TMP/sync.txt
SYNC;
.output
SELECT count(*) AS nodes, count(DISTINCT id) AS ids, count(*) FILTER (WHERE category = 'img') AS photos,
       count(*) FILTER (WHERE category = 'vid') AS videos, count(md5) AS with_md5 FROM nodes;
SELECT count(*) AS folders FROM folders;
CREATE TEMP TABLE pick AS SELECT id FROM nodes WHERE category = 'img' ORDER BY id LIMIT 3;
.mode csv
EXPLAIN TRASH (SELECT id FROM pick);
TRASH (SELECT id FROM pick);
SELECT count(*) AS still_in_nodes FROM nodes WHERE id IN (SELECT id FROM pick);
SELECT count(*) AS in_trash FROM trash WHERE id IN (SELECT id FROM pick);
TRASH (SELECT id FROM pick);
RESTORE (SELECT id FROM pick);
SELECT count(*) AS back_in_nodes FROM nodes WHERE id IN (SELECT id FROM pick);
SELECT action, status, count(*) AS n FROM actions_log GROUP BY ALL ORDER BY ALL;
DOWNLOAD (SELECT id FROM pick) TO '$TMP/media' (NAMING '{id}.{ext}');
SELECT count(*) AS files FROM glob('$TMP/media/*');
DOWNLOAD (SELECT id FROM pick) TO '$TMP/media' (NAMING '{id}.{ext}', CONCURRENCY 1);
PURGE (SELECT id FROM pick);
