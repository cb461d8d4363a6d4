package emulator

import (
	"cmp"
	"math/bits"
	"slices"
	"strconv"
)

// Aggregations (API.md §3.5). /search embeds an object with all 8
// categories using "match"; /search/aggregation returns one category as a
// list using "value" and a top-level nodeId. Both are computed once per
// cached listing.

// searchCategories are the keys of the /search aggregations object.
var searchCategories = []string{"allPeople", "clusterId", "favorite", "location", "people", "things", "time", "type"}

// aggCategories are the categories /search/aggregation accepts.
var aggCategories = map[string]bool{"allPeople": true, "clusterId": true, "familyMembers": true, "favorite": true,
	"location": true, "people": true, "things": true, "time": true, "type": true}

// bucket is one aggregation value.
type bucket struct {
	value string
	count int
	cover int32 // the first node of the listing with this value
	data  func(b []byte, l *library, cover int32) []byte
}

// aggregation holds every category's buckets, sorted by count.
type aggregation struct {
	cats     map[string][]bucket
	rendered []byte // the /search object, rendered once
}

// aggregations returns (and caches) r's aggregations with time grouped by
// groupBy ("year", "month" or "day"). The caller holds l.mu for reading.
func (r *queryResult) aggregations(l *library, groupBy string) *aggregation {
	r.aggMu.Lock()
	defer r.aggMu.Unlock()
	if a, ok := r.aggs[groupBy]; ok {
		return a
	}
	a := l.aggregate(r.ids, groupBy)
	if r.aggs == nil {
		r.aggs = make(map[string]*aggregation)
	}
	r.aggs[groupBy] = a
	return a
}

func (l *library) aggregate(ids []int32, groupBy string) *aggregation {
	var (
		types  [typeAlbums + 1]bucket
		things = make([]bucket, len(classes))
		people = make([]bucket, len(l.clusters))
		locs   = make([]bucket, len(places))
		fav    bucket
		times  = map[int64]*bucket{}
	)
	timeLen := 4
	switch groupBy {
	case "month":
		timeLen = 7
	case "day":
		timeLen = 10
	}
	add := func(b *bucket, i int32) {
		if b.count == 0 {
			b.cover = i
		}
		b.count++
	}
	var dbuf []byte
	for _, i := range ids {
		n := &l.nodes[i]
		add(&types[l.mediaType(i)], i)
		if n.kind != kindFile {
			continue
		}
		for m := n.things; m != 0; m &= m - 1 {
			add(&things[trailingZeros(m)], i)
		}
		for m := n.people; m != 0; m &= m - 1 {
			add(&people[trailingZeros(m)], i)
		}
		if n.loc > 0 {
			add(&locs[n.loc-1], i)
		}
		if n.flags&flagFavorite != 0 {
			add(&fav, i)
		}
		y, m, d := civil(floorDiv(n.content, day))
		key := int64(y)
		switch timeLen {
		case 7:
			key = key*100 + int64(m)
		case 10:
			key = key*10000 + int64(m)*100 + int64(d)
		}
		b := times[key]
		if b == nil {
			dbuf = appendDateRaw(dbuf[:0], n.content)
			b = &bucket{value: string(dbuf[:timeLen]), data: coverData}
			times[key] = b
		}
		add(b, i)
	}
	a := &aggregation{cats: make(map[string][]bucket)}
	for t := typePhotos; t <= typeAlbums; t++ {
		types[t].value = typeNames[t]
		types[t].data = emptyData
	}
	a.cats["type"] = keep(types[typePhotos:])
	for k := range things {
		things[k].value, things[k].data = classes[k].thing, thingData(k)
	}
	a.cats["things"] = keep(things)
	for k := range people {
		people[k].value, people[k].data = l.clusters[k].id, l.clusterData(k)
	}
	l.heroCovers(people)
	a.cats["people"] = keep(people)
	a.cats["allPeople"] = a.cats["people"]
	a.cats["clusterId"] = a.cats["people"]
	for k := range locs {
		locs[k].value, locs[k].data = places[k].id, placeData(k)
	}
	a.cats["location"] = keep(locs)
	fav.value, fav.data = "true", emptyData
	a.cats["favorite"] = keep([]bucket{fav})
	var ts []bucket
	for _, b := range times {
		ts = append(ts, *b)
	}
	a.cats["time"] = keep(ts)
	a.cats["familyMembers"] = nil

	b := []byte{'{'}
	for k, cat := range searchCategories {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, cat...)
		b = append(b, `":`...)
		b = l.appendBuckets(b, a.cats[cat], "match", false)
	}
	a.rendered = append(b, '}')
	return a
}

