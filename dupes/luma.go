// Copyright 2009 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE-go file.

// This file is the decoder of Go 1.26's image/jpeg (reader.go, huffman.go,
// scan.go and the inverse DCT of dct.go) cut down to what a perceptual
// hash reads: the luminance plane of a sequential JPEG. It decodes every
// scan's Huffman data as image/jpeg does, but reads the bits from the
// bytes up to 64 at a time (image/jpeg: one byte at a time, through a
// buffer), runs the inverse DCT only on the Y blocks, dequantizes while
// decoding, skips the rows of a block that are all zero (the same
// integers, fewer operations) and allocates nothing once its buffers have
// grown. Its plane is image/jpeg's Y plane byte for byte, and what it
// accepts image/jpeg accepts (TestLumaMatchesImageJPEG, TestLumaMutations,
// FuzzLuma), so hashes do not change. Anything else (progressive, CMYK,
// RGB, 12-bit, or any error) returns an error, and the caller decodes with
// image/jpeg, which also words the error for users.

package dupes

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// errLumaFallback: lumaDecoder leaves this JPEG to image/jpeg.
var errLumaFallback = errors.New("jpeg: not decoded by lumaDecoder")

// lumaError is a malformed JPEG as lumaDecoder sees it (the caller asks
// image/jpeg again, which words the error for users).
type lumaError string

func (e lumaError) Error() string { return "jpeg: " + string(e) }

var (
	errLumaShort      = lumaError("unexpected end of data")
	errLumaShortHuff  = lumaError("short Huffman data")
	errLumaBadHuffman = lumaError("bad Huffman code")
)

const (
	jBlockSize = 64
	jDCTable   = 0
	jACTable   = 1
	jMaxTc     = 1
	jMaxTh     = 3
	jMaxTq     = 3
	jMaxComp   = 4

	jSOF0 = 0xc0 // Start Of Frame (Baseline Sequential).
	jSOF1 = 0xc1 // Start Of Frame (Extended Sequential).
	jSOF2 = 0xc2 // Start Of Frame (Progressive).
	jDHT  = 0xc4 // Define Huffman Table.
	jRST0 = 0xd0 // ReSTart (0).
	jRST7 = 0xd7 // ReSTart (7).
	jSOI  = 0xd8 // Start Of Image.
	jEOI  = 0xd9 // End Of Image.
	jSOS  = 0xda // Start Of Scan.
	jDQT  = 0xdb // Define Quantization Table.
	jDRI  = 0xdd // Define Restart Interval.
	jCOM  = 0xfe // COMment.
	jAPP0 = 0xe0
	jAP14 = 0xee
	jAP15 = 0xef

	jMaxCodeLength = 16
	jMaxNCodes     = 256
	jLutSize       = 8
)

// jUnzig maps from the zig-zag ordering to the natural ordering.
var jUnzig = [jBlockSize]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

type jBlock [jBlockSize]int32

type jComponent struct {
	h, v int   // sampling factors
	c    uint8 // component identifier
	tq   uint8 // quantization table selector
}

// jHuffman is a Huffman decoder, specified in section C.
type jHuffman struct {
	nCodes      int32
	lut         [1 << jLutSize]uint16
	vals        [jMaxNCodes]uint8
	minCodes    [jMaxCodeLength]int32
	maxCodes    [jMaxCodeLength]int32
	valsIndices [jMaxCodeLength]int32
}

// lumaDecoder decodes the Y plane of sequential JPEGs; reuse one for many:
// its plane and its Huffman tables are kept from one image to the next
// (thumbnails of one service have the same tables: they are built once).
type lumaDecoder struct {
	lumaImage // the state of one image, zeroed by decode

	huff    [jMaxTc + 1][jMaxTh + 1]jHuffman
	huffKey [jMaxTc + 1][jMaxTh + 1][]byte // the DHT bytes each was built from
	// fastAC[th] decodes, from the next 9 bits, an AC code and its extra
	// bits at once when they fit: value<<16 | run<<8 | bits used (0: no).
	fastAC [jMaxTh + 1][1 << 9]int32

	pix []byte // the luminance plane: stride×rows bytes, the image top-left
}

