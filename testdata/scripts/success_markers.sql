-- args: --format csv
SET threads = 2;
BEGIN;
CREATE TABLE t AS SELECT 1 AS a;
COMMIT;
CHECKPOINT;
SELECT a FROM t;
SELECT true AS Success;
