package emulator

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"

	"golang.org/x/image/draw"
)

// Near-duplicate families: the ground truth of issue 20 item 4. A family
// is one generated scene (a sky, a horizon, ground, a few shaded objects,
// texture) and copies of it as they happen in a real library: a burst of
// shots with small changes, the photo resized, recompressed, slightly
// cropped, brightened, or a phone screenshot of it. Lookalikes are other
// scenes with the same palette and horizon as a family but their own
// objects: distinct photos that merely look alike. Every photo is a real
// JPEG, uploaded like any file, so its thumbnail is scaled from it.

// FamilyPhoto is one photo AddFamilies uploaded, with its truth.
type FamilyPhoto struct {
	ID, Name string
	// Family is the family's number (0, 1, ...); two photos are near
	// duplicates exactly when their Family is the same. A lookalike has a
	// Family of its own.
	Family int
	// Variant: "original", "burst", "resized", "recompressed", "cropped",
	// "brightened", "screenshot" or "lookalike".
	Variant string
}

// FamilyVariants are the copies a family's original may have.
var FamilyVariants = []string{"burst", "resized", "recompressed", "cropped", "brightened", "screenshot"}

// AddFamilies uploads families near-duplicate families (an original and
// two to five copies each) and one lookalike per family into folder
// (created when missing), the same for the same seed, and returns every
// photo it uploaded with its truth.
func (s *Server) AddFamilies(folder string, families int, seed int64) ([]FamilyPhoto, error) {
	r := rand.New(rand.NewPCG(uint64(seed), 0xFA))
	var out []FamilyPhoto
	seq := 0
	put := func(img image.Image, quality, family int, variant string) error {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
			return err
		}
		seq++
		name := fmt.Sprintf("IMG_%05d.jpg", 7000+seq)
		id, err := s.Upload(folder, name, b.Bytes())
		if err != nil {
			return fmt.Errorf("emulator: upload family photo %s: %w", name, err)
		}
		out = append(out, FamilyPhoto{ID: id, Name: name, Family: family, Variant: variant})
		return nil
	}
	fam := 0
	for range families {
		sc := newScene(r)
		orig := sc.render(r.Uint64())
		if err := put(orig, 90, fam, "original"); err != nil {
			return nil, err
		}
		variants := append([]string(nil), FamilyVariants...)
		r.Shuffle(len(variants), func(i, j int) { variants[i], variants[j] = variants[j], variants[i] })
		for _, v := range variants[:2+r.IntN(4)] {
			var img image.Image = orig
			q := 90
			switch v {
			case "burst":
				img = sc.nudge(r).render(r.Uint64())
			case "resized":
				img = resize(orig, orig.Bounds().Dx()*(40+r.IntN(30))/100)
			case "recompressed":
				q = 25 + r.IntN(20)
			case "cropped":
				img = crop(orig, 0.02+0.03*r.Float64(), r)
			case "brightened":
				img = brighten(orig, 1.15+0.2*r.Float64())
			case "screenshot":
				img = screenshot(orig, r)
			}
			if err := put(img, q, fam, v); err != nil {
				return nil, err
			}
		}
		fam++
		look := sc.lookalike(r)
		if err := put(look.render(r.Uint64()), 90, fam, "lookalike"); err != nil {
			return nil, err
		}
		fam++
	}
	return out, nil
}

const sceneW, sceneH = 480, 360

// blob is one object of a scene: a shaded ellipse or rectangle.
type blob struct {
	x, y, rx, ry float64
	col          [3]float64
	rect         bool
}

// scene is the recipe of one generated photo.
type scene struct {
	sky, sky2, ground, ground2 [3]float64
	horizon                    float64 // fraction of the height
	waves                      [4][4]float64
	blobs                      []blob
}

func randColor(r *rand.Rand) [3]float64 {
	return [3]float64{20 + 215*r.Float64(), 20 + 215*r.Float64(), 20 + 215*r.Float64()}
}

func newScene(r *rand.Rand) *scene {
	sc := &scene{sky: randColor(r), sky2: randColor(r), ground: randColor(r), ground2: randColor(r), horizon: 0.3 + 0.4*r.Float64()}
	for k := range sc.waves {
		sc.waves[k] = [4]float64{r.Float64()*0.05 + 0.01, r.Float64()*0.05 + 0.01, r.Float64() * 6.3, 10 + 20*r.Float64()}
	}
	sc.blobs = newBlobs(r)
	return sc
}

func newBlobs(r *rand.Rand) []blob {
	bs := make([]blob, 3+r.IntN(4))
	for k := range bs {
		bs[k] = blob{x: r.Float64() * sceneW, y: r.Float64() * sceneH, rx: 30 + 90*r.Float64(), ry: 30 + 90*r.Float64(),
			col: randColor(r), rect: r.IntN(3) == 0}
	}
	return bs
}

