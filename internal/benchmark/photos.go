package benchmark

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
)

// Photos returns n distinct 48×48 JPEGs of about 2 KB each,
// base64-encoded as LDIF writes them.
func Photos(n int) []string {
	out := make([]string, n)
	for k := range out {
		img := image.NewRGBA(image.Rect(0, 0, 48, 48))
		for y := range 48 {
			for x := range 48 {
				img.Set(x, y, color.RGBA{uint8(x*5 + k*17), uint8(y*5 + k*29), uint8((x ^ y) * 3), 255})
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			panic(err) // writing to memory does not fail
		}
		out[k] = base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	return out
}
