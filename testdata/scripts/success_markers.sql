-- args: --format csv
SET threads = 2;
BEGIN;
CREATE TABLE t AS SELECT 1 AS a;
COMMIT;
CHECKPOINT;
SELECT a FROM t;
SELECT true AS Success;
CREATE TABLE t2 (Success INT);
INSERT INTO t2 VALUES (5) RETURNING Success;
PREPARE p AS SELECT 7 AS Success;
EXECUTE p;
/* a comment left open at the end of a script is no statement
