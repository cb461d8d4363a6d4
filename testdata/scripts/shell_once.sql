-- .once sends the next result only to its file; settings between .once and
-- the statement wait with it; results then go back to .output or stdout.
.once $TMP/a.csv
.mode csv
.headers on
SELECT 1 AS a, 'x' AS b;
SELECT 'back on stdout' AS where_;
.output $TMP/out.txt
.once $TMP/b.csv
SELECT 2 AS b;
SELECT 3 AS to_output;
.output
.mode table
SELECT filename.split('/')[-1] AS file, content FROM read_text(['$TMP/a.csv', '$TMP/b.csv', '$TMP/out.txt']) ORDER BY 1;
.once $TMP/no_such_dir/x.csv
