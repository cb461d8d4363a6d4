package emulator

import (
	"bytes"
	"crypto/md5"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"sync"
)

// A node's content is a per-class template (a real JPEG, PNG, MP4 or PDF,
// generated once at start-up) followed by a short trailer naming the node,
// placed where decoders ignore it (after the JPEG EOI or PNG IEND, in an MP4
// "free" box, in a PDF comment). The md5 state after the template is saved,
// so a node's md5 costs one hash of its trailer, and the bytes themselves are
// only built when someone downloads them.

// class is a dominant colour and shape; each maps to one of Amazon's "things"
// so that labels, thumbnails and the things aggregation agree.
type class struct {
	thing  string
	bg, fg color.RGBA
	shape  int // 0 disk, 1 lower band, 2 stripes, 3 triangle, 4 square
}

var classes = []class{
	{"sunset", rgb(250, 140, 40), rgb(200, 40, 30), 0},
	{"beach", rgb(90, 170, 230), rgb(235, 215, 150), 1},
	{"ocean", rgb(20, 70, 160), rgb(230, 240, 250), 2},
	{"sky", rgb(120, 190, 250), rgb(255, 255, 255), 0},
	{"plant", rgb(40, 140, 50), rgb(120, 80, 40), 3},
	{"tree", rgb(150, 200, 240), rgb(30, 110, 40), 3},
	{"flower", rgb(60, 150, 60), rgb(230, 60, 150), 0},
	{"grass", rgb(80, 170, 60), rgb(200, 230, 120), 2},
	{"mountain", rgb(170, 200, 230), rgb(90, 90, 100), 3},
	{"snow", rgb(245, 248, 252), rgb(170, 190, 210), 1},
	{"desert", rgb(230, 190, 110), rgb(190, 130, 60), 1},
	{"water", rgb(40, 120, 190), rgb(90, 170, 220), 2},
	{"night", rgb(15, 20, 50), rgb(245, 240, 200), 0},
	{"city", rgb(110, 110, 120), rgb(230, 200, 60), 4},
	{"building", rgb(190, 180, 170), rgb(120, 60, 40), 4},
	{"car", rgb(200, 200, 200), rgb(200, 20, 20), 4},
	{"boat", rgb(30, 90, 170), rgb(250, 250, 250), 3},
	{"food", rgb(245, 245, 240), rgb(210, 120, 30), 0},
	{"cake", rgb(250, 220, 230), rgb(130, 70, 40), 4},
	{"dog", rgb(110, 170, 80), rgb(160, 110, 60), 0},
	{"cat", rgb(220, 210, 200), rgb(60, 60, 60), 0},
	{"bird", rgb(140, 200, 245), rgb(40, 40, 40), 3},
	{"person", rgb(200, 190, 180), rgb(230, 170, 140), 0},
	{"text", rgb(255, 255, 255), rgb(20, 20, 20), 2},
}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 255} }

const (
	templateW   = 320
	templateH   = 240
	videoKinds  = 4 // video templates per container format
	trailerText = "apsql-emulator node "
)

// tmpl is one content template.
type tmpl struct {
	data  []byte
	state []byte // md5 state after data (encoding.BinaryMarshaler form)
}

// templates holds every template and lazily decoded images for thumbnails.
type templates struct {
	jpg, png []tmpl
	mp4, mov []tmpl
	pdf      tmpl

	mu     sync.Mutex
	images map[int]image.Image // class → decoded JPEG template
}

// sharedTemplates renders the templates once per process: they are
// immutable and the same for every server.
var sharedTemplates = sync.OnceValues(newTemplates)

// newTemplates renders all templates. They depend on nothing but the class
// table, so the same class always has the same bytes.
func newTemplates() (*templates, error) {
	t := &templates{images: make(map[int]image.Image)}
	t.jpg = make([]tmpl, len(classes))
	t.png = make([]tmpl, len(classes))
	t.mp4 = make([]tmpl, videoKinds)
	t.mov = make([]tmpl, videoKinds)
	errs := make([]error, len(classes))
	var wg sync.WaitGroup
	for c := range classes {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(7, uint64(c)))
			img := drawClass(classes[c])
			var jb, pb bytes.Buffer
			if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 88}); err != nil {
				errs[c] = fmt.Errorf("encode template %d: %w", c, err)
				return
			}
			if err := png.Encode(&pb, img); err != nil {
				errs[c] = fmt.Errorf("encode template %d: %w", c, err)
				return
			}
			// Pad so that sizes spread from a few KB to a few hundred KB,
			// the padding living where decoders skip it (COM segments, a
			// private ancillary PNG chunk).
			pad := 1024 + (c*7919%97)*2600
			t.jpg[c] = newTmpl(padJPEG(jb.Bytes(), randBytes(r, pad)))
			t.png[c] = newTmpl(padPNG(pb.Bytes(), randBytes(r, pad/2)))
		})
	}
	for k := range videoKinds {
		wg.Go(func() {
			payload := randBytes(rand.New(rand.NewPCG(8, uint64(k))), 256<<10+k*(320<<10))
			t.mp4[k] = newTmpl(boxes([]byte("isom\x00\x00\x02\x00isomiso2mp41"), payload))
			t.mov[k] = newTmpl(boxes([]byte("qt  \x00\x00\x00\x00qt  "), payload))
		})
	}
	t.pdf = newTmpl([]byte(minimalPDF))
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

