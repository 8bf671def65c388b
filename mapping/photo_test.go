package mapping

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"reflect"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
)

// testImage returns a w×h image with a deterministic pattern; with alpha,
// its left half is transparent.
func testImage(w, h int, alpha bool) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: uint8(x * 255 / max(w, 1)), G: uint8(y * 255 / max(h, 1)), B: uint8((x ^ y) * 7), A: 255}
			if alpha && x < w/2 {
				c.A = 0
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodeJPEG(tb testing.TB, img image.Image, quality int) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

func encodePNG(tb testing.TB, img image.Image) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

// noise returns a w×h image of pseudo-random pixels, which JPEG cannot
// compress well.
func noise(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	x := uint32(2463534242)
	for i := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img.Pix[i] = uint8(x)
	}
	return img
}

// pngHeader returns the signature and IHDR chunk of a w×h RGBA PNG
// without image data: image.DecodeConfig reads it, image.Decode fails.
func pngHeader(w, h uint32) string {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	data := make([]byte, 13)
	binary.BigEndian.PutUint32(data[0:], w)
	binary.BigEndian.PutUint32(data[4:], h)
	data[8], data[9] = 8, 6 // 8 bits, RGBA
	chunk := append([]byte("IHDR"), data...)
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.String()
}

// decoded checks that data is a JPEG and returns its size.
func decoded(tb testing.TB, data string) (w, h int) {
	tb.Helper()
	cfg, format, err := image.DecodeConfig(strings.NewReader(data))
	if err != nil || format != "jpeg" {
		tb.Fatalf("photo is %q, %v, want a JPEG", format, err)
	}
	return cfg.Width, cfg.Height
}

func TestPhoto(t *testing.T) {
	small := tinyJPEG(t)
	large := encodeJPEG(t, testImage(600, 400, false), 90)
	heavy := encodeJPEG(t, noise(200, 200), 100) // within 256 px, over 32 KiB
	if len(heavy) <= defaultPhotoBytes {
		t.Fatalf("noise JPEG has %d bytes, want more than %d", len(heavy), defaultPhotoBytes)
	}
	brokenPNG := encodePNG(t, testImage(40, 40, false))
	brokenPNG = brokenPNG[:len(brokenPNG)-30] + strings.Repeat("x", 30)
	tests := []struct {
		name     string
		values   []string
		photo    *PhotoRule // field-level limits
		kept     string     // the photo published unchanged, if any
		w, h     int        // else the size of the scaled JPEG; 0 for none
		warnings []string
	}{
		{"small jpeg kept", []string{small}, nil, small, 0, 0, nil},
		{"png re-encoded", []string{tinyPNG}, nil, "", 2, 2, nil},
		{"large jpeg scaled", []string{large}, nil, "", 256, 171, nil},
		{"portrait png scaled", []string{encodePNG(t, testImage(300, 900, true))}, nil, "", 85, 256, nil},
		{"heavy jpeg re-encoded", []string{heavy}, nil, "", 200, 200, nil},
		{"field limits", []string{large}, &PhotoRule{MaxSize: 64, MaxBytes: 4096}, "", 64, 43, nil},
		{"gif", []string{"GIF89a\x01\x00\x01\x00\x00\x00\x00;"}, nil, "", 0, 0, []string{"value 1 of jpegPhoto is not a JPEG or PNG image"}},
		{"garbage then png", []string{"not an image", tinyPNG}, nil, "", 2, 2, []string{"value 1 of jpegPhoto is not a JPEG or PNG image"}},
		{"truncated png", []string{tinyPNG[:10]}, nil, "", 0, 0, []string{"value 1 of jpegPhoto is not a JPEG or PNG image"}},
		{"header only", []string{pngHeader(300, 300)}, nil, "", 0, 0, []string{"value 1 of jpegPhoto cannot be decoded"}},
		{"broken png data", []string{brokenPNG}, nil, "", 0, 0, []string{"value 1 of jpegPhoto cannot be decoded"}},
		{"too many pixels", []string{pngHeader(8000, 5001)}, nil, "", 0, 0,
			[]string{"value 1 of jpegPhoto has 8000x5001 pixels, more than 40 megapixels"}},
		{"too big", []string{small + strings.Repeat("\x00", maxPhotoSource)}, nil, "", 0, 0,
			[]string{"value 1 of jpegPhoto is larger than 10 MiB"}},
		{"empty", []string{""}, nil, "", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := demoRules()
			r.Fields[7].Photo = tt.photo
			card, res := mapOne(t, r, map[string][]string{"cn": {"A"}, "jpegphoto": tt.values})
			var got *dirbook.Prop
			for i := range card.Props {
				if card.Props[i].Name == "PHOTO" {
					got = &card.Props[i]
				}
			}
			switch {
			case tt.kept == "" && tt.w == 0:
				if got != nil {
					t.Errorf("PHOTO = %d bytes, want none", len(got.Value()))
				}
			case got == nil:
				t.Errorf("PHOTO missing")
			case got.MediaType != "image/jpeg":
				t.Errorf("PHOTO media type = %q, want image/jpeg", got.MediaType)
			case tt.kept != "":
				if got.Value() != tt.kept {
					t.Errorf("PHOTO = %d bytes, want the source's %d bytes unchanged", len(got.Value()), len(tt.kept))
				}
			default:
				limit := defaultPhotoBytes
				if tt.photo != nil {
					limit = tt.photo.MaxBytes
				}
				if w, h := decoded(t, got.Value()); w != tt.w || h != tt.h || len(got.Value()) > limit {
					t.Errorf("PHOTO = %dx%d, %d bytes, want %dx%d within %d bytes", w, h, len(got.Value()), tt.w, tt.h, limit)
				}
			}
			var msgs []string
			for _, w := range res.Warnings {
				msgs = append(msgs, w.Message)
			}
			if !reflect.DeepEqual(msgs, tt.warnings) {
				t.Errorf("warnings = %q, want %q", msgs, tt.warnings)
			}
		})
	}
}