func trailingZeros(m uint32) int { return bits.TrailingZeros32(m) }

// keep drops empty buckets and sorts by count (descending), then value.
func keep(bs []bucket) []bucket {
	out := make([]bucket, 0, len(bs))
	for _, b := range bs {
		if b.count > 0 {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(x, y bucket) int {
		if c := cmp.Compare(y.count, x.count); c != 0 {
			return c
		}
		return cmp.Compare(x.value, y.value)
	})
	return out
}

// appendBuckets renders a category as a JSON list. key is "match" (/search)
// or "value" (/search/aggregation, which also carries a top-level nodeId).
func (l *library) appendBuckets(b []byte, bs []bucket, key string, nodeID bool) []byte {
	b = append(b, '[')
	for k, bk := range bs {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"`...)
		b = append(b, key...)
		b = append(b, `":`...)
		b = appendString(b, bk.value)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(bk.count), 10)
		if nodeID {
			b = append(b, `,"nodeId":"`...)
			b = append(b, l.nodes[bk.cover].id...)
			b = append(b, '"')
		}
		b = append(b, `,"searchData":`...)
		b = bk.data(b, l, bk.cover)
		b = append(b, '}')
	}
	return append(b, ']')
}

func emptyData(b []byte, _ *library, _ int32) []byte { return append(b, "{}"...) }

func coverData(b []byte, l *library, cover int32) []byte {
	b = append(b, `{"nodeId":"`...)
	b = append(b, l.nodes[cover].id...)
	return append(b, `"}`...)
}

func thingData(k int) func([]byte, *library, int32) []byte {
	return func(b []byte, l *library, cover int32) []byte {
		b = append(b, `{"thingId":`...)
		b = appendString(b, classes[k].thing)
		b = append(b, `,"nodeId":"`...)
		b = append(b, l.nodes[cover].id...)
		return append(b, `"}`...)
	}
}

func (l *library) clusterData(k int) func([]byte, *library, int32) []byte {
	return func(b []byte, l *library, cover int32) []byte {
		b = append(b, `{"clusterId":`...)
		b = appendString(b, l.clusters[k].id)
		b = append(b, `,"clusterName":`...)
		b = appendString(b, l.clusters[k].name)
		b = append(b, `,"nodeId":"`...)
		b = append(b, l.nodes[cover].id...)
		b = append(b, `","ownerId":"`...)
		b = append(b, l.owner...)
		return append(b, `"}`...)
	}
}

func placeData(k int) func([]byte, *library, int32) []byte {
	p := &places[k]
	return func(b []byte, l *library, cover int32) []byte {
		b = append(b, `{"locationId":`...)
		b = appendString(b, p.id)
		b = append(b, `,"nodeId":"`...)
		b = append(b, l.nodes[cover].id...)
		b = append(b, `","locationInfo":{`...)
		b = appendMember(b, "city", p.city)
		b = append(b, ',')
		b = appendMember(b, "state", p.state)
		b = append(b, ',')
		b = appendMember(b, "stateCode", p.stateCode)
		b = append(b, ',')
		b = appendMember(b, "country", p.country)
		b = append(b, ',')
		b = appendMember(b, "countryIso3Code", p.iso3)
		return append(b, `}}`...)
	}
}