func newTmpl(data []byte) tmpl {
	h := md5.New()
	h.Write(data)
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // crypto/md5 always supports this
	}
	return tmpl{data: data, state: state}
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// drawClass paints a class's dominant colour and shape.
func drawClass(c class) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, templateW, templateH))
	for y := range templateH {
		for x := range templateW {
			col := c.bg
			switch c.shape {
			case 0: // disk
				dx, dy := x-templateW/2, y-templateH/2
				if dx*dx+dy*dy < 80*80 {
					col = c.fg
				}
			case 1: // lower band
				if y > templateH*2/3 {
					col = c.fg
				}
			case 2: // diagonal stripes
				if (x+y)/24%2 == 0 {
					col = c.fg
				}
			case 3: // triangle
				if y > 40 && abs(x-templateW/2) < (y-40)*templateW/2/(templateH-40) {
					col = c.fg
				}
			case 4: // square
				if x > 90 && x < 230 && y > 50 && y < 190 {
					col = c.fg
				}
			}
			img.SetRGBA(x, y, col)
		}
	}
	return img
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// padJPEG inserts COM segments holding pad right after the SOI marker.
func padJPEG(j, pad []byte) []byte {
	out := make([]byte, 0, len(j)+len(pad)+len(pad)/65000*4+8)
	out = append(out, j[:2]...)
	for len(pad) > 0 {
		n := min(len(pad), 65533)
		out = append(out, 0xFF, 0xFE, byte((n+2)>>8), byte(n+2))
		out = append(out, pad[:n]...)
		pad = pad[n:]
	}
	return append(out, j[2:]...)
}

// padPNG inserts a private ancillary chunk "apSq" after IHDR (8-byte
// signature + 25-byte IHDR chunk).
func padPNG(p, pad []byte) []byte {
	const ihdrEnd = 8 + 25
	out := make([]byte, 0, len(p)+len(pad)+12)
	out = append(out, p[:ihdrEnd]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(pad)))
	start := len(out)
	out = append(out, "apSq"...)
	out = append(out, pad...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
	return append(out, p[ihdrEnd:]...)
}

// boxes builds an ISO-BMFF stream: an ftyp box with the given body and an
// mdat box with payload.
func boxes(ftyp, payload []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(8+len(ftyp)))
	out = append(out, "ftyp"...)
	out = append(out, ftyp...)
	out = binary.BigEndian.AppendUint32(out, uint32(8+len(payload)))
	out = append(out, "mdat"...)
	return append(out, payload...)
}

const minimalPDF = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n" +
	"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n" +
	"trailer<</Root 1 0 R>>\n%%EOF\n"

// template returns the template a synthetic node's content starts with.
func (t *templates) template(f format, class uint8) *tmpl {
	switch f {
	case fmtJPG, fmtHEIC:
		return &t.jpg[class]
	case fmtPNG:
		return &t.png[class]
	case fmtMP4:
		return &t.mp4[int(class)%videoKinds]
	case fmtMOV:
		return &t.mov[int(class)%videoKinds]
	}
	return &t.pdf
}

// appendTrailer appends the bytes that follow the template for node id.
func appendTrailer(b []byte, f format, id string) []byte {
	switch f {
	case fmtMP4, fmtMOV:
		b = binary.BigEndian.AppendUint32(b, uint32(8+len(trailerText)+len(id)))
		b = append(b, "free"...)
		b = append(b, trailerText...)
		return append(b, id...)
	case fmtPDF:
		b = append(b, '%')
		b = append(b, trailerText...)
		b = append(b, id...)
		return append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, trailerText...)
	b = append(b, id...)
	return append(b, '\n')
}

// trailerLen is len(appendTrailer(nil, f, id)) for a 22-character id.
func trailerLen(f format, id string) int {
	switch f {
	case fmtMP4, fmtMOV:
		return 8 + len(trailerText) + len(id)
	}
	return 2 + len(trailerText) + len(id)
}

// summer finishes md5 sums from saved template states; not safe for
// concurrent use (each generator goroutine has its own).
type summer struct {
	h   hash.Hash
	buf []byte
}

func newSummer() *summer { return &summer{h: md5.New()} }

// sum returns md5(template || trailer) without hashing the template again.
func (s *summer) sum(t *tmpl, f format, id string) (out [16]byte) {
	if err := s.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(t.state); err != nil {
		panic(err) // the state came from MarshalBinary of the same type
	}
	s.buf = appendTrailer(s.buf[:0], f, id)
	s.h.Write(s.buf)
	s.h.Sum(out[:0])
	return out
}

// classImage returns the decoded JPEG template of a class, for thumbnails.
func (t *templates) classImage(c uint8) (image.Image, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if img, ok := t.images[int(c)]; ok {
		return img, nil
	}
	img, err := jpeg.Decode(bytes.NewReader(t.jpg[c].data))
	if err != nil {
		return nil, err
	}
	t.images[int(c)] = img
	return img, nil
}
