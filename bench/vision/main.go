// Command vision measures LABEL's throughput: images per second end to end
// (read, decode, resize, batch, infer, choose, copy) with vision.LabelDir,
// against a ceiling measured in the same run: ONNX Runtime's inference-only
// rate for the same model, batch size and thread count on a ready tensor.
//
// Usage (from the repository root, after scripts/install-onnxruntime.sh):
//
//	go run ./bench/vision -model ../shared/data/models/edgenext_small-random.onnx \
//	    -size 448 -batches 4,32 -n 256
//	go run ./bench/vision -size 12mp -batches 4 -n 96
//
// The model's config (NAME.json, NAME.timm.json or model.json beside it)
// gives the preprocessing. Set APSQL_TURBOJPEG=off to measure Go's JPEG
// decoder instead of libjpeg-turbo.
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/apsql/apsql/vision"
)

func main() {
	modelPath := flag.String("model", "../shared/data/models/edgenext_small-random.onnx", "ONNX model")
	size := flag.String("size", "448", "image size: longer side in pixels (4:3), or 12mp for 4000x3000")
	batches := flag.String("batches", "4,32", "comma-separated batch sizes")
	n := flag.Int("n", 256, "images per end-to-end run")
	distinct := flag.Int("distinct", 0, "distinct images to encode (the rest are hard links); 0 means n")
	threads := flag.Int("threads", 0, "ONNX Runtime intra-op threads (0: its default, one per core)")
	workers := flag.Int("workers", 0, "decode workers (0: one per core)")
	seconds := flag.Float64("seconds", 10, "duration of each inference-only measurement")
	rounds := flag.Int("rounds", 3, "alternating measurements of each kind; the best counts")
	flag.Parse()

	w, h := 448, 336
	if *size == "12mp" {
		w, h = 4000, 3000
	} else if v, err := strconv.Atoi(*size); err == nil {
		w, h = v, v*3/4
	} else {
		log.Fatalf("bad -size %q", *size)
	}
	if *distinct <= 0 || *distinct > *n {
		*distinct = *n
	}

	dir, err := os.MkdirTemp("", "apsql-bench-vision-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// Interrupted, stop measuring and still remove the images.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	check := func(err error) {
		if err == nil && ctx.Err() == nil {
			return
		}
		os.RemoveAll(dir)
		if ctx.Err() != nil {
			os.Exit(130)
		}
		log.Fatal(err)
	}
	in := filepath.Join(dir, "in")
	var bytes int64
	t0 := time.Now()
	for i := range *n {
		check(nil)
		p := filepath.Join(in, fmt.Sprintf("img%05d.jpg", i))
		if i >= *distinct {
			check(os.Link(filepath.Join(in, fmt.Sprintf("img%05d.jpg", i%*distinct)), p))
			continue
		}
		bytes += writeJPEG(p, w, h, uint64(i))
	}
	fmt.Printf("# %d JPEGs %dx%d (%d distinct, %.0f KB each), made in %.1fs\n",
		*n, w, h, *distinct, float64(bytes)/float64(*distinct)/1024, time.Since(t0).Seconds())
	fmt.Printf("# %d cores, GOMAXPROCS %d, JPEG decoder: %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), vision.JPEGDecoder())

	for _, bs := range strings.Split(*batches, ",") {
		batch, err := strconv.Atoi(strings.TrimSpace(bs))
		if err != nil || batch <= 0 {
			log.Fatalf("bad batch %q", bs)
		}
		opts := vision.DefaultOptions()
		opts.Batch, opts.Threads = batch, *threads
		if *workers > 0 {
			opts.Workers = *workers
		}
		m, err := vision.LoadModel(*modelPath, opts)
		check(err)
		cw, ch := m.InputSize()
		_, err = m.Classify(ctx, warmup(in, batch), opts)
		check(err)
		// The machine may be shared: alternate the two measurements and
		// keep the best of each, since interference only slows things down.
		var ceils, e2es, ceilCPU, e2eCPU []float64
		var sum vision.Summary
		for range *rounds {
			c0 := cpuTime()
			rate, images := ceiling(ctx, *modelPath, batch, cw, ch, *threads, *seconds)
			check(nil)
			ceils = append(ceils, rate)
			ceilCPU = append(ceilCPU, 1000*(cpuTime()-c0)/float64(images))
			c0 = cpuTime()
			sum, err = m.LabelDir(ctx, in, filepath.Join(dir, "out"), opts, nil)
			check(err)
			e2es = append(e2es, float64(sum.Files)/sum.Elapsed.Seconds())
			e2eCPU = append(e2eCPU, 1000*(cpuTime()-c0)/float64(sum.Files))
		}
		m.Close()
		ceil, e2e := slices.Max(ceils), slices.Max(e2es)
		fmt.Printf("batch %2d: end-to-end %.2f images/s %s; inference-only %.2f images/s %s; ratio %.0f%% (%d files, %d labeled, %d skipped)\n",
			batch, e2e, fmtAll(e2es), ceil, fmtAll(ceils), 100*e2e/ceil, sum.Files, sum.Labeled, sum.Skipped)
		fmt.Printf("          CPU ms/image: end-to-end %s, inference-only %s (best ratio %.0f%%)\n",
			fmtAll(e2eCPU), fmtAll(ceilCPU), 100*slices.Min(ceilCPU)/slices.Min(e2eCPU))
	}
}

// cpuTime is the process's user+system CPU time in seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func fmtAll(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return "(runs " + strings.Join(s, ", ") + ")"
}

