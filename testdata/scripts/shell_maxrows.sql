-- A script prints every row unless it sets .maxrows; .maxrows applies to
-- tables only, and with no N (or -1) every row shows again.
SELECT * FROM range(45) t(n);
.maxrows 6
SELECT n, 'row ' || n AS s FROM range(45) t(n);
SELECT * FROM range(6) t(n);
SELECT * FROM range(7) t(n);
.maxrows 5
SELECT n, n * n AS sq FROM range(100) t(n);
.mode csv
SELECT * FROM range(8) t(n);
.mode table
.maxrows
SELECT * FROM range(8) t(n);
.maxrows -1
SELECT * FROM range(8) t(n);
.maxrows lots
