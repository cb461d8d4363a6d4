package filterlang

import "testing"

const example7 = `type:(PHOTOS OR VIDEOS) AND things:(plant AND beach OR moon) AND timeYear:(2023) AND location:(CAN#BC#Vancouver)`

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

func BenchmarkLex(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		lex(example7)
	}
}