// lumaImage is what lumaDecoder knows of the image at hand.
type lumaImage struct {
	data []byte // the whole JPEG
	i    int    // the next byte of data

	// The entropy-coded bits of a scan, read ahead up to 64 at a time
	// (image/jpeg reads a byte at a time): the top nbits of acc, MSB
	// first. stop is set at a marker or the end of data, where the bits
	// end: a symbol that needs more fails, as in image/jpeg.
	acc   uint64
	nbits uint
	stop  bool

	width, height int
	nComp         int
	ri            int // restart interval
	baseline      bool
	jfif          bool
	adobeValid    bool
	adobe         uint8
	eobRun        uint16

	comp    [jMaxComp]jComponent
	huffSet [jMaxTc + 1][jMaxTh + 1]bool // this image defined the table
	quant   [jMaxTq + 1]jBlock           // in zig-zag order
	tmp     [2 * jBlockSize]byte

	stride  int // of pix
	havePix bool
}

// decode reads data's luminance into d.pix (d.width×d.height pixels at
// d.stride). Any error means: ask image/jpeg.
func (d *lumaDecoder) decode(data []byte) error {
	d.lumaImage = lumaImage{data: data}

	if err := d.readFull(d.tmp[:2]); err != nil {
		return err
	}
	if d.tmp[0] != 0xff || d.tmp[1] != jSOI {
		return lumaError("missing SOI marker")
	}
	for {
		err := d.readFull(d.tmp[:2])
		if err != nil {
			return err
		}
		for d.tmp[0] != 0xff { // extraneous data, ignored as image/jpeg does
			d.tmp[0] = d.tmp[1]
			if d.tmp[1], err = d.readByte(); err != nil {
				return err
			}
		}
		marker := d.tmp[1]
		if marker == 0 {
			continue
		}
		for marker == 0xff {
			if marker, err = d.readByte(); err != nil {
				return err
			}
		}
		if marker == jEOI {
			break
		}
		if jRST0 <= marker && marker <= jRST7 {
			continue
		}
		if err = d.readFull(d.tmp[:2]); err != nil {
			return err
		}
		n := int(d.tmp[0])<<8 + int(d.tmp[1]) - 2
		if n < 0 {
			return lumaError("short segment length")
		}
		switch marker {
		case jSOF0, jSOF1:
			d.baseline = marker == jSOF0
			err = d.processSOF(n)
		case jSOF2:
			return errLumaFallback
		case jDHT:
			err = d.processDHT(n)
		case jDQT:
			err = d.processDQT(n)
		case jSOS:
			err = d.processSOS(n)
		case jDRI:
			err = d.processDRI(n)
		case jAPP0:
			err = d.processApp0(n)
		case jAP14:
			err = d.processApp14(n)
		default:
			if jAPP0 <= marker && marker <= jAP15 || marker == jCOM {
				err = d.ignore(n)
			} else {
				err = lumaError("unknown marker")
			}
		}
		if err != nil {
			return err
		}
	}
	if !d.havePix {
		return lumaError("missing SOS marker")
	}
	if d.nComp == 3 && d.isRGB() {
		return errLumaFallback // image/jpeg makes it RGBA: luminance from R, G, B
	}
	return nil
}

func (d *lumaDecoder) isRGB() bool {
	if d.jfif {
		return false
	}
	if d.adobeValid && d.adobe == 0 {
		return true
	}
	return d.comp[0].c == 'R' && d.comp[1].c == 'G' && d.comp[2].c == 'B'
}

func (d *lumaDecoder) readByte() (byte, error) {
	if d.i >= len(d.data) {
		return 0, errLumaShort
	}
	x := d.data[d.i]
	d.i++
	return x, nil
}

func (d *lumaDecoder) readFull(p []byte) error {
	n := copy(p, d.data[d.i:])
	d.i += n
	if n < len(p) {
		return errLumaShort
	}
	return nil
}

func (d *lumaDecoder) ignore(n int) error {
	if n > len(d.data)-d.i {
		d.i = len(d.data)
		return errLumaShort
	}
	d.i += n
	return nil
}

