package emulator

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The synthetic library is a pure function of (Nodes, Seed, Now): node i
// draws from its own PCG stream seeded with (Seed, i), so generation runs on
// every core and still gives the same library every time.

// folderSpec is the reference README's print_tree layout.
var folderSpecs = []string{
	"Documents", "Pictures", "Pictures/iPhone", "Pictures/Web", "Pictures/Web/foo", "Pictures/Web/bar",
	"Videos", "Backup", "Backup/LAPTOP-XYZ", "Backup/LAPTOP-XYZ/Desktop", "Backup/DESKTOP-IJK", "Backup/DESKTOP-IJK/Desktop",
}

// destination is where a new photo or video lands and what took it.
type destination struct {
	folder string
	weight float64
	group  int // camera group; -1: desktop mix
	by     int
}

var (
	photoDests = []destination{
		{"Pictures/iPhone", 55, camApple, byIOS},
		{"Pictures", 10, camDSLR, byDesktop},
		{"Pictures/Web", 5, camWeb, byWeb},
		{"Pictures/Web/foo", 2, camWeb, byWeb},
		{"Pictures/Web/bar", 2, camWeb, byWeb},
		{"Backup/LAPTOP-XYZ/Desktop", 13, -1, byDesktop},
		{"Backup/DESKTOP-IJK/Desktop", 13, -1, byDesktop},
	}
	videoDests = []destination{
		{"Pictures/iPhone", 70, camApple, byIOS},
		{"Videos", 20, camVideo, byDesktop},
		{"Backup/LAPTOP-XYZ/Desktop", 5, camVideo, byDesktop},
		{"Backup/DESKTOP-IJK/Desktop", 5, camVideo, byDesktop},
	}
)

const (
	day  = int64(24 * time.Hour / time.Millisecond)
	year = 365 * day
)

// genCtx is what every generator goroutine reads.
type genCtx struct {
	seed          uint64
	now, start    int64 // ms; start = now - 20 years
	accountStart  int64
	folders       map[string]int32
	tpl           *templates
	camsByGroup   [camVideo + 1][]int
	textClass     int
	photoW, vidW  float64
	nodes         []node
	first, nfiles int // files occupy nodes[first : first+nfiles]
}

// buildLibrary generates the synthetic library.
func buildLibrary(opts Options, tpl *templates) (*library, error) {
	now := opts.Now.UnixMilli()
	g := &genCtx{
		seed:         uint64(opts.Seed),
		now:          now,
		start:        now - 20*year,
		accountStart: now - 12*year,
		folders:      make(map[string]int32),
		tpl:          tpl,
	}
	for i, c := range cameras {
		g.camsByGroup[c.group] = append(g.camsByGroup[c.group], i)
	}
	for i, c := range classes {
		if c.thing == "text" {
			g.textClass = i
		}
	}
	for _, d := range photoDests {
		g.photoW += d.weight
	}
	for _, d := range videoDests {
		g.vidW += d.weight
	}
	docs := min(opts.Nodes/5000+2, 200)
	nfixed := 1 + len(folderSpecs) + len(albumNames)
	l := &library{
		nodes:  make([]node, nfixed+opts.Nodes+docs, nfixed+opts.Nodes+docs+1024),
		rng:    newCreationRNG(opts.Seed),
		albums: make(map[int32][]int32),
		extra:  make(map[int32]*extra),
		names:  make(map[int32]map[string]int32),
		tpl:    tpl,
	}
	g.nodes = l.nodes
	g.first, g.nfiles = nfixed, opts.Nodes

	meta := rand.New(rand.NewPCG(g.seed, 1<<60))
	l.owner = ownerID(meta)
	// Root, folders, albums: created when the account was opened, or later.
	l.root = 0
	l.nodes[0] = node{id: newID(meta), kind: kindFolder, parent: -1, created: g.accountStart, modified: now - day, version: 156}
	for k, p := range folderSpecs {
		i := int32(1 + k)
		parent := l.root
		name := p
		if j := strings.LastIndexByte(p, '/'); j >= 0 {
			parent, name = g.folders[p[:j]], p[j+1:]
		}
		created := g.accountStart + int64(meta.Float64()*float64(year))
		l.nodes[i] = node{id: newID(meta), name: name, kind: kindFolder, parent: parent, created: created,
			modified: created + int64(meta.Float64()*float64(now-created)), version: uint32(1 + meta.IntN(200))}
		g.folders[p] = i
	}
	for k, name := range albumNames {
		i := int32(1 + len(folderSpecs) + k)
		created := now - int64(meta.Float64()*float64(4*year))
		l.nodes[i] = node{id: newID(meta), name: name, kind: kindAlbum, parent: -1, created: created,
			modified: created + int64(meta.Float64()*float64(now-created)), version: uint32(2 + meta.IntN(20))}
	}

	// Files, in parallel chunks.
	const chunk = 1 << 14
	total := opts.Nodes + docs
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSummer()
			for lo := range next {
				g.genChunk(lo, min(lo+chunk, total), s)
			}
		}()
	}
	for lo := 0; lo < total; lo += chunk {
		next <- lo
	}
	close(next)
	wg.Wait()

	l.byID = newIDIndex(len(l.nodes) + 1024)
	s := newSummer()
	for i := range l.nodes {
		n := &l.nodes[i]
		for salt := uint64(1); !l.byID.put(int32(i), l.nodes); salt++ {
			// A 128-bit collision: draw again from a stream no node uses.
			n.id = newID(rand.New(rand.NewPCG(g.seed^salt<<56, uint64(i))))
			if n.kind == kindFile {
				n.md5 = s.sum(tpl.template(n.format, n.tmpl), n.format, n.id)
				markLive(n)
			}
		}
	}
	l.pickAlbumMembers(rand.New(rand.NewPCG(g.seed, 1<<61)), nfixed)
	return l, nil
}

