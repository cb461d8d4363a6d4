-- args: -table -json
-- -json (like -csv, -line, -markdown ...) is --format json; the last wins.
SELECT 1 AS a, 'x' AS b;