// processSOF reads a frame header (section B.2.2), accepting what
// image/jpeg accepts for one and three components.
func (d *lumaDecoder) processSOF(n int) error {
	if d.nComp != 0 {
		return lumaError("multiple SOF markers")
	}
	switch n {
	case 6 + 3*1:
		d.nComp = 1
	case 6 + 3*3:
		d.nComp = 3
	default:
		return errLumaFallback // four components (CMYK) or an error
	}
	if err := d.readFull(d.tmp[:n]); err != nil {
		return err
	}
	if d.tmp[0] != 8 {
		return errLumaFallback // 12-bit precision: image/jpeg refuses it
	}
	d.height = int(d.tmp[1])<<8 + int(d.tmp[2])
	d.width = int(d.tmp[3])<<8 + int(d.tmp[4])
	if int(d.tmp[5]) != d.nComp {
		return lumaError("SOF has wrong length")
	}
	if d.width <= 0 || d.height <= 0 || d.width*d.height > MaxPixels {
		return errLumaFallback // Decode names it
	}
	for i := 0; i < d.nComp; i++ {
		d.comp[i].c = d.tmp[6+3*i]
		for j := 0; j < i; j++ {
			if d.comp[i].c == d.comp[j].c {
				return lumaError("repeated component identifier")
			}
		}
		d.comp[i].tq = d.tmp[8+3*i]
		if d.comp[i].tq > jMaxTq {
			return lumaError("bad Tq value")
		}
		hv := d.tmp[7+3*i]
		h, v := int(hv>>4), int(hv&0x0f)
		if h < 1 || 4 < h || v < 1 || 4 < v || h == 3 || v == 3 {
			return lumaError("luma/chroma subsampling ratio")
		}
		switch d.nComp {
		case 1:
			h, v = 1, 1 // a single component is non-interleaved (section A.2)
		case 3:
			switch i {
			case 0:
				if v == 4 {
					return lumaError("luma/chroma subsampling ratio")
				}
			case 1:
				if d.comp[0].h%h != 0 || d.comp[0].v%v != 0 {
					return lumaError("luma/chroma subsampling ratio")
				}
			case 2:
				if d.comp[1].h != h || d.comp[1].v != v {
					return lumaError("luma/chroma subsampling ratio")
				}
			}
		}
		d.comp[i].h = h
		d.comp[i].v = v
	}
	return nil
}

// processDQT reads quantization tables (section B.2.4.1).
func (d *lumaDecoder) processDQT(n int) error {
loop:
	for n > 0 {
		n--
		x, err := d.readByte()
		if err != nil {
			return err
		}
		tq := x & 0x0f
		if tq > jMaxTq {
			return lumaError("bad Tq value")
		}
		switch x >> 4 {
		default:
			return lumaError("bad Pq value")
		case 0:
			if n < jBlockSize {
				break loop
			}
			n -= jBlockSize
			if err := d.readFull(d.tmp[:jBlockSize]); err != nil {
				return err
			}
			for i := range d.quant[tq] {
				d.quant[tq][i] = int32(d.tmp[i])
			}
		case 1:
			if n < 2*jBlockSize {
				break loop
			}
			n -= 2 * jBlockSize
			if err := d.readFull(d.tmp[:2*jBlockSize]); err != nil {
				return err
			}
			for i := range d.quant[tq] {
				d.quant[tq][i] = int32(d.tmp[2*i])<<8 | int32(d.tmp[2*i+1])
			}
		}
	}
	if n != 0 {
		return lumaError("DQT has wrong length")
	}
	return nil
}

// processDRI reads the restart interval (section B.2.4.4).
func (d *lumaDecoder) processDRI(n int) error {
	if n != 2 {
		return lumaError("DRI has wrong length")
	}
	if err := d.readFull(d.tmp[:2]); err != nil {
		return err
	}
	d.ri = int(d.tmp[0])<<8 + int(d.tmp[1])
	return nil
}

func (d *lumaDecoder) processApp0(n int) error {
	if n < 5 {
		return d.ignore(n)
	}
	if err := d.readFull(d.tmp[:5]); err != nil {
		return err
	}
	n -= 5
	d.jfif = d.tmp[0] == 'J' && d.tmp[1] == 'F' && d.tmp[2] == 'I' && d.tmp[3] == 'F' && d.tmp[4] == '\x00'
	if n > 0 {
		return d.ignore(n)
	}
	return nil
}

func (d *lumaDecoder) processApp14(n int) error {
	if n < 12 {
		return d.ignore(n)
	}
	if err := d.readFull(d.tmp[:12]); err != nil {
		return err
	}
	n -= 12
	if d.tmp[0] == 'A' && d.tmp[1] == 'd' && d.tmp[2] == 'o' && d.tmp[3] == 'b' && d.tmp[4] == 'e' {
		d.adobeValid = true
		d.adobe = d.tmp[11]
	}
	if n > 0 {
		return d.ignore(n)
	}
	return nil
}