// ownerID returns "A" and 13 upper-case alphanumerics, like A2NI566MRQ4Y8X.
func ownerID(r *rand.Rand) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := []byte{'A'}
	for range 13 {
		b = append(b, alnum[r.IntN(len(alnum))])
	}
	return string(b)
}

// newID returns 22 characters of URL-safe base64 (16 random bytes).
func newID(r *rand.Rand) string {
	var raw [16]byte
	putRand(r, raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func putRand(r *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := i; j < i+8 && j < len(b); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
}

// genChunk generates files lo..hi-1 (relative to g.first).
func (g *genCtx) genChunk(lo, hi int, s *summer) {
	pcg := rand.NewPCG(0, 0)
	r := rand.New(pcg)
	var sb strings.Builder
	sb.Grow((hi - lo) * 48)
	offs := make([]int32, 0, 2*(hi-lo))
	var idbuf [22]byte
	var raw [16]byte
	var nb []byte
	for k := lo; k < hi; k++ {
		pcg.Seed(g.seed, uint64(k))
		n := &g.nodes[g.first+k]
		putRand(r, raw[:])
		base64.RawURLEncoding.Encode(idbuf[:], raw[:])
		offs = append(offs, int32(sb.Len()))
		sb.Write(idbuf[:])
		if k < g.nfiles {
			nb = g.genMedia(r, n, k, nb[:0])
		} else {
			nb = g.genDoc(r, n, k, nb[:0])
		}
		offs = append(offs, int32(sb.Len()))
		sb.Write(nb)
	}
	all := sb.String()
	for k := lo; k < hi; k++ {
		n := &g.nodes[g.first+k]
		j := 2 * (k - lo)
		start, nameStart := offs[j], offs[j+1]
		end := int32(len(all))
		if j+2 < len(offs) {
			end = offs[j+2]
		}
		n.id, n.name = all[start:nameStart], all[nameStart:end]
		t := g.tpl.template(n.format, n.tmpl)
		n.size = int64(len(t.data) + trailerLen(n.format, n.id))
		n.md5 = s.sum(t, n.format, n.id)
		markLive(n)
	}
}

func pick(r *rand.Rand, dests []destination, total float64) *destination {
	x := r.Float64() * total
	for i := range dests {
		if x < dests[i].weight {
			return &dests[i]
		}
		x -= dests[i].weight
	}
	return &dests[len(dests)-1]
}

// cameraFor picks a camera of group in use in year y, or -1.
func (g *genCtx) cameraFor(r *rand.Rand, group, y int) int {
	var cands [16]int
	c := cands[:0]
	for _, i := range g.camsByGroup[group] {
		if cameras[i].from <= y && y <= cameras[i].to {
			c = append(c, i)
		}
	}
	if len(c) == 0 {
		return -1
	}
	return c[r.IntN(len(c))]
}

// genMedia fills a photo or video and returns its name appended to nb.
func (g *genCtx) genMedia(r *rand.Rand, n *node, k int, nb []byte) []byte {
	video := r.Float64() < 0.10
	// Capture dates over 20 years, denser towards today (density ~ t^1.2).
	n.content = g.start + int64(math.Pow(r.Float64(), 1/2.2)*float64(g.now-g.start-1000))
	y, _, _ := civil(floorDiv(n.content, day))
	var d *destination
	if video {
		d = pick(r, videoDests, g.vidW)
	} else {
		d = pick(r, photoDests, g.photoW)
	}
	n.parent = g.folders[d.folder]
	n.by = uint8(d.by)
	n.kind = kindFile
	n.tmpl = uint8(r.IntN(len(classes)))
	seq := int64(k + 1)
	cam := -1
	switch {
	case video:
		n.format = fmtMP4
		if d.group == camApple {
			n.format = fmtMOV
			cam = g.camsByGroup[camVideo][0]
			if y >= 2021 {
				cam = g.camsByGroup[camVideo][1]
			}
			nb = appendName(nb, "IMG_", seq, 4, ".MOV")
		} else {
			if r.IntN(3) == 0 {
				n.format = fmtMOV
			}
			cam = g.camsByGroup[camVideo][1+r.IntN(len(g.camsByGroup[camVideo])-1)]
			nb = appendName(nb, "VID_", seq, 5, "."+formatExts[n.format])
		}
		n.dur = uint16(min(10+r.ExpFloat64()*300, 60000))
	case d.group == camApple:
		n.format = fmtJPG
		switch {
		case r.Float64() < 0.08:
			n.format, cam, n.tmpl = fmtPNG, g.camsByGroup[camScreenshot][1], uint8(g.textClass)
			nb = appendName(nb, "IMG_", seq, 4, ".PNG")
		default:
			if y >= 2017 && r.Float64() < 0.7 {
				n.format = fmtHEIC
			}
			cam = g.cameraFor(r, camApple, y)
			nb = appendName(nb, "IMG_", seq, 4, "."+strings.ToUpper(formatExts[n.format]))
		}
	case d.group == camDSLR:
		n.format = fmtJPG
		cam = g.cameraFor(r, camDSLR, y)
		nb = appendName(nb, "DSC_", seq, 5, ".JPG")
	case d.group == camWeb:
		n.format = fmtPNG
		if r.Float64() < 0.4 {
			n.format = fmtJPG
		}
		cam = g.camsByGroup[camWeb][r.IntN(len(g.camsByGroup[camWeb]))]
		// Upstream's sample names: epoch milliseconds (README "ap.db").
		nb = appendName(nb, "", 1_500_000_000_000+seq*7919, 0, "."+formatExts[n.format])
	default: // desktop backup: a mix
		x := r.Float64()
		n.format = fmtJPG
		switch {
		case x < 0.35:
			cam = g.cameraFor(r, camAndroid, y)
			n.by = byAndroid
			nb = appendName(nb, "PXL_", seq, 6, ".jpg")
		case x < 0.6:
			cam = g.cameraFor(r, camDSLR, y)
			nb = appendName(nb, "Photo ", seq, 0, ".jpg")
		case x < 0.8:
			n.format, n.tmpl = fmtPNG, uint8(g.textClass)
			cam = g.camsByGroup[camScreenshot][0]
			nb = appendName(nb, "Screenshot ", seq, 0, ".png")
		default:
			cam = g.camsByGroup[camWeb][r.IntN(len(g.camsByGroup[camWeb]))]
			nb = appendName(nb, "image", seq, 0, ".jpg")
		}
	}
	// Some nodes have no EXIF at all (scans, stripped files).
	if cam >= 0 && !video && (n.format == fmtJPG || n.format == fmtHEIC) && r.Float64() < 0.04 {
		cam = -1
	}
	n.camera = uint8(cam + 1)
	if video && n.camera == 0 {
		n.camera = uint8(g.camsByGroup[camVideo][3] + 1)
	}
	n.things = 1 << n.tmpl
	if r.Float64() < 0.3 {
		n.things |= 1 << r.IntN(len(classes))
	}
	if !video && r.Float64() < 0.3 {
		n.people = 1 << int(float64(len(clusterNames))*r.Float64()*r.Float64())
		if r.Float64() < 0.3 {
			n.people |= 1 << r.IntN(len(clusterNames))
		}
	}
	if r.Float64() < 0.45 {
		n.loc = uint8(1 + int(float64(len(places))*math.Pow(r.Float64(), 1.7)))
	}
	n.exp, n.iso, n.flash = uint8(r.IntN(len(exposures))), uint8(r.IntN(len(isos))), uint8(r.IntN(len(flashes)))
	if r.Float64() < 0.3 {
		n.orient = uint8(1 + r.IntN(len(orients)-1))
	}
	if r.Float64() < 0.03 {
		n.flags |= flagFavorite
	}
	if r.Float64() < 0.005 {
		n.flags |= flagHidden
	}
	g.dates(r, n, d.by == byIOS || d.by == byAndroid)
	n.version = uint32(1 + r.IntN(4))
	if r.Float64() < 0.01 {
		n.status = statusTrash
		n.modified = max(n.modified, g.now-int64(r.Float64()*float64(30*day)))
		n.version++
	}
	return nb
}

// dates sets created (upload) and modified dates after the capture date:
// phones upload within days; backups and old photos arrive later.
func (g *genCtx) dates(r *rand.Rand, n *node, phone bool) {
	c := n.content
	if phone {
		c += int64(r.ExpFloat64() * float64(2*day))
	} else {
		c += int64(r.Float64() * float64(g.now-c))
	}
	if c < g.accountStart {
		c = g.accountStart + int64(r.Float64()*float64(g.now-g.accountStart)*0.2)
	}
	if c > g.now-1000 {
		c = n.content + int64(r.Float64()*float64(g.now-1000-n.content))
	}
	n.created = c
	n.modified = min(n.created+int64(r.IntN(60000)), g.now)
}

// genDoc fills a PDF in Documents.
func (g *genCtx) genDoc(r *rand.Rand, n *node, k int, nb []byte) []byte {
	n.kind, n.format, n.by = kindFile, fmtPDF, byWeb
	n.parent = g.folders["Documents"]
	n.content = g.accountStart + int64(r.Float64()*float64(g.now-g.accountStart))
	g.dates(r, n, false)
	n.version = 1
	return appendName(nb, "Document ", int64(k-g.nfiles+1), 0, ".pdf")
}

func appendName(b []byte, prefix string, seq int64, width int, suffix string) []byte {
	b = append(b, prefix...)
	b = appendPad(b, seq, width)
	return append(b, suffix...)
}

// pickAlbumMembers fills the albums with processed photos and videos.
func (l *library) pickAlbumMembers(r *rand.Rand, first int) {
	files := len(l.nodes) - first
	if files == 0 {
		return
	}
	for k := range albumNames {
		a := int32(1 + len(folderSpecs) + k)
		want := min(max(files/500, 3), 250)
		seen := make(map[int32]bool, want)
		for tries := 0; len(seen) < want && tries < 20*want; tries++ {
			i := int32(first + r.IntN(files))
			if !seen[i] && l.nodes[i].status == statusAvailable && l.nodes[i].isMedia() && l.hasImage(i) {
				seen[i] = true
				l.albums[a] = append(l.albums[a], i)
			}
		}
	}
}

// people cluster ids are 21 alphanumerics (API.md §3.3 example), per seed.
func newClusters(seed int64) []cluster {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := rand.New(rand.NewPCG(uint64(seed), 1<<59))
	out := make([]cluster, len(clusterNames))
	for i, name := range clusterNames {
		b := make([]byte, 21)
		for j := range b {
			b[j] = alnum[r.IntN(len(alnum))]
		}
		out[i] = cluster{id: string(b), name: name, mergedInto: -1}
	}
	return out
}

// describe is a one-line summary for logs.
func (l *library) describe() string {
	var files, folders, albums, trash int
	for i := range l.nodes {
		switch l.nodes[i].kind {
		case kindFile:
			files++
		case kindFolder:
			folders++
		case kindAlbum:
			albums++
		}
		if l.nodes[i].status == statusTrash {
			trash++
		}
	}
	return fmt.Sprintf("%s files, %d folders, %d albums, %d in trash", strconv.Itoa(files), folders, albums, trash)
}
