package dupes

// The JPEG thumbnails a SYNC HASHES fetches are decoded by libjpeg-turbo
// (the system's libjpeg, SIMD inside), straight to their luminance: the
// hash reads nothing else, so the chroma planes are parsed but never
// transformed, upsampled or converted. image/jpeg decodes all three
// planes in ~50 µs for a 64-pixel thumbnail, as long as a thumbnail takes
// to fetch at zero latency; libjpeg-turbo's luminance takes a fraction of
// it. Anything libjpeg is not perfectly happy with (an error, a single
// warning such as a premature end or corrupt entropy data, a colour space
// other than YCbCr or grey) goes the pure Go road in Decode, so the
// verdict on a damaged thumbnail and its error read as they always did.

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <jpeglib.h>

struct apsql_jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	int warnings;
};

static void apsql_error_exit(j_common_ptr cinfo) {
	struct apsql_jerr *e = (struct apsql_jerr *)cinfo->err;
	longjmp(e->jump, 1);
}

static void apsql_emit_message(j_common_ptr cinfo, int level) {
	struct apsql_jerr *e = (struct apsql_jerr *)cinfo->err;
	if (level < 0) {
		e->warnings++;
	}
}

static void apsql_output_message(j_common_ptr cinfo) {}

enum { APSQL_OK = 0, APSQL_REFUSED = 1 };

// apsql_decode_luma decodes the JPEG in data[0:n] to its luminance, w×h
// bytes row-major in out (room for cap bytes). It answers APSQL_REFUSED
// on any error or warning, a colour space that is neither YCbCr nor grey,
// or a size that does not fit out.
static int apsql_decode_luma(const unsigned char *data, unsigned long n,
		unsigned char *out, long cap, int *w, int *h) {
	struct jpeg_decompress_struct cinfo;
	struct apsql_jerr err;
	cinfo.err = jpeg_std_error(&err.pub);
	err.pub.error_exit = apsql_error_exit;
	err.pub.emit_message = apsql_emit_message;
	err.pub.output_message = apsql_output_message;
	err.warnings = 0;
	if (setjmp(err.jump)) {
		jpeg_destroy_decompress(&cinfo);
		return APSQL_REFUSED;
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, data, n);
	if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK ||
			(cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_GRAYSCALE)) {
		jpeg_destroy_decompress(&cinfo);
		return APSQL_REFUSED;
	}
	*w = (int)cinfo.image_width;
	*h = (int)cinfo.image_height;
	if ((long)cinfo.image_width * (long)cinfo.image_height > cap) {
		jpeg_destroy_decompress(&cinfo);
		return APSQL_REFUSED;
	}
	cinfo.out_color_space = JCS_GRAYSCALE;
	cinfo.dct_method = JDCT_ISLOW;
	jpeg_start_decompress(&cinfo);
	if (cinfo.output_width != cinfo.image_width || cinfo.output_height != cinfo.image_height ||
			cinfo.output_components != 1) {
		jpeg_destroy_decompress(&cinfo);
		return APSQL_REFUSED;
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = out + (long)cinfo.output_scanline * (long)cinfo.output_width;
		if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
			jpeg_destroy_decompress(&cinfo);
			return APSQL_REFUSED;
		}
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	return err.warnings ? APSQL_REFUSED : APSQL_OK;
}
*/
import "C"

import "unsafe"

// lumaJPEG decodes a JPEG's luminance into h.grey with libjpeg; ok is
// false when libjpeg refuses it or so much as warns (Decode then decides).
// The caller has checked the frame header's size against MaxPixels.
func (h *Hasher) lumaJPEG(data []byte, w, ht int) (grey []byte, ok bool) {
	if len(data) == 0 || w <= 0 || ht <= 0 { // nothing to point C at
		return nil, false
	}
	grey = growT(&h.grey, w*ht)
	var cw, ch C.int
	rc := C.apsql_decode_luma((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)),
		(*C.uchar)(unsafe.Pointer(&grey[0])), C.long(len(grey)), &cw, &ch)
	if rc != C.APSQL_OK || int(cw) != w || int(ch) != ht {
		return nil, false
	}
	return grey, true
}
