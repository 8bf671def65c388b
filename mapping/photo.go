package mapping

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // register the PNG decoder for PHOTO
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/image/draw"
)

// Hard limits on source photos: larger ones are dropped unread.
const (
	maxPhotoSource = 10 << 20 // bytes
	maxPhotoPixels = 40e6     // width × height
)

// jpegQualities are the qualities tried in turn until a photo fits its
// byte budget.
var jpegQualities = []int{85, 75, 65, 55, 45, 35, 25}

// minScaledSize is the smallest width and height a photo is shrunk to in
// order to fit its byte budget.
const minScaledSize = 16

// photoLimits are the limits a PHOTO field publishes photos within.
type photoLimits struct {
	size  int // largest width and height in pixels
	bytes int // largest encoded size
}

// photoKey identifies a prepared photo: the source bytes and the limits.
type photoKey struct {
	sum    [sha256.Size]byte
	limits photoLimits
}

// photoResult is a prepared photo, or why there is none.
type photoResult struct {
	data    string // JPEG bytes
	problem string
}

// photoCache maps source photos to prepared ones. It is safe for
// concurrent use.
type photoCache struct {
	lru *lru.Cache[photoKey, photoResult]
}

func newPhotoCache(size int) *photoCache {
	c, err := lru.New[photoKey, photoResult](size)
	if err != nil {
		panic(fmt.Sprintf("mapping: photo cache of size %d: %v", size, err)) // Compile checked the size
	}
	return &photoCache{lru: c}
}

// photo prepares a PHOTO value within the limits: a JPEG within them as
// it is, anything else decoded, scaled and re-encoded as JPEG, through
// the cache. It returns the JPEG bytes, or a problem ("is not a JPEG or
// PNG image") when the photo must be dropped.
func (c *photoCache) photo(raw string, l photoLimits) (string, string) {
	if len(raw) > maxPhotoSource {
		return "", "is larger than 10 MiB"
	}
	cfg, format, err := image.DecodeConfig(strings.NewReader(raw))
	if err != nil || (format != "jpeg" && format != "png") || cfg.Width <= 0 || cfg.Height <= 0 {
		return "", "is not a JPEG or PNG image"
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPhotoPixels {
		return "", fmt.Sprintf("has %dx%d pixels, more than 40 megapixels", cfg.Width, cfg.Height)
	}
	if format == "jpeg" && cfg.Width <= l.size && cfg.Height <= l.size && len(raw) <= l.bytes {
		return raw, ""
	}
	k := photoKey{sum: sha256.Sum256([]byte(raw)), limits: l}
	if r, ok := c.lru.Get(k); ok {
		return r.data, r.problem
	}
	var r photoResult
	r.data, r.problem = scalePhoto(raw, l)
	c.lru.Add(k, r)
	return r.data, r.problem
}

// scalePhoto decodes raw, scales it to fit l.size (keeping its aspect
// ratio, never enlarging it) onto white, and encodes it as a JPEG of at
// most l.bytes, lowering the quality and then the size as needed.
func scalePhoto(raw string, l photoLimits) (string, string) {
	src, _, err := image.Decode(strings.NewReader(raw))
	if err != nil {
		return "", "cannot be decoded"
	}
	sb := src.Bounds()
	w, h := fit(sb.Dx(), sb.Dy(), l.size)
	var buf bytes.Buffer
	for {
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		if w == sb.Dx() && h == sb.Dy() {
			draw.Draw(dst, dst.Bounds(), src, sb.Min, draw.Over)
		} else {
			draw.CatmullRom.Scale(dst, dst.Bounds(), src, sb, draw.Over, nil)
		}
		for _, q := range jpegQualities {
			buf.Reset()
			if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: q}); err != nil {
				return "", "cannot be encoded"
			}
			if buf.Len() <= l.bytes {
				return buf.String(), ""
			}
		}
		if w <= minScaledSize && h <= minScaledSize {
			return "", fmt.Sprintf("does not fit in %d bytes", l.bytes)
		}
		w, h = fit(w, h, max(w, h)*3/4)
	}
}

// fit returns the size of a w×h image scaled down to fit a square of
// size pixels, at least 1×1. A smaller image keeps its size.
func fit(w, h, size int) (int, int) {
	size = max(size, minScaledSize)
	if w <= size && h <= size {
		return w, h
	}
	if w >= h {
		return size, max(1, (h*size+w/2)/w)
	}
	return max(1, (w*size+h/2)/h), size
}
