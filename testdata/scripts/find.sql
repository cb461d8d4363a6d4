-- FIND and EXPLAIN FIND over a small hand-made mirror.
INSERT INTO nodes (id, name, kind, status, contentDate, contentType, extension, category, size)
VALUES ('a1', 'beach.jpg', 'FILE', 'AVAILABLE', TIMESTAMP '2023-08-14 10:00:00', 'image/jpeg', 'jpg', 'img', 100),
       ('b2', 'clip.mov', 'FILE', 'AVAILABLE', TIMESTAMP '2019-07-01 12:00:00', 'video/quicktime', 'mov', 'vid', 5000),
       ('c3', 'sample1.png', 'FILE', 'AVAILABLE', TIMESTAMP '2023-01-02 08:00:00', 'image/png', 'png', 'img', 300);
INSERT INTO tags VALUES ('a1', 'things', 'beach'), ('c3', 'things', 'plant');
.mode csv
FIND 'type:(PHOTOS)' LIMIT 10;
FIND 'type:(VIDEOS) OR things:(beach)';
FIND 'name:sample* AND timeYear:(2023)';
FIND 'timeYear:(2023) AND NOT things:(beach)';
.mode line
EXPLAIN FIND 'type:(PHOTOS) AND contentProperties.size:[200 TO *]';
FIND 'type:(PHOTOS) AND timeYear:(2023 ANDD';
