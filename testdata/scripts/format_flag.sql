-- args: --format csv
SELECT 1 AS a, 'b' AS b;
