-- The main job on a library: mirror it, look at it, act on a selection.
-- Run it on the built-in emulated library with: apsql --demo -f examples/demo.sql
SYNC;
SELECT category, count(*) AS items, round(sum(size) / 1e6, 1) AS mb
  FROM nodes GROUP BY ALL ORDER BY items DESC;
SELECT model, count(*) AS photos FROM photos WHERE model IS NOT NULL
  GROUP BY ALL ORDER BY photos DESC, model LIMIT 5;
SELECT year(contentDate) AS year, count(*) FILTER (WHERE category = 'img') AS photos,
       count(*) FILTER (WHERE category = 'vid') AS videos
  FROM nodes GROUP BY ALL ORDER BY year DESC LIMIT 5;
SYNC FOLDERS;
.tree
FIND 'type:(VIDEOS) AND timeYear:(2019)' LIMIT 3;
EXPLAIN FIND 'type:(VIDEOS) AND contentProperties.contentDate:["2015-01-01T00:00:00.000Z" TO *]';
SELECT count(*) AS small_pngs FROM nodes WHERE extension = 'png' AND size < 20000;
EXPLAIN TRASH (SELECT id FROM nodes WHERE extension = 'png' AND size < 20000 ORDER BY size LIMIT 5);
DOWNLOAD (SELECT id FROM photos ORDER BY size DESC, id LIMIT 3) TO 'demo-media';
-- Two Live Photos: each still and, next to it, its video.
DOWNLOAD (SELECT id FROM photos WHERE contains(CAST(raw->'childAssetTypeInfo' AS VARCHAR), 'LIVE_VIDEO')
  ORDER BY id LIMIT 2) TO 'demo-live' (LIVE_VIDEO true);
COPY (SELECT * EXCLUDE (raw) FROM photos) TO 'demo-photos.parquet' (FORMAT parquet);
SELECT count(*) AS rows_in_parquet FROM read_parquet('demo-photos.parquet');
-- Label 200 photos from their thumbnails with a tiny colour classifier
-- (testdata/label: averages the colour; bring a real model with scripts/export_timm.py).
.output label-results.txt
LABEL (SELECT id FROM photos ORDER BY id LIMIT 200) USING '../testdata/label/colours.onnx' (TOPK 1, THRESHOLD 0);
.output
SELECT label, count(*) AS photos FROM nodes JOIN labels USING (id) WHERE rank = 1 GROUP BY ALL ORDER BY photos DESC;

-- The whole library as data: albums and their members, people, documents.
SELECT name, count AS members FROM albums ORDER BY members DESC, name LIMIT 5;
SELECT name, count AS photos FROM people ORDER BY photos DESC, name LIMIT 5;
SYNC ALL;
SELECT (SELECT count(*) FROM nodes) AS mirrored_files, (SELECT sum(total_count) FROM usage) AS service_files;
-- An album as a backup: one folder per album, each file dated as taken.
DOWNLOAD ALBUM 'Wedding' TO 'demo-albums' (NAMING '{album}/{name}');
-- Tidy documents into a folder: the plan first, then the move.
CREATE FOLDER 'Documents/Sorted';
EXPLAIN MOVE (SELECT id FROM nodes WHERE category = 'pdf' ORDER BY id LIMIT 3) TO 'Documents/Sorted';
MOVE (SELECT id FROM nodes WHERE category = 'pdf' ORDER BY id LIMIT 3) TO 'Documents/Sorted';
-- What changed in the mirror, and who did it: apsql's own statements (by_apsql) or the service.
SELECT statement, in_table, change, by_apsql, count(*) AS rows FROM changes GROUP BY ALL ORDER BY ALL;
-- Storage by type, and what removing the exact duplicates (same md5) would free.
SELECT type, sum(count) AS files, sum(bytes) AS bytes, sum(duplicate_count) AS duplicate_copies FROM storage_report GROUP BY ALL ORDER BY ALL;