// warmup returns one batch of the test images, to run once before timing
// (ONNX Runtime's first run allocates and plans).
func warmup(in string, batch int) []vision.Image {
	data, err := os.ReadFile(filepath.Join(in, "img00000.jpg"))
	if err != nil {
		log.Fatal(err)
	}
	imgs := make([]vision.Image, batch)
	for i := range imgs {
		imgs[i] = vision.Image{ID: strconv.Itoa(i), Data: data}
	}
	return imgs
}

// ceiling measures ONNX Runtime alone: a session with the same thread count
// runs the model on one ready [batch,3,h,w] tensor for about secs seconds.
func ceiling(ctx context.Context, path string, batch, w, h, threads int, secs float64) (rate float64, images int) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		log.Fatal(err)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		log.Fatal(err)
	}
	defer so.Destroy()
	if threads > 0 {
		so.SetIntraOpNumThreads(threads)
	}
	s, err := ort.NewDynamicAdvancedSession(path, []string{ins[0].Name}, []string{outs[0].Name}, so)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Destroy()
	data := make([]float32, batch*3*w*h)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	t, err := ort.NewTensor(ort.NewShape(int64(batch), 3, int64(h), int64(w)), data)
	if err != nil {
		log.Fatal(err)
	}
	defer t.Destroy()
	run := func() {
		o := []ort.Value{nil}
		if err := s.Run([]ort.Value{t}, o); err != nil {
			log.Fatal(err)
		}
		o[0].Destroy()
	}
	run() // warm up
	start := time.Now()
	for time.Since(start).Seconds() < secs && ctx.Err() == nil {
		run()
		images += batch
	}
	return float64(images) / time.Since(start).Seconds(), images
}

// writeJPEG writes a photo-like w×h JPEG (smooth gradients, soft blobs and
// fine noise, quality 90) and returns its size.
func writeJPEG(path string, w, h int, seed uint64) int64 {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		log.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	type blob struct{ x, y, rad, r, g, b float64 }
	var blobs []blob
	for range 12 {
		blobs = append(blobs, blob{r.Float64() * float64(w), r.Float64() * float64(h),
			(0.05 + 0.2*r.Float64()) * float64(w), r.Float64() * 255, r.Float64() * 255, r.Float64() * 255})
	}
	base := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
	for y := range h {
		for x := range w {
			c := base
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			c[0] = c[0]*(1-fx) + 255*fx*0.3
			c[2] = c[2]*(1-fy) + 255*fy*0.3
			for _, b := range blobs {
				d := math.Hypot(float64(x)-b.x, float64(y)-b.y) / b.rad
				if d < 1 {
					a := (1 - d) * (1 - d)
					c[0] = c[0]*(1-a) + b.r*a
					c[1] = c[1]*(1-a) + b.g*a
					c[2] = c[2]*(1-a) + b.b*a
				}
			}
			noise := r.NormFloat64() * 6
			img.SetRGBA(x, y, color.RGBA{clamp(c[0] + noise), clamp(c[1] + noise), clamp(c[2] + noise), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 90}); err != nil {
		log.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	return st.Size()
}

func clamp(v float64) uint8 { return uint8(math.Max(0, math.Min(255, v))) }