// TestPhotoTransparency checks that transparent parts become white.
func TestPhotoTransparency(t *testing.T) {
	data, problem := scalePhoto(encodePNG(t, testImage(100, 100, true)), photoLimits{size: 50, bytes: 8192})
	if problem != "" {
		t.Fatal(problem)
	}
	img, err := jpeg.Decode(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r, g, b, _ := img.At(5, 25).RGBA()
	if r>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
		t.Errorf("transparent pixel = %d,%d,%d, want white", r>>8, g>>8, b>>8)
	}
}

// TestPhotoBudget checks that a photo JPEG cannot fit at any quality is
// shrunk until it fits.
func TestPhotoBudget(t *testing.T) {
	data, problem := scalePhoto(encodePNG(t, noise(256, 256)), photoLimits{size: 256, bytes: minPhotoBytes})
	if problem != "" {
		t.Fatal(problem)
	}
	w, h := decoded(t, data)
	if len(data) > minPhotoBytes || w >= 256 || w != h {
		t.Errorf("scalePhoto(noise) = %dx%d, %d bytes, want smaller than 256 px within %d bytes", w, h, len(data), minPhotoBytes)
	}
}

// TestPhotoCache checks that a photo is scaled once, not at every Map,
// and that the cache stays within its size.
func TestPhotoCache(t *testing.T) {
	r := demoRules()
	r.Photo = &PhotoRule{CacheSize: 2}
	m := mustCompile(t, r)
	photos := []string{
		encodePNG(t, testImage(300, 300, false)),
		encodePNG(t, testImage(301, 300, false)),
		encodePNG(t, testImage(302, 300, false)),
	}
	mapPhoto := func(photo string) string {
		e := person()
		e.Attrs["jpegphoto"] = []string{photo}
		for _, p := range m.Map(e).Cards["colleagues"].Props {
			if p.Name == "PHOTO" {
				return p.Value()
			}
		}
		t.Fatalf("no PHOTO")
		return ""
	}
	first := mapPhoto(photos[0])
	if n := m.photos.lru.Len(); n != 1 {
		t.Fatalf("cache holds %d photos after one Map, want 1", n)
	}
	// Poison the cache entry: a second Map must publish what the cache
	// holds, proving it did not scale again.
	k := photoKey{sum: sha256Sum(photos[0]), limits: photoLimits{size: defaultPhotoSize, bytes: defaultPhotoBytes}}
	if cached, ok := m.photos.lru.Get(k); !ok || cached.data != first {
		t.Fatalf("cache entry = %v, %v, want the published photo", len(cached.data), ok)
	}
	m.photos.lru.Add(k, photoResult{data: "cached"})
	if got := mapPhoto(photos[0]); got != "cached" {
		t.Errorf("second Map published %d bytes, want the cached value", len(got))
	}
	mapPhoto(photos[1])
	mapPhoto(photos[2])
	if n := m.photos.lru.Len(); n != 2 {
		t.Errorf("cache holds %d photos, want its size 2", n)
	}
	// A JPEG within the limits is not cached: it needs no work.
	mapPhoto(tinyJPEG(t))
	if _, ok := m.photos.lru.Get(photoKey{sum: sha256Sum(tinyJPEG(t)), limits: k.limits}); ok {
		t.Errorf("cache holds a JPEG published as it is")
	}
}

func TestFit(t *testing.T) {
	tests := []struct{ w, h, size, ww, wh int }{
		{600, 400, 256, 256, 171},
		{400, 600, 256, 171, 256},
		{256, 256, 256, 256, 256},
		{100, 50, 256, 100, 50},
		{10000, 1, 256, 256, 1},
		{1, 10000, 256, 1, 256},
		{300, 300, 4, 16, 16},
	}
	for _, tt := range tests {
		if w, h := fit(tt.w, tt.h, tt.size); w != tt.ww || h != tt.wh {
			t.Errorf("fit(%d, %d, %d) = %d, %d, want %d, %d", tt.w, tt.h, tt.size, w, h, tt.ww, tt.wh)
		}
	}
}
