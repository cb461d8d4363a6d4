package vision

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// The TurboJPEG API of libjpeg-turbo 2.x (also exported by 3.x), declared
// here so that building needs no -dev package: the library is opened with
// dlopen at run time when present.
typedef void *tjhandle;
static tjhandle (*p_init)(void);
static int (*p_header)(tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *);
static int (*p_decompress)(tjhandle, const unsigned char *, unsigned long, unsigned char *, int, int, int, int, int);
static int (*p_destroy)(tjhandle);
static char *(*p_errstr)(tjhandle);

static const char *tj_load(const char *name) {
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	p_init = (tjhandle (*)(void))dlsym(h, "tjInitDecompress");
	p_header = (int (*)(tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *))dlsym(h, "tjDecompressHeader3");
	p_decompress = (int (*)(tjhandle, const unsigned char *, unsigned long, unsigned char *, int, int, int, int, int))dlsym(h, "tjDecompress2");
	p_destroy = (int (*)(tjhandle))dlsym(h, "tjDestroy");
	p_errstr = (char *(*)(tjhandle))dlsym(h, "tjGetErrorStr2");
	if (!p_init || !p_header || !p_decompress || !p_destroy || !p_errstr) {
		dlclose(h);
		return "the library lacks the TurboJPEG 2 functions";
	}
	return NULL;
}

static tjhandle tj_init(void) { return p_init(); }
static int tj_destroy(tjhandle h) { return p_destroy(h); }
static const char *tj_err(tjhandle h) { return p_errstr(h); }
static int tj_header(tjhandle h, const unsigned char *buf, unsigned long n, int *w, int *ht) {
	int subsamp, colorspace;
	return p_header(h, buf, n, w, ht, &subsamp, &colorspace);
}
// Pixel format TJPF_RGB is 0; flags 0 keep the accurate DCT.
static int tj_decode(tjhandle h, const unsigned char *buf, unsigned long n, unsigned char *dst, int w, int ht) {
	return p_decompress(h, buf, n, dst, w, 0, ht, 0, 0);
}
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// turbo decodes JPEGs with libjpeg-turbo, shrinking by 1/8..8/8 in the DCT
// while decoding: a 12-megapixel photo that the model sees at 256 px is
// decoded at 1/8 scale, several times faster than Go's image/jpeg.
type turbo struct {
	path string
}

var (
	turboOnce sync.Once
	turboLib  *turbo
	turboErr  string
)

// turboNames are the libjpeg-turbo sonames tried, newest first (Debian:
// libturbojpeg0; Fedora: turbojpeg).
var turboNames = []string{"libturbojpeg.so.0", "libturbojpeg.so"}

// turboJPEG returns the libjpeg-turbo decoder, or nil when the library is
// missing or disabled by APSQL_TURBOJPEG=off. APSQL_TURBOJPEG=PATH names the
// library file to use.
func turboJPEG() *turbo {
	turboOnce.Do(func() {
		names := turboNames
		switch v := os.Getenv("APSQL_TURBOJPEG"); v {
		case "off", "0", "false":
			turboErr = "disabled by APSQL_TURBOJPEG=off"
			return
		case "":
		default:
			names = []string{v}
		}
		for _, n := range names {
			cn := C.CString(n)
			msg := C.tj_load(cn)
			C.free(unsafe.Pointer(cn))
			if msg == nil {
				turboLib = &turbo{path: n}
				return
			}
			turboErr = C.GoString(msg)
		}
	})
	return turboLib
}

// JPEGDecoder says which JPEG decoder is in use, for logs and benchmark
// records: "libturbojpeg (NAME)" or "Go image/jpeg (REASON)".
func JPEGDecoder() string {
	if t := turboJPEG(); t != nil {
		return "libturbojpeg (" + t.path + ")"
	}
	return "Go image/jpeg (libturbojpeg: " + turboErr + ")"
}

// decode decodes data at the smallest n/8 scale whose size is still at
// least minSize(w, h) on both axes.
func (t *turbo) decode(data []byte, minSize func(w, h int) (int, int)) (rgb, error) {
	h := C.tj_init()
	if h == nil {
		return rgb{}, fmt.Errorf("jpeg: libturbojpeg could not start a decoder")
	}
	defer C.tj_destroy(h)
	buf := (*C.uchar)(unsafe.Pointer(&data[0]))
	n := C.ulong(len(data))
	var cw, ch C.int
	if C.tj_header(h, buf, n, &cw, &ch) != 0 {
		return rgb{}, fmt.Errorf("jpeg: %s", C.GoString(C.tj_err(h)))
	}
	w, ht := int(cw), int(ch)
	if err := checkSize(w, ht); err != nil {
		return rgb{}, err
	}
	sw, sh := w, ht
	if minSize != nil {
		mw, mh := minSize(w, ht)
		for num := 1; num < 8; num++ {
			// TJSCALED: ceil(dim * num / 8).
			tw, th := (w*num+7)/8, (ht*num+7)/8
			if tw >= mw && th >= mh {
				sw, sh = tw, th
				break
			}
		}
	}
	img := rgb{w: sw, h: sh, pix: make([]uint8, 3*sw*sh)}
	if C.tj_decode(h, buf, n, (*C.uchar)(unsafe.Pointer(&img.pix[0])), C.int(sw), C.int(sh)) != 0 {
		// libjpeg-turbo reports recoverable damage (a truncated file) as a
		// failure after decoding what it could; treat it as an error.
		return rgb{}, fmt.Errorf("jpeg: %s", C.GoString(C.tj_err(h)))
	}
	return img, nil
}