// processDHT reads Huffman tables (section B.2.4.2). A table whose bytes
// are those it was built from last time is not built again.
func (d *lumaDecoder) processDHT(n int) error {
	for n > 0 {
		if n < 17 {
			return lumaError("DHT has wrong length")
		}
		start := d.i
		if err := d.readFull(d.tmp[:17]); err != nil {
			return err
		}
		tc := d.tmp[0] >> 4
		if tc > jMaxTc {
			return lumaError("bad Tc value")
		}
		th := d.tmp[0] & 0x0f
		if th > jMaxTh || (d.baseline && th > 1) {
			return lumaError("bad Th value")
		}
		var nCodes [jMaxCodeLength]int32
		total := int32(0)
		for i := range nCodes {
			nCodes[i] = int32(d.tmp[i+1])
			total += nCodes[i]
		}
		if total == 0 {
			return lumaError("Huffman table has zero length")
		}
		if total > jMaxNCodes {
			return lumaError("Huffman table has excessive length")
		}
		n -= int(total) + 17
		if n < 0 {
			return lumaError("DHT has wrong length")
		}
		if len(d.data)-d.i < int(total) {
			return errLumaShort
		}
		raw := d.data[start : d.i+int(total)]
		d.huffSet[tc][th] = true
		if bytes.Equal(raw, d.huffKey[tc][th]) {
			d.i += int(total)
			continue
		}
		d.huffKey[tc][th] = d.huffKey[tc][th][:0] // half built: no key
		h := &d.huff[tc][th]
		h.nCodes = total
		copy(h.vals[:], d.data[d.i:d.i+int(total)])
		d.i += int(total)
		clear(h.lut[:])
		var x, code uint32
		for i := uint32(0); i < jLutSize; i++ {
			code <<= 1
			for j := int32(0); j < nCodes[i]; j++ {
				base := uint8(code << (7 - i))
				lutValue := uint16(h.vals[x])<<8 | uint16(2+i)
				for k := uint8(0); k < 1<<(7-i); k++ {
					h.lut[base|k] = lutValue
				}
				code++
				x++
			}
		}
		var c, index int32
		for i, n := range nCodes {
			if n == 0 {
				h.minCodes[i] = -1
				h.maxCodes[i] = -1
				h.valsIndices[i] = -1
			} else {
				h.minCodes[i] = c
				h.maxCodes[i] = c + n - 1
				h.valsIndices[i] = index
				c += n
				index += n
			}
			c <<= 1
		}
		if tc == jACTable {
			// From the look-up table itself, so that it decodes what the
			// table does, bit for bit, malformed tables too.
			fast := &d.fastAC[th]
			for p := range fast {
				fast[p] = 0
				v := h.lut[p>>1]
				if v == 0 {
					continue
				}
				l, size := int32(v&0xff)-1, int32(v>>8)&0x0f
				if size == 0 || l+size > 9 {
					continue
				}
				x := int32(p>>(9-l-size)) & (1<<size - 1)
				if x < 1<<size>>1 { // EXTEND
					x += (-1 << size) + 1
				}
				fast[p] = x<<16 | int32(v>>12)<<8 | (l + size)
			}
		}
		d.huffKey[tc][th] = append(d.huffKey[tc][th], raw...)
	}
	return nil
}

// fill reads entropy-coded bytes into acc until it holds more than 56
// bits or a marker is next: 0xff 0x00 is a 0xff byte; 0xff and anything
// else, or a 0xff with nothing after it, ends the bits (image/jpeg's
// readByteStuffedByte fails there). Eight bytes without a 0xff, the most
// common case, are taken in one go.
func (d *lumaDecoder) fill() {
	if d.i+8 <= len(d.data) {
		w := binary.BigEndian.Uint64(d.data[d.i:])
		if v := ^w; (v-0x0101010101010101)&^v&0x8080808080808080 == 0 { // no byte is 0xff
			k := (64 - d.nbits) / 8 // whole bytes that fit
			if k < 8 {
				w &^= 1<<(64-8*k) - 1
			}
			d.acc |= w >> d.nbits
			d.nbits += 8 * k
			d.i += int(k)
			return
		}
	}
	for d.nbits <= 56 {
		if d.i >= len(d.data) {
			d.stop = true
			return
		}
		c := d.data[d.i]
		if c == 0xff {
			if d.i+1 >= len(d.data) || d.data[d.i+1] != 0x00 {
				d.stop = true
				return
			}
			d.i++
		}
		d.i++
		d.acc |= uint64(c) << (56 - d.nbits)
		d.nbits += 8
	}
}

