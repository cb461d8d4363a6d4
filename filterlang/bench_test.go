package filterlang

import (
	"testing"
)

// example7 is the 7-term filter of the issue: 7 values in 4 terms.
const example7 = `type:(PHOTOS OR VIDEOS) AND things:(plant AND beach OR moon) AND timeYear:(2023) AND location:(CAN#BC#Vancouver)`

// BenchmarkParseTranslate measures Parse (lex, parse, check) and SQL of
// example7. Target: ≤ 20 µs and ≤ 100 allocations per call.
func BenchmarkParseTranslate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse(example7, Search)
		if err != nil {
			b.Fatal(err)
		}
		f.SQL()
	}
}

// BenchmarkParseGrammar measures the participle grammar alone on example7,
// the cost that the hand-written parser avoids.
func BenchmarkParseGrammar(b *testing.B) {
	toks, err := lex(example7)
	if err != nil {
		b.Fatal(err)
	}
	ltoks := lexerTokens(example7, toks)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseGrammar(ltoks); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDoc is a compact node for the evaluator benchmark: indexes into
// shared pools, so that a million of them fit in a few tens of MB.
type benchDoc struct {
	contentType, date, things, location, kind uint8
}

var (
	benchTypes     = [][]string{{"image/jpeg"}, {"image/png"}, {"video/mp4"}, {"application/pdf"}, nil}
	benchDates     = [][]string{{"2023-08-14T09:36:22.000Z"}, {"2022-01-01T00:00:00.000Z"}, {"2023-12-31T23:59:59.999Z"}, {"2019-07-06T18:22:00.000Z"}, nil}
	benchThings    = [][]string{{"plant", "beach"}, {"moon"}, {"beach"}, {"plant", "tree"}, nil}
	benchLocations = [][]string{{"CAN#BC#Vancouver"}, {"USA#CA#San Francisco"}, nil}
	benchKinds     = [][]string{{"FILE"}, {"VISUAL_COLLECTION"}}
)

func (d *benchDoc) Values(field string) []string {
	switch field {
	case "contentProperties.contentType":
		return benchTypes[d.contentType]
	case "contentProperties.contentDate":
		return benchDates[d.date]
	case "things":
		return benchThings[d.things]
	case "location":
		return benchLocations[d.location]
	case "kind":
		return benchKinds[d.kind]
	}
	return nil
}

// BenchmarkMatch evaluates example7 over 1M in-memory nodes and reports nodes/s.
func BenchmarkMatch(b *testing.B) {
	const n = 1 << 20
	docs := make([]benchDoc, n)
	for i := range docs {
		docs[i] = benchDoc{uint8(i % 5), uint8(i / 5 % 5), uint8(i / 25 % 5), uint8(i / 125 % 3), uint8(i / 375 % 2)}
	}
	f, err := Parse(example7, Local)
	if err != nil {
		b.Fatal(err)
	}
	matched := 0
	b.ReportAllocs()
	for b.Loop() {
		matched = 0
		for i := range docs {
			if f.Match(&docs[i]) {
				matched++
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "nodes/s")
	b.ReportMetric(float64(matched), "matched")
	if matched == 0 || matched == n {
		b.Fatalf("%d of %d nodes match: the benchmark data proves nothing", matched, n)
	}
}
