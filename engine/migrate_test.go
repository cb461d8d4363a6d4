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