// resetBits forgets the bits in hand: at the start of a scan, after a
// restart marker, and at the end of a scan (the bytes read ahead are
// entropy-coded data, which image/jpeg skips too as it looks for the
// next marker).
func (d *lumaDecoder) resetBits() {
	d.acc, d.nbits, d.stop = 0, 0, false
}

// decodeBlock decodes one block's Huffman data (sections F.2.2.1 and
// F.2.2.2): the DC difference into *dc and, for a Y block (luma), the
// dequantized coefficients into b. It returns the rows of b that may hold
// a non-zero value (bit r for row r). The bits in hand live in locals
// here, the hottest loop of SYNC HASHES, and go back to d around fill.
// Before each symbol there are 32 bits in hand, or all there are before
// the marker: a code (at most 16) and its extra bits (at most 16).
func (d *lumaDecoder) decodeBlock(dcH, acH *jHuffman, fast *[1 << 9]int32, dc *int32, b, qt *jBlock, luma bool) (uint8, error) {
	rows := uint8(1)
	acc, n := d.acc, d.nbits
	if n < 32 && !d.stop {
		d.acc, d.nbits = acc, n
		d.fill()
		acc, n = d.acc, d.nbits
	}
	var value uint8
	if v := dcH.lut[uint8(acc>>56)]; n >= 8 && v != 0 {
		l := uint(v&0xff) - 1
		acc <<= l
		n -= l
		value = uint8(v >> 8)
	} else {
		d.acc, d.nbits = acc, n
		var err error
		if value, err = d.decodeHuffmanSlow(dcH); err != nil {
			return 0, err
		}
		acc, n = d.acc, d.nbits
	}
	if value > 16 {
		return 0, lumaError("excessive DC component")
	}
	t := uint(value)
	if n < t {
		return 0, errLumaShortHuff
	}
	x := int32(acc >> (64 - t)) // t == 0: a shift by 64 is 0
	acc <<= t
	n -= t
	if x < int32(1)<<t>>1 { // EXTEND
		x += (-1 << t) + 1
	}
	*dc += x
	if luma {
		b[0] = *dc * qt[0]
	}
	if d.eobRun > 0 {
		d.eobRun--
		d.acc, d.nbits = acc, n
		return rows, nil
	}
	for zig := int32(1); zig <= jBlockSize-1; zig++ {
		if n < 32 && !d.stop {
			d.acc, d.nbits = acc, n
			d.fill()
			acc, n = d.acc, d.nbits
		}
		// A code and its extra bits within the next 9 bits, that do not
		// run past the block (there image/jpeg stops before the extra
		// bits): one look-up.
		if f := fast[acc>>55]; n >= 9 && f != 0 && zig+(f>>8)&0xff <= jBlockSize-1 {
			l := uint(f & 0xff)
			acc <<= l
			n -= l
			zig += (f >> 8) & 0xff
			if luma {
				u := jUnzig[zig]
				b[u] = (f >> 16) * qt[zig]
				rows |= 1 << (u >> 3)
			}
			continue
		}
		if v := acH.lut[uint8(acc>>56)]; n >= 8 && v != 0 {
			l := uint(v&0xff) - 1
			acc <<= l
			n -= l
			value = uint8(v >> 8)
		} else {
			d.acc, d.nbits = acc, n
			var err error
			if value, err = d.decodeHuffmanSlow(acH); err != nil {
				return 0, err
			}
			acc, n = d.acc, d.nbits
		}
		val0 := value >> 4
		val1 := value & 0x0f
		if val1 != 0 {
			zig += int32(val0)
			if zig > jBlockSize-1 {
				break
			}
			t := uint(val1)
			if n < t {
				return 0, errLumaShortHuff
			}
			x := int32(acc >> (64 - t))
			acc <<= t
			n -= t
			if x < int32(1)<<t>>1 {
				x += (-1 << t) + 1
			}
			if luma {
				u := jUnzig[zig]
				b[u] = x * qt[zig]
				rows |= 1 << (u >> 3)
			}
		} else {
			if val0 != 0x0f {
				d.eobRun = uint16(1 << val0)
				if val0 != 0 {
					t := uint(val0)
					if n < t {
						return 0, errLumaShortHuff
					}
					d.eobRun |= uint16(acc >> (64 - t))
					acc <<= t
					n -= t
				}
				d.eobRun--
				break
			}
			zig += 0x0f
		}
	}
	d.acc, d.nbits = acc, n
	return rows, nil
}

