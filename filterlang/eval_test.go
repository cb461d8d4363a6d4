package filterlang

import "testing"

type mapDoc map[string][]string

func (d mapDoc) Values(field string) []string { return d[field] }

func TestMatch(t *testing.T) {
	photo := mapDoc{
		"id":                            {"HeMReF-vvJiTTkdPIeWuoP"},
		"name":                          {"IMG_0001.JPG"},
		"kind":                          {"FILE"},
		"status":                        {"AVAILABLE"},
		"parents":                       {"p1", "p2"},
		"createdDate":                   {"2019-07-06T18:22:00.000Z"},
		"contentProperties.contentDate": {"2023-08-14T23:59:59.000Z"},
		"contentProperties.contentType": {"image/jpeg"},
		"contentProperties.size":        {"432777"},
		"settings.favorite":             {"true"},
		"labels":                        {"name", "test"},
		"things":                        {"plant", "beach"},
		"location":                      {"CAN#BC#Vancouver"},
	}
	album := mapDoc{"id": {"a1"}, "kind": {"VISUAL_COLLECTION"}, "name": {"Holidays"}}
	tests := []struct {
		name   string
		src    string
		doc    mapDoc
		want   bool
		reason string
	}{
		{"type PHOTOS", "type:PHOTOS", photo, true, "contentType starts with image/"},
		{"type VIDEOS", "type:VIDEOS", photo, false, ""},
		{"type ALBUMS", "type:ALBUMS", album, true, "kind VISUAL_COLLECTION"},
		{"time parts UTC", "timeYear:2023 AND timeMonth:8 AND timeDay:14", photo, true, ""},
		{"time part other day", "timeDay:15", photo, false, ""},
		{"time part missing date", "timeYear:2023", album, false, ""},
		{"name ignores case", "name:img_0001.jpg", photo, true, ""},
		{"name prefix ignores case", "name:img*", photo, true, ""},
		{"name is exact", "name:IMG", photo, false, ""},
		{"kind is case-sensitive", "kind:file", photo, false, ""},
		{"kind prefix", "kind:(FILE* OR FOLDER*)", photo, true, ""},
		{"list contains", "parents:p1 AND parents:p2", photo, true, ""},
		{"list lacks", "parents:p3", photo, false, ""},
		{"labels AND", "labels:(name AND test)", photo, true, ""},
		{"facets", "things:(plant AND beach OR moon)", photo, true, ""},
		{"facets AND fails", "things:(plant AND moon)", photo, false, ""},
		{"facets OR", "things:(moon OR plant)", photo, true, ""},
		{"location", "location:(CAN#BC#Vancouver)", photo, true, ""},
		{"bool true", "favorite:true", photo, true, ""},
		{"absent bool is false", "settings.hidden:false", photo, true, ""},
		{"absent bool is not true", "settings.hidden:true", photo, false, ""},
		{"NOT of a missing field holds", "NOT description:test", photo, true, ""},
		{"NOT in a group", "things:(NOT moon)", photo, true, ""},
		{"range >", `createdDate:{"2019-07-06T18:22:00.000Z" TO *]`, photo, false, "exclusive bound equals the value"},
		{"range >=", `createdDate:["2019-07-06T18:22:00.000Z" TO *]`, photo, true, ""},
		{"range <", `createdDate:{* TO "2019-07-06T18:22:00.000Z"}`, photo, false, ""},
		{"range <=", `createdDate:{* TO "2019-07-06T18:22:00.000Z"]`, photo, true, ""},
		{"range between", `createdDate:[2019-01-01 TO 2020-01-01}`, photo, true, ""},
		{"offset converted", `createdDate:"2019-07-06T20:22:00+02:00"`, photo, true, ""},
		{"size range", "contentProperties.size:[400000 TO 500000]", photo, true, ""},
		{"size open range needs a value", "contentProperties.size:[* TO *]", album, false, ""},
		{"contentType prefix", "contentProperties.contentType:image*", photo, true, ""},
		{"precedence", "kind:FOLDER AND kind:FILE OR status:AVAILABLE", photo, true, "(F AND T) OR T"},
		{"NOT binds tighter than AND", "NOT kind:FOLDER AND kind:FILE", photo, true, ""},
		{"parenthesised", "kind:FOLDER AND (kind:FILE OR status:AVAILABLE)", photo, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.src, Local)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tt.doc); got != tt.want {
				t.Errorf("Parse(%q).Match = %v, want %v %s", tt.src, got, tt.want, tt.reason)
			}
		})
	}
}
