-- A SQL error stops the script, names the line, and exits 1.
SELECT 1 AS first;
SELECT *
FROM no_such_table;
SELECT 2 AS never;