// decodeHuffmanSlow decodes a code bit by bit (section F.2.2.3): one
// longer than the 8 bits of the look-up table, or among the last bits
// before a marker, as image/jpeg does.
func (d *lumaDecoder) decodeHuffmanSlow(h *jHuffman) (uint8, error) {
	if h.nCodes == 0 {
		return 0, lumaError("uninitialized Huffman table")
	}
	code := int32(0)
	for i := range jMaxCodeLength {
		if d.nbits == 0 {
			return 0, errLumaShortHuff // the caller filled: nothing more before the marker
		}
		code |= int32(d.acc >> 63)
		d.acc <<= 1
		d.nbits--
		if code <= h.maxCodes[i] {
			return h.vals[h.valsIndices[i]+code-h.minCodes[i]], nil
		}
		code <<= 1
	}
	return 0, errLumaBadHuffman
}

// makePlane sizes the luminance plane as image/jpeg sizes its Y plane,
// cleared (a scan may leave blocks unwritten).
func (d *lumaDecoder) makePlane(mxx, myy int) {
	h0, v0 := d.comp[0].h, d.comp[0].v
	d.stride = 8 * h0 * mxx
	size := d.stride * 8 * v0 * myy
	if cap(d.pix) < size {
		d.pix = make([]byte, size)
	} else {
		d.pix = d.pix[:size]
		clear(d.pix)
	}
	d.havePix = true
}

// processSOS decodes one sequential scan (section B.2.3): the Huffman data
// of every component, the inverse DCT of the Y blocks only.
func (d *lumaDecoder) processSOS(n int) error {
	if d.nComp == 0 {
		return lumaError("missing SOF marker")
	}
	if n < 6 || 4+2*d.nComp < n || n%2 != 0 {
		return lumaError("SOS has wrong length")
	}
	if err := d.readFull(d.tmp[:n]); err != nil {
		return err
	}
	nComp := int(d.tmp[0])
	if n != 4+2*nComp {
		return lumaError("SOS length inconsistent with number of components")
	}
	var scan [jMaxComp]struct {
		compIndex uint8
		td, ta    uint8 // DC and AC table selectors
	}
	totalHV := 0
	for i := 0; i < nComp; i++ {
		cs := d.tmp[1+2*i]
		compIndex := -1
		for j, comp := range d.comp[:d.nComp] {
			if cs == comp.c {
				compIndex = j
			}
		}
		if compIndex < 0 {
			return lumaError("unknown component selector")
		}
		scan[i].compIndex = uint8(compIndex)
		for j := 0; j < i; j++ {
			if scan[i].compIndex == scan[j].compIndex {
				return lumaError("repeated component selector")
			}
		}
		totalHV += d.comp[compIndex].h * d.comp[compIndex].v
		scan[i].td = d.tmp[2+2*i] >> 4
		if t := scan[i].td; t > jMaxTh || (d.baseline && t > 1) {
			return lumaError("bad Td value")
		}
		scan[i].ta = d.tmp[2+2*i] & 0x0f
		if t := scan[i].ta; t > jMaxTh || (d.baseline && t > 1) {
			return lumaError("bad Ta value")
		}
		if !d.huffSet[jDCTable][scan[i].td] || !d.huffSet[jACTable][scan[i].ta] {
			return lumaError("uninitialized Huffman table") // image/jpeg may not use it: it says
		}
	}
	if d.nComp > 1 && totalHV > 10 {
		return lumaError("total sampling factors too large")
	}

	h0, v0 := d.comp[0].h, d.comp[0].v
	mxx := (d.width + 8*h0 - 1) / (8 * h0)
	myy := (d.height + 8*v0 - 1) / (8 * v0)
	if !d.havePix {
		d.makePlane(mxx, myy)
	}

	d.resetBits()
	defer d.resetBits()
	mcu, expectedRST := 0, uint8(jRST0)
	var (
		b          jBlock
		dc         [jMaxComp]int32
		bx, by     int
		blockCount int
	)
	for my := 0; my < myy; my++ {
		for mx := 0; mx < mxx; mx++ {
			for i := 0; i < nComp; i++ {
				compIndex := scan[i].compIndex
				hi := d.comp[compIndex].h
				vi := d.comp[compIndex].v
				luma := compIndex == 0
				qt := &d.quant[d.comp[compIndex].tq]
				for j := 0; j < hi*vi; j++ {
					if nComp != 1 {
						bx = hi*mx + j%hi
						by = vi*my + j/hi
					} else {
						q := mxx * hi
						bx = blockCount % q
						by = blockCount / q
						blockCount++
						if bx*8 >= d.width || by*8 >= d.height {
							continue
						}
					}
					if luma {
						b = jBlock{}
					}
					rows, err := d.decodeBlock(&d.huff[jDCTable][scan[i].td], &d.huff[jACTable][scan[i].ta], &d.fastAC[scan[i].ta], &dc[compIndex], &b, qt, luma)
					if err != nil {
						return err
					}
					if luma {
						d.storeBlock(&b, rows, bx, by)
					}
				}
			}
			mcu++
			if d.ri > 0 && mcu%d.ri == 0 && mcu < mxx*myy {
				if err := d.readFull(d.tmp[:2]); err != nil {
					return err
				} else if d.tmp[0] != 0xff || d.tmp[1] != expectedRST {
					if err := d.findRST(expectedRST); err != nil {
						return err
					}
				}
				expectedRST++
				if expectedRST == jRST7+1 {
					expectedRST = jRST0
				}
				d.resetBits()
				dc = [jMaxComp]int32{}
				d.eobRun = 0
			}
		}
	}
	return nil
}

