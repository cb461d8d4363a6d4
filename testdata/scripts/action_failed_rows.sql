-- args: --demo=50
-- An action whose rows partly fail prints them, then fails the script (exit 1).
.output $TMP/sync.txt
SYNC;
.output
.mode csv
DOWNLOAD (SELECT 'not-in-the-mirror' AS id UNION ALL SELECT min(id) FROM photos) TO '$TMP/media';
SELECT 'not reached';
