-- .output writes results to a file; .read runs another script; .timer.
.mode csv
.output $TMP/out.csv
SELECT 42 AS answer, 'x' AS s;
.output
SELECT * FROM read_csv('$TMP/out.csv');
.timer on
SELECT 1 AS one;
.timer off
.read $TMP/missing.sql
