-- The library schema, its views and file_category().
SELECT table_name, count(*) AS columns FROM information_schema.columns
WHERE table_schema = 'main' AND table_name <> 'apsql_meta' GROUP BY 1 ORDER BY 1;
SELECT ext, file_category(ext) AS category FROM (VALUES ('JPG'), ('.mov'), ('heic'), ('pdf'), ('xyz')) v(ext);