// nudge returns the next shot of a burst: the objects moved a little.
func (sc *scene) nudge(r *rand.Rand) *scene {
	n := *sc
	n.blobs = append([]blob(nil), sc.blobs...)
	for k := range n.blobs {
		n.blobs[k].x += (r.Float64() - 0.5) * 16
		n.blobs[k].y += (r.Float64() - 0.5) * 12
	}
	return &n
}

// lookalike returns another photo of the same place: this scene's sky,
// horizon and ground, its first object where it was, the others in other
// places.
func (sc *scene) lookalike(r *rand.Rand) *scene {
	n := *sc
	n.blobs = newBlobs(r)
	n.blobs[0] = sc.blobs[0]
	for k := range n.blobs {
		n.blobs[k].col = sc.blobs[k%len(sc.blobs)].col
	}
	return &n
}

func (sc *scene) render(noise uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, sceneW, sceneH))
	nr := rand.New(rand.NewPCG(noise, 3))
	hy := sc.horizon * sceneH
	for y := range sceneH {
		for x := range sceneW {
			fx, fy := float64(x), float64(y)
			var c [3]float64
			wave := 0.0
			for _, w := range sc.waves {
				wave += math.Sin(fx*w[0]+fy*w[1]+w[2]) * w[3] / 4
			}
			if fy < hy+wave {
				t := fy / hy
				for i := range c {
					c[i] = sc.sky[i]*(1-t) + sc.sky2[i]*t
				}
			} else {
				t := (fy - hy) / (sceneH - hy)
				for i := range c {
					c[i] = sc.ground[i]*(1-t) + sc.ground2[i]*t + wave
				}
			}
			for _, b := range sc.blobs {
				dx, dy := (fx-b.x)/b.rx, (fy-b.y)/b.ry
				in := dx*dx+dy*dy < 1
				if b.rect {
					in = math.Abs(dx) < 0.8 && math.Abs(dy) < 0.8
				}
				if in {
					shade := 1 - 0.35*(dx+dy+2)/4
					for i := range c {
						c[i] = b.col[i] * shade
					}
				}
			}
			n := (nr.Float64() - 0.5) * 14
			img.SetRGBA(x, y, color.RGBA{clamp8(c[0] + n), clamp8(c[1] + n), clamp8(c[2] + n), 255})
		}
	}
	return img
}

func clamp8(v float64) uint8 {
	return uint8(math.Max(0, math.Min(255, v)))
}

func resize(img image.Image, w int) image.Image {
	b := img.Bounds()
	h := max(1, b.Dy()*w/b.Dx())
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// crop cuts about frac of the width and height, unevenly between the sides.
func crop(img image.Image, frac float64, r *rand.Rand) image.Image {
	b := img.Bounds()
	cw, ch := int(frac*float64(b.Dx())), int(frac*float64(b.Dy()))
	left, top := r.IntN(cw+1), r.IntN(ch+1)
	rect := image.Rect(left, top, b.Dx()-(cw-left), b.Dy()-(ch-top))
	dst := image.NewRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	draw.Draw(dst, dst.Bounds(), img, rect.Min, draw.Src)
	return dst
}

func brighten(img image.Image, f float64) image.Image {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			cr, cg, cb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			dst.SetRGBA(x, y, color.RGBA{clamp8(float64(cr>>8)*f + 8), clamp8(float64(cg>>8)*f + 8), clamp8(float64(cb>>8)*f + 8), 255})
		}
	}
	return dst
}

// screenshot draws img as a phone shows it: a portrait screen, a status
// bar with the time and icons at the top, the photo across the middle,
// black around it, and the navigation bar at the bottom.
func screenshot(img image.Image, r *rand.Rand) image.Image {
	const w, h = 390, 844
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	bg := color.RGBA{0, 0, 0, 255}
	if r.IntN(2) == 0 {
		bg = color.RGBA{250, 250, 250, 255}
	}
	draw.Draw(dst, dst.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	fg := color.RGBA{255 - bg.R, 255 - bg.G, 255 - bg.B, 255}
	mark := func(x0, y0, x1, y1 int) {
		draw.Draw(dst, image.Rect(x0, y0, x1, y1), image.NewUniform(fg), image.Point{}, draw.Src)
	}
	// Status bar: the time on the left, signal and battery on the right.
	for k := range 4 {
		mark(24+k*9, 18, 30+k*9, 32)
	}
	mark(320, 20, 334, 30)
	mark(340, 20, 364, 30)
	b := img.Bounds()
	ph := b.Dy() * w / b.Dx()
	top := (h - ph) / 2
	draw.ApproxBiLinear.Scale(dst, image.Rect(0, top, w, top+ph), img, b, draw.Src, nil)
	// Navigation: share, favourite, info, trash icons and the home bar.
	for k := range 4 {
		x := 40 + k*95
		mark(x, h-110, x+24, h-86)
	}
	mark(130, h-20, 260, h-14)
	return dst
}