// findRST advances past the next RST marker that matches expectedRST.
func (d *lumaDecoder) findRST(expectedRST uint8) error {
	for {
		i := 0
		if d.tmp[0] == 0xff {
			if d.tmp[1] == expectedRST {
				return nil
			} else if d.tmp[1] == 0xff {
				i = 1
			} else if d.tmp[1] != 0x00 {
				return lumaError("bad RST marker")
			}
		} else if d.tmp[1] == 0xff {
			d.tmp[0] = 0xff
			i = 1
		}
		if err := d.readFull(d.tmp[i:2]); err != nil {
			return err
		}
	}
}

// storeBlock runs the inverse DCT on a dequantized Y block and stores it,
// level-shifted and clipped, into the plane.
func (d *lumaDecoder) storeBlock(b *jBlock, rows uint8, bx, by int) {
	dst := d.pix[8*(by*d.stride+bx):]
	stride := d.stride
	if rows == 1 {
		// Only the first row is non-zero: every column is one value
		// (idctLuma's shortcut), so one line of eight, stored eight times.
		x := b[0:8:8]
		if x[1]|x[2]|x[3]|x[4]|x[5]|x[6]|x[7] == 0 {
			v := x[0] << 17
			x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7] = v, v, v, v, v, v, v, v
		} else {
			idctRow(x)
		}
		var line [8]uint8
		for i, v := range x {
			line[i] = clip((v + 1<<19) >> 2 >> 18)
		}
		for y := range 8 {
			copy(dst[y*stride:y*stride+8], line[:])
		}
		return
	}
	idctLuma(b, rows)
	for y := range 8 {
		line := dst[y*stride : y*stride+8 : y*stride+8]
		row := b[8*y : 8*y+8 : 8*y+8]
		for x, c := range row {
			line[x] = clip(c)
		}
	}
}

// clip is image/jpeg's level shift and clipping: below -128 is 0, above
// 127 is 255, else c+128.
func clip(c int32) uint8 {
	c += 128
	if uint32(c) > 255 {
		c = ^(c >> 31) & 255 // negative: 0, else 255
	}
	return uint8(c)
}

// The inverse DCT of image/jpeg (Go 1.26, after Loeffler, Lightenberg and
// Moschytz), unchanged but for two shortcuts that give the same integers:
// a row that is all zero stays zero, and a row whose only non-zero value
// is its first becomes eight copies of it shifted by 17; when only the
// first row is non-zero, every column is one value.

func jDCTBox(x0, x1, kcos, ksin int32) (y0, y1 int32) {
	ksum := kcos * (x0 + x1)
	y0 = ksum + (ksin-kcos)*x1
	y1 = ksum - (kcos+ksin)*x0
	return y0, y1
}

const (
	jCos1         = 1130768441178740757 // fix cos 1*pi/16
	jSin1         = 224923827593068887  // fix sin 1*pi/16
	jCos3         = 958619196450722178  // fix cos 3*pi/16
	jSin3         = 640528868967736374  // fix sin 3*pi/16
	jSqrt2invCos6 = 311978311033955632  // fix (1/sqrt 2)*cos 6*pi/16
	jSqrt2invSin6 = 753182269664427492  // fix (1/sqrt 2)*sin 6*pi/16
	jSqrt2inv     = 815238614083298888  // fix 1/sqrt 2
)

