-- Every output format over the same small result: types, NULLs, quoting.
CREATE TABLE t AS SELECT * FROM (VALUES
  (1, 'plain', 1.5, TRUE, TIMESTAMP '2019-07-06 18:22:00', ['a', 'b']),
  (22, 'comma, "quote"', -0.25, FALSE, TIMESTAMP '2023-08-14 18:22:03.512', []),
  (NULL, NULL, NULL, NULL, NULL, NULL)
) v(n, s, x, b, ts, l);
.mode table
SELECT * FROM t;
.mode csv
SELECT * FROM t;
.mode tsv
SELECT * FROM t;
.mode json
SELECT * FROM t;
.mode ndjson
SELECT * FROM t;
.mode markdown
SELECT * FROM t;
.mode line
SELECT * FROM t;
.mode csv
.headers off
SELECT n, s FROM t ORDER BY n NULLS LAST;
.headers on
.mode table
SELECT 'empty' AS what WHERE false;
