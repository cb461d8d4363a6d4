-- .bail off: a failed statement is reported and the script goes on; the
-- exit status is still 1. .bail on stops again at the next error.
.mode csv
.headers off
.once $TMP/inner.sql
SELECT l FROM (VALUES (1, 'SELECT 1 AS inner_ok;'), (2, 'SELECT * FROM inner_missing;'), (3, 'SELECT 2 AS inner_after;')) v(i, l) ORDER BY i;
.mode table
.headers on
.bail off
SELECT 1 AS first;
SELECT * FROM no_such_table;
SELECT 2 AS after_the_error;
.read $TMP/inner.sql
.bail on
SELECT 3 AS last_shown;
SELECT * FROM no_such_table_either;
SELECT 4 AS never;
