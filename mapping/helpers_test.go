package mapping

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/dirbook/dirbook"
)

const (
	employees = "cn=employees,ou=groups,dc=nordlicht,dc=example"
	partners  = "cn=approved-partners,ou=groups,dc=nordlicht,dc=example"
)

// demoRules returns rules like the demo configuration's mapping section.
func demoRules() *Rules {
	return &Rules{
		PhoneRegion: "DE",
		Exclude:     &Condition{Has: []string{"pwdAccountLockedTime"}},
		Fields: []FieldRule{
			{Name: "fn", Property: "FN", From: []string{"displayName", "cn"}},
			{Name: "n", Property: "N", Parts: []string{"sn", "givenName"}},
			{Name: "org", Property: "ORG", Parts: []string{"o", "ou"}},
			{Name: "title", Property: "TITLE", From: []string{"title"}},
			{Name: "email", Property: "EMAIL", From: []string{"mail"}, Types: []string{"work"}},
			{Name: "work_phone", Property: "TEL", From: []string{"telephoneNumber"}, Types: []string{"work", "voice"}, Transform: []string{"e164"}},
			{Name: "mobile", Property: "TEL", From: []string{"mobile"}, Types: []string{"cell"}, Transform: []string{"e164"}},
			{Name: "photo", Property: "PHOTO", From: []string{"jpegPhoto"}},
		},
		Books: []BookRule{
			{
				ID:          "colleagues",
				Name:        "Colleagues",
				Description: "Everyone at Nordlicht and our approved partners",
				Include:     &Condition{MemberOf: []string{employees, partners}},
				Readers:     &Condition{MemberOf: []string{employees}},
				Fields:      []string{"fn", "n", "org", "title", "email", "work_phone", "mobile", "photo"},
			},
			{
				ID:          "partners",
				Name:        "Partners",
				Description: "Approved external partners",
				Include:     &Condition{MemberOf: []string{partners}},
				Readers: &Condition{Any: []Condition{
					{MemberOf: []string{employees}},
					{MemberOf: []string{partners}},
				}},
				Fields: []string{"fn", "n", "org", "title", "email", "work_phone"},
			},
		},
	}
}

// mustCompile compiles r and fails the test on any problem.
func mustCompile(tb testing.TB, r *Rules) *Mapper {
	tb.Helper()
	m, problems := Compile(r)
	if len(problems) > 0 {
		tb.Fatalf("Compile() problems: %v", problems)
	}
	return m
}

// tinyPNG is a 2×2 grey PNG.
var tinyPNG = mustBase64("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAAAAABX3VL4AAAAEklEQVR4nGI6wcDAwAAIAAD//wP6AMu+G5mvAAAAAElFTkSuQmCC")

func mustBase64(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// tinyJPEG returns a small JPEG.
func tinyJPEG(tb testing.TB) string {
	tb.Helper()
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.Gray{Y: 90})
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

// person returns a realistic employee entry.
func person() *dirbook.Entry {
	return &dirbook.Entry{
		ID:     "4f9d3c1e-2b7a-4c55-9e0d-1a2b3c4d5e6f",
		DN:     "uid=jdoe,ou=people,dc=nordlicht,dc=example",
		Source: "demo",
		Attrs: map[string][]string{
			"uid":             {"jdoe"},
			"cn":              {"Jana Doe"},
			"displayname":     {"Jana  Doe "},
			"sn":              {"Doe"},
			"givenname":       {"Jana"},
			"o":               {"Nordlicht GmbH"},
			"ou":              {"Sales; North"},
			"title":           {"Head of Sales"},
			"mail":            {"jana.doe@nordlicht.example", "JANA.DOE@nordlicht.example", "jd@nordlicht.example"},
			"telephonenumber": {"+49 (0)30 1234-567", "030/1234567", "0800-CALL-NOW", "0049 89 123456"},
			"mobile":          {"0171 2345678"},
			"jpegphoto":       {tinyPNG},
			"homephone":       {"030 7654321"},
		},
		Groups: []string{employees},
	}
}

// tinyPNGAsJPEG returns tinyPNG as the default photo rules publish it.
func tinyPNGAsJPEG(tb testing.TB) string {
	tb.Helper()
	data, problem := scalePhoto(tinyPNG, photoLimits{size: defaultPhotoSize, bytes: defaultPhotoBytes})
	if problem != "" {
		tb.Fatalf("scalePhoto(tinyPNG): %s", problem)
	}
	return data
}

func sha256Sum(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// structuredComponents returns the cleaned components of a structured
// value as Encode writes them, padded to n.
func structuredComponents(values []string, n int) []string {
	out := make([]string, max(n, len(values)))
	for i, v := range values {
		out[i] = cleanComponent(v)
	}
	return out
}
