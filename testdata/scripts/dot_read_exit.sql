-- .read runs another script; .exit stops the script with status 0.
COPY (SELECT 'SELECT 7 AS seven;' AS line) TO '$TMP/inc.sql' (HEADER false, QUOTE '');
.read $TMP/inc.sql
.exit
SELECT 'never printed' AS x;
