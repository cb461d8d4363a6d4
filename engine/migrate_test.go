package engine

import (
	"path/filepath"
	"testing"
)

// TestMigrateTo2: a version-1 database (no albums, album_members or people;
// searchData written as a JSON string holding the object's text) opens as
// version 2 with the tables and searchData an object that ->> reads.
func TestMigrateTo2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.duckdb")
	ctx := t.Context()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TABLE albums`, `DROP TABLE album_members`, `DROP TABLE people`,
		`INSERT INTO aggregations VALUES ('people', 'c1', 3, 'n1', to_json('{"clusterId":"c1","clusterName":"Mom"}'))`,
		`INSERT INTO aggregations VALUES ('type', 'PHOTOS', 9, NULL, '{}')`,
		`UPDATE apsql_meta SET value = '1' WHERE key = 'schema_version'`,
	} {
		if _, err := d.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var before any
	if err := d.QueryRow(ctx, `SELECT searchData->>'clusterName' FROM aggregations WHERE value = 'c1'`).Scan(&before); err != nil || before != nil {
		t.Fatalf("the version-1 value reads %v (%v), want NULL: the test does not build the old form", before, err)
	}
	d.Close()
	if d, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var name, typ string
	if err := d.QueryRow(ctx, `SELECT searchData->>'clusterName', (SELECT json_type(searchData) FROM aggregations WHERE value = 'PHOTOS') FROM aggregations WHERE value = 'c1'`).Scan(&name, &typ); err != nil {
		t.Fatal(err)
	}
	if name != "Mom" || typ != "OBJECT" {
		t.Errorf("after migrating: clusterName %q, json_type %q, want Mom, OBJECT", name, typ)
	}
	for _, tb := range []string{"albums", "album_members", "people"} {
		if _, err := d.Exec(ctx, `SELECT * FROM `+tb); err != nil {
			t.Errorf("table %s after migrating: %v", tb, err)
		}
	}
}

// TestMigrateTo4: a version-3 database (actions_log without reason) opens
// as version 4 with the column; its entries that re-runs read (an outcome
// unknown, a node gone) get their reason, the others none.
func TestMigrateTo4(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v3.duckdb")
	ctx := t.Context()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`ALTER TABLE actions_log DROP COLUMN reason`,
		`INSERT INTO actions_log VALUES (1, now(), 'TRASH', 'a', 'failed', 'PATCH /trash (op add): outcome unknown: 500; reading the node back failed too')`,
		`INSERT INTO actions_log VALUES (2, now(), 'TRASH', 'b', 'skipped', 'PATCH /trash (op add): not on the service (gone); removed from the mirror (404)')`,
		`INSERT INTO actions_log VALUES (3, now(), 'TRASH', 'c', 'ok', 'PATCH /trash (op add)')`,
		`UPDATE apsql_meta SET value = '3' WHERE key = 'schema_version'`,
	} {
		if _, err := d.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	d.Close()
	if d, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(ctx, `SELECT target, coalesce(reason, '') FROM actions_log ORDER BY seq`)
	if err != nil {
		t.Fatalf("actions_log after migrating: %v", err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var tg, r string
		if err := rows.Scan(&tg, &r); err != nil {
			t.Fatal(err)
		}
		got[tg] = r
	}
	if got["a"] != "unknown" || got["b"] != "gone" || got["c"] != "" || len(got) != 3 {
		t.Errorf("reasons after migrating: %v, want a unknown, b gone, c none", got)
	}
	var v string
	d.QueryRow(ctx, "SELECT value FROM apsql_meta WHERE key = 'schema_version'").Scan(&v)
	if v != "4" {
		t.Errorf("schema_version = %q, want 4", v)
	}
}
