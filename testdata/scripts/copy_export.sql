-- COPY to Parquet and CSV, then read both back.
CREATE TABLE t AS SELECT i, 'row ' || i AS s, i * 1.5 AS x FROM range(5) r(i);
COPY (SELECT * FROM t ORDER BY i) TO '$TMP/t.parquet' (FORMAT parquet);
COPY (SELECT * FROM t ORDER BY i) TO '$TMP/t.csv' (HEADER);
SELECT count(*) AS n, sum(i) AS total FROM read_parquet('$TMP/t.parquet');
SELECT * FROM read_csv('$TMP/t.csv') ORDER BY i DESC LIMIT 2;