func jC(x uint64, bits int) int32 {
	return int32((x + (1 << (59 - bits))) >> (60 - bits))
}

func idctLuma(b *jBlock, rows uint8) {
	for i := range 8 {
		if rows&(1<<i) == 0 {
			continue
		}
		x := b[8*i : 8*i+8 : 8*i+8]
		if x[1]|x[2]|x[3]|x[4]|x[5]|x[6]|x[7] == 0 {
			v := x[0] << 17
			x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7] = v, v, v, v, v, v, v, v
			continue
		}
		idctRow(x)
	}
	if rows == 1 {
		for i := range 8 {
			v := (b[i] + 1<<19) >> 2 >> 18
			for r := 0; r < 8; r++ {
				b[8*r+i] = v
			}
		}
		return
	}
	idctCols(b)
}

// idctRow is image/jpeg's idctRows for one row.
func idctRow(x []int32) {
	x0 := x[0]
	x7 := x[1]
	x2 := x[2]
	x5 := x[3]
	x1 := x[4]
	x6 := x[5]
	x3 := x[6]
	x4 := x[7]

	x0 <<= 17
	x1 <<= 17
	x0, x1 = x0+x1, x0-x1
	x2, x3 = jDCTBox(x2, x3, jC(jSqrt2invCos6, 18), -jC(jSqrt2invSin6, 18))
	x1, x2 = x1+x2, x1-x2
	x0, x3 = x0+x3, x0-x3

	x4 <<= 7
	x7 <<= 7
	x7, x4 = x7+x4, x7-x4
	x6 = x6 * jC(jSqrt2inv, 8)
	x5 = x5 * jC(jSqrt2inv, 8)
	x7, x5 = x7+x5, x7-x5
	x4, x6 = x4+x6, x4-x6
	x4, x7 = jDCTBox(x4>>2, x7>>2, jC(jCos3, 12), -jC(jSin3, 12))
	x5, x6 = jDCTBox(x5>>2, x6>>2, jC(jCos1, 12), -jC(jSin1, 12))

	x0, x7 = x0+x7, x0-x7
	x1, x6 = x1+x6, x1-x6
	x2, x5 = x2+x5, x2-x5
	x3, x4 = x3+x4, x3-x4

	x[0] = x0
	x[1] = x1
	x[2] = x2
	x[3] = x3
	x[4] = x4
	x[5] = x5
	x[6] = x6
	x[7] = x7
}

// idctCols is image/jpeg's idctCols.
func idctCols(b *jBlock) {
	for i := range 8 {
		x0 := b[0*8+i]
		x7 := b[1*8+i]
		x2 := b[2*8+i]
		x5 := b[3*8+i]
		x1 := b[4*8+i]
		x6 := b[5*8+i]
		x3 := b[6*8+i]
		x4 := b[7*8+i]

		x0 += 1 << 19
		x0, x1 = (x0+x1)>>2, (x0-x1)>>2
		x2, x3 = jDCTBox(x2>>13, x3>>13, jC(jSqrt2invCos6, 12), -jC(jSqrt2invSin6, 12))
		x1, x2 = x1+x2, x1-x2
		x0, x3 = x0+x3, x0-x3

		x7, x4 = x7+x4, x7-x4
		x5 = (x5 >> 13) * jC(jSqrt2inv, 14)
		x6 = (x6 >> 13) * jC(jSqrt2inv, 14)
		x7, x5 = x7+x5, x7-x5
		x4, x6 = x4+x6, x4-x6
		x4, x7 = jDCTBox(x4>>14, x7>>14, jC(jCos3, 12), -jC(jSin3, 12))
		x5, x6 = jDCTBox(x5>>14, x6>>14, jC(jCos1, 12), -jC(jSin1, 12))

		x0, x7 = x0+x7, x0-x7
		x1, x6 = x1+x6, x1-x6
		x2, x5 = x2+x5, x2-x5
		x3, x4 = x3+x4, x3-x4

		b[0*8+i] = x0 >> 18
		b[1*8+i] = x1 >> 18
		b[2*8+i] = x2 >> 18
		b[3*8+i] = x3 >> 18
		b[4*8+i] = x4 >> 18
		b[5*8+i] = x5 >> 18
		b[6*8+i] = x6 >> 18
		b[7*8+i] = x7 >> 18
	}
}
