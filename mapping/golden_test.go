package mapping

import (
	"bytes"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
)

// fixture is a directory entry for the golden tests: the golden person
// with some attributes changed.
type fixture struct {
	name   string
	change func(tb testing.TB, e *dirbook.Entry)
}

// goldenPerson is the person every fixture starts from.
func goldenPerson() *dirbook.Entry {
	e := person()
	e.Kind = "employee"
	addGoldenAttrs(e, `Sales lead, North; ask for "Jana" \ Nordlicht`)
	e.Attrs["telephonenumber"] = []string{"+49 (0)30 1234-567"}
	delete(e.Attrs, "jpegphoto")
	return e
}

// addGoldenAttrs gives e the attributes the golden rules read beyond
// person's: a description, birthday, URL, department and address.
func addGoldenAttrs(e *dirbook.Entry, description string) {
	e.Attrs["description"] = []string{description}
	e.Attrs["birthdate"] = []string{"1984-02-29"}
	e.Attrs["labeleduri"] = []string{"https://nordlicht.example/~jdoe?a=1,2"}
	e.Attrs["departmentnumber"] = []string{"4711"}
	e.Attrs["street"] = []string{"Hafenstraße 1"}
	e.Attrs["l"] = []string{"Hamburg"}
	e.Attrs["postalcode"] = []string{"20457"}
	e.Attrs["c"] = []string{"DE"}
}

// partner turns e into a partner whose approval runs until expiry.
func partner(e *dirbook.Entry, expiry string) {
	e.Kind = "partner"
	e.Groups = []string{partners}
	e.Attrs["o"] = []string{"Hafenbau KG"}
	e.Attrs["dirbookapprovalexpiry"] = []string{expiry}
}

// uniformPNG returns a w×h PNG of one colour. Scaling one colour gives
// the same pixels on every architecture, so the golden files hold.
func uniformPNG(tb testing.TB, w, h int) string {
	tb.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []byte{0x2a, 0x6f, 0xb4, 0xff})
	}
	return encodePNG(tb, img)
}

var fixtures = []fixture{
	{"employee", func(tb testing.TB, e *dirbook.Entry) {}},
	{"invalid-utf8", func(tb testing.TB, e *dirbook.Entry) {
		e.Attrs["displayname"] = []string{"\xff\xfeJana\xc3 Doe\xed\xa0\x80"}
		e.Attrs["sn"] = []string{"D\xf0\x9f\x98oe"}
		e.Attrs["title"] = []string{"\x80Head of Sales"}
		e.Attrs["ou"] = []string{"Sales\xff"}
	}},
	{"control-characters", func(tb testing.TB, e *dirbook.Entry) {
		e.Attrs["displayname"] = []string{"Jana\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:Mallory"}
		e.Attrs["title"] = []string{"\tHead\vof\fSales\x1b[31m\x07"}
		e.Attrs["description"] = []string{"line 1\nline 2\x00\u2028line 3\u0085"}
		e.Attrs["uid"] = []string{"jdoe\r\nX-EVIL:1"}
		e.Attrs["labeleduri"] = []string{"https://nordlicht.example/a\\b\r\nX-EVIL:1"}
	}},
	{"huge-value", func(tb testing.TB, e *dirbook.Entry) {
		var b strings.Builder
		for b.Len() < 5<<20 {
			b.WriteString("Sehr lange Notiz über den Vertrieb; ")
		}
		e.Attrs["description"] = []string{b.String()}
		e.Attrs["ou"] = []string{strings.Repeat("Abteilung ", 1000)}
	}},
	{"non-image-photo", func(tb testing.TB, e *dirbook.Entry) {
		e.Attrs["jpegphoto"] = []string{"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"}
	}},
	{"huge-png-photo", func(tb testing.TB, e *dirbook.Entry) {
		e.Attrs["jpegphoto"] = []string{uniformPNG(tb, 2400, 1600)}
	}},
	{"phone-with-letters", func(tb testing.TB, e *dirbook.Entry) {
		e.Attrs["telephonenumber"] = []string{"0800-CALL-NOW", "+49 30 1234567 ext. 12"}
		e.Attrs["mobile"] = []string{"+49 171 CALLME", "0171 2345678"}
	}},
	{"name-only-spaces", func(tb testing.TB, e *dirbook.Entry) {
		e.Attrs["displayname"] = []string{"   "}
		e.Attrs["cn"] = []string{"\t\u00a0\u3000"}
	}},
	{"no-name-at-all", func(tb testing.TB, e *dirbook.Entry) {
		for _, a := range []string{"displayname", "cn", "sn", "givenname"} {
			e.Attrs[a] = []string{" \x00 "}
		}
	}},
	{"structured-separators", func(tb testing.TB, e *dirbook.Entry) {
		e.Attrs["o"] = []string{`Nordlicht; GmbH, \Co`}
		e.Attrs["ou"] = []string{"Sales, North; East"}
		e.Attrs["street"] = []string{"Hafenstraße 1; Haus B, 3. OG"}
		e.Attrs["sn"] = []string{"Doe;Smith"}
	}},
	{"approved-partner", func(tb testing.TB, e *dirbook.Entry) { partner(e, "20261231235959Z") }},
	{"expired-partner", func(tb testing.TB, e *dirbook.Entry) { partner(e, "2026-06-14") }},
	{"partner-bad-expiry", func(tb testing.TB, e *dirbook.Entry) { partner(e, "end of year") }},
	{"opted-out", func(tb testing.TB, e *dirbook.Entry) { e.Attrs["dirbookhidden"] = []string{"TRUE"} }},
	{"locked", func(tb testing.TB, e *dirbook.Entry) { e.Attrs["pwdaccountlockedtime"] = []string{"000001010000Z"} }},
}

