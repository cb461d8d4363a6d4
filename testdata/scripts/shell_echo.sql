-- .echo prints each statement before its result; .once files stay clean.
.echo on
SELECT 1 AS one;
.mode csv
.once $TMP/once.csv
SELECT 'in the file' AS x;
.echo off
SELECT content FROM read_text('$TMP/once.csv');
