-- Statements span lines; semicolons inside strings, identifiers and
-- comments do not end a statement.
CREATE TABLE "semi;colon" (v VARCHAR);
INSERT INTO "semi;colon" VALUES ('a;b'), ($$c;d$$), ('it''s; fine'); -- trailing; comment
/* a block; comment */ SELECT v
  FROM "semi;colon"
  ORDER BY v; SELECT count(*) AS n FROM "semi;colon";
SELECT 'no semicolon at the end'
