-- args: --format csv
.output 'my out.txt'
SELECT 42 AS x;
.output
SELECT trim(content) AS written FROM read_text('my out.txt');
COPY (SELECT '.read "self.sql"' AS line) TO 'self.sql' (HEADER false, QUOTE '', DELIMITER '|');
.read 'self.sql'
SELECT 'not reached';
