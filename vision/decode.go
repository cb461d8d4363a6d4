package vision

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// ErrUnsupported marks images that cannot be decoded because of their format
// (HEIC, RAW, not an image at all); such files are skipped, not failed.
var ErrUnsupported = errors.New("unsupported image format")

// maxPixels bounds the size of an image to decode (a guard against
// decompression bombs): 200 megapixels, beyond any camera photo.
const maxPixels = 200 << 20

// forceGoJPEG makes decode use image/jpeg even when libjpeg-turbo is
// present (tests compare the two).
var forceGoJPEG bool

// format is an image format recognised by its first bytes.
type format string

// sniff recognises an image format from its magic bytes; the file name's
// extension is not trusted.
func sniff(b []byte) format {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif"
	case bytes.HasPrefix(b, []byte("BM")):
		return "bmp"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "tiff"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
			return "heic"
		case "avif", "avis":
			return "avif"
		}
		return "video"
	}
	return ""
}

// decode decodes an encoded image into packed RGB. minSize says, for the
// image's full size, the smallest size worth decoding to: a decoder that can
// shrink while decoding (libjpeg-turbo's DCT scaling) stops above it.
// Errors wrapping ErrUnsupported mean the format is not supported.
func decode(data []byte, minSize func(w, h int) (int, int)) (img rgb, err error) {
	defer func() {
		// Decoders of untrusted files must never take the process down.
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder crashed: %v", r)
		}
	}()
	f := sniff(data)
	var decodeFn func(io.Reader) (image.Image, error)
	var configFn func(io.Reader) (image.Config, error)
	switch f {
	case "jpeg":
		if turbo := turboJPEG(); turbo != nil && !forceGoJPEG {
			img, err := turbo.decode(data, minSize)
			if err == nil {
				return img, nil
			}
			// Go's decoder handles a few files libjpeg-turbo refuses with
			// RGB output (CMYK/YCCK); it gets a second try.
		}
		decodeFn, configFn = jpeg.Decode, jpeg.DecodeConfig
	case "png":
		decodeFn, configFn = png.Decode, png.DecodeConfig
	case "gif":
		decodeFn, configFn = gif.Decode, gif.DecodeConfig
	case "bmp":
		decodeFn, configFn = bmp.Decode, bmp.DecodeConfig
	case "webp":
		decodeFn, configFn = webp.Decode, webp.DecodeConfig
	case "tiff":
		decodeFn, configFn = tiff.Decode, tiff.DecodeConfig
	case "heic", "avif":
		return rgb{}, fmt.Errorf("%w: %s images cannot be decoded; convert them to JPEG first", ErrUnsupported, strings.ToUpper(string(f)))
	case "video":
		return rgb{}, fmt.Errorf("%w: a video or other ISO media file, not a still image", ErrUnsupported)
	default:
		return rgb{}, fmt.Errorf("%w: not a JPEG, PNG, GIF, BMP, WebP or TIFF image", ErrUnsupported)
	}
	cfg, err := configFn(bytes.NewReader(data))
	if err != nil {
		return rgb{}, fmt.Errorf("%s: %w", f, err)
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return rgb{}, err
	}
	m, err := decodeFn(bytes.NewReader(data))
	if err != nil {
		return rgb{}, fmt.Errorf("%s: %w", f, err)
	}
	return toRGB(m), nil
}

func checkSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("image has no pixels (%dx%d)", w, h)
	}
	if int64(w)*int64(h) > maxPixels {
		return fmt.Errorf("image is too large to decode (%dx%d)", w, h)
	}
	return nil
}

// toRGB converts a decoded image to packed RGB. Alpha is dropped without
// compositing, as Pillow's convert("RGB") does.
func toRGB(m image.Image) rgb {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := rgb{w: w, h: h, pix: make([]uint8, 3*w*h)}
	px := out.pix
	switch m := m.(type) {
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o := 3 * (y*w + x)
				px[o], px[o+1], px[o+2] = r, g, bl
			}
		}
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				o := 3 * (y*w + x)
				px[o], px[o+1], px[o+2] = v, v, v
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				o := 3 * (y*w + x)
				px[o], px[o+1], px[o+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	case *image.RGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				o := 3 * (y*w + x)
				r, g, bl, a := row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]
				if a != 0xff && a != 0 {
					// Premultiplied: recover the stored colour.
					r, g, bl = unpremul(r, a), unpremul(g, a), unpremul(bl, a)
				}
				px[o], px[o+1], px[o+2] = r, g, bl
			}
		}
	case *image.Paletted:
		pal := make([][3]uint8, len(m.Palette))
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				o := 3 * (y*w + x)
				if int(v) < len(pal) {
					px[o], px[o+1], px[o+2] = pal[v][0], pal[v][1], pal[v][2]
				}
			}
		}
	default:
		for y := range h {
			for x := range w {
				n := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				o := 3 * (y*w + x)
				px[o], px[o+1], px[o+2] = n.R, n.G, n.B
			}
		}
	}
	return out
}

func unpremul(v, a uint8) uint8 {
	return uint8(min((uint32(v)*0xff+uint32(a)/2)/uint32(a), 0xff))
}