// TestGoldenFixtures maps hostile entries with goldenRules and compares
// every card, per book and vCard version, with testdata/golden/
// NAME.BOOK.VERSION.vcf, and the rest of the result (exclusion,
// warnings, books) with NAME.txt. go test -update rewrites them.
func TestGoldenFixtures(t *testing.T) {
	m := goldenMapper(t)
	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	written := map[string]bool{}
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			e := goldenPerson()
			fx.change(t, e)
			res := m.Map(e)

			var summary bytes.Buffer
			fmt.Fprintf(&summary, "books:")
			for _, b := range m.Books() {
				if _, ok := res.Cards[b.ID]; ok {
					fmt.Fprintf(&summary, " %s", b.ID)
				}
			}
			fmt.Fprintf(&summary, "\nreadable: %s\n", strings.Join(m.Readable(e), " "))
			if res.Excluded != "" {
				fmt.Fprintf(&summary, "excluded: %s\n", res.Excluded)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(&summary, "warning: %s: %s\n", w.Field, w.Message)
			}
			for _, d := range m.Explain(e) {
				fmt.Fprintf(&summary, "explain %s: in=%v %s; readable=%v %s\n", d.Book, d.In, d.Why, d.Readable, d.ReadWhy)
			}
			golden(t, filepath.Join(dir, fx.name+".txt"), summary.Bytes())
			written[fx.name+".txt"] = true

			for _, b := range m.Books() {
				card := res.Cards[b.ID]
				if card == nil {
					continue
				}
				for _, version := range []string{"3.0", "4.0"} {
					out, err := Encode(card, version)
					if err != nil {
						t.Fatal(err)
					}
					name := fx.name + "." + b.ID + "." + version + ".vcf"
					golden(t, filepath.Join(dir, name), out)
					written[name] = true
				}
				checkRoundTrip(t, card)
				checkCleanCard(t, card)
			}
		})
	}
	// No golden file is left from a fixture or book that no longer has one.
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if base := filepath.Base(f); !written[base] {
			if *update {
				os.Remove(f)
				continue
			}
			t.Errorf("stale golden file %s: no card makes it (run go test -update)", f)
		}
	}
}

// golden compares got with the file at path, or writes it with -update.
func golden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s differs:\n%s\nwant\n%s", path, got, want)
	}
}

// checkCleanCard checks what every card must satisfy whatever the
// entry held: text values are valid UTF-8 without control characters
// and at most maxText bytes, photos are JPEGs within the default limits.
func checkCleanCard(tb testing.TB, card *dirbook.Card) {
	tb.Helper()
	for _, p := range card.Props {
		if p.Name == "PHOTO" {
			if p.MediaType != "image/jpeg" || len(p.Value()) > defaultPhotoBytes {
				tb.Errorf("PHOTO is %s of %d bytes, want a JPEG within %d bytes", p.MediaType, len(p.Value()), defaultPhotoBytes)
			}
			if w, h := decoded(tb, p.Value()); w > defaultPhotoSize || h > defaultPhotoSize {
				tb.Errorf("PHOTO is %dx%d, want at most %d pixels", w, h, defaultPhotoSize)
			}
			continue
		}
		for _, v := range p.Values {
			if cleanText(v) != v || len(v) > maxText {
				tb.Errorf("%s value %.60q is not clean", p.Name, v)
			}
		}
		if slices.Contains([]string{"N", "ORG", "ADR"}, p.Name) {
			for _, v := range p.Values {
				if strings.Contains(v, ";") {
					tb.Errorf("%s component %q holds a ';'", p.Name, v)
				}
			}
		}
	}
}
