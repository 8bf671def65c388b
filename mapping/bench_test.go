package mapping

import (
	"bytes"
	"fmt"
	"maps"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/dirbook/dirbook"
)

// BenchmarkMap maps a typical employee without photo, as every sync after
// the first does (the phone numbers are known).
func BenchmarkMap(b *testing.B) {
	m := mustCompile(b, demoRules())
	e := person()
	delete(e.Attrs, "jpegphoto")
	e.Attrs["telephonenumber"] = []string{"+49 30 1234-567"}
	e.Attrs["mail"] = []string{"jana.doe@nordlicht.example"}
	m.Map(e)
	b.ReportAllocs()
	for b.Loop() {
		m.Map(e)
	}
}

// BenchmarkMapNewNumbers is BenchmarkMap with phone numbers never seen
// before, as in a first sync.
func BenchmarkMapNewNumbers(b *testing.B) {
	m := mustCompile(b, demoRules())
	e := person()
	delete(e.Attrs, "jpegphoto")
	e.Attrs["mail"] = []string{"jana.doe@nordlicht.example"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		e.Attrs["telephonenumber"] = []string{fmt.Sprintf("+49 30 %07d", 1000000+i%9000000)}
		e.Attrs["mobile"] = []string{fmt.Sprintf("0171 %07d", 1000000+i%9000000)}
		m.Map(e)
	}
}

func BenchmarkEncode(b *testing.B) {
	m := mustCompile(b, demoRules())
	e := person()
	delete(e.Attrs, "jpegphoto")
	card := m.Map(e).Cards["colleagues"]
	for _, version := range []string{"3.0", "4.0"} {
		b.Run(version, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(card, version); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGoVCardEncode is go-vcard's encoder alone writing the card of
// BenchmarkEncode, built beforehand: the floor under Encode.
func BenchmarkGoVCardEncode(b *testing.B) {
	m := mustCompile(b, demoRules())
	e := person()
	delete(e.Attrs, "jpegphoto")
	vc := VCard(m.Map(e).Cards["colleagues"], "3.0")
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := vcard.NewEncoder(&buf).Encode(vc); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPeople returns n distinct employees; every tenth has a photo
// larger than the limits (so it is scaled, then served from the cache).
func benchPeople(b *testing.B, n int, photos bool) []*dirbook.Entry {
	b.Helper()
	var photoBytes []string
	if photos {
		for i := range n / 10 {
			photoBytes = append(photoBytes, encodeJPEG(b, testImage(320+i%64, 320, false), 85))
		}
	}
	people := make([]*dirbook.Entry, n)
	for i := range people {
		e := person()
		e.ID = fmt.Sprintf("%08d-2b7a-4c55-9e0d-1a2b3c4d5e6f", i)
		e.Attrs = maps.Clone(e.Attrs)
		e.Attrs["uid"] = []string{fmt.Sprintf("user%d", i)}
		e.Attrs["cn"] = []string{fmt.Sprintf("Person %d", i)}
		e.Attrs["displayname"] = []string{fmt.Sprintf("Person %d", i)}
		e.Attrs["sn"] = []string{fmt.Sprintf("Family%d", i)}
		e.Attrs["mail"] = []string{fmt.Sprintf("user%d@nordlicht.example", i)}
		e.Attrs["telephonenumber"] = []string{fmt.Sprintf("+49 30 %07d", 1000000+i)}
		e.Attrs["mobile"] = []string{fmt.Sprintf("0171 %07d", 1000000+i)}
		delete(e.Attrs, "jpegphoto")
		if photos && i%10 == 0 {
			e.Attrs["jpegphoto"] = []string{photoBytes[i/10]}
		}
		if i%5 == 0 {
			e.Groups = []string{partners}
		}
		people[i] = e
	}
	return people
}

// BenchmarkMapAndEncode maps people and renders each of their cards as a
// vCard 3.0, as a sync followed by serving every card once does. Like a
// sync, it maps everyone into one Result. The phone numbers and photos
// are known from an earlier sync (cache hits): photo scaling happens once
// per photo change, not once per sync. It reports people per second; run
// with -cpu 1 for one core.
func BenchmarkMapAndEncode(b *testing.B) {
	for _, bb := range []struct {
		name   string
		photos bool
	}{{"no-photos", false}, {"10pct-photos", true}} {
		b.Run(bb.name, func(b *testing.B) {
			m := mustCompile(b, demoRules())
			people := benchPeople(b, 1000, bb.photos)
			for _, e := range people { // the earlier sync
				m.Map(e)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			var res Result // reused, as a sync does
			for b.Loop() {
				m.MapTo(&res, people[i%len(people)])
				for _, card := range res.Cards {
					if _, err := Encode(card, "3.0"); err != nil {
						b.Fatal(err)
					}
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "people/s")
		})
	}
}

// BenchmarkMapOnly is BenchmarkMapAndEncode without rendering.
func BenchmarkMapOnly(b *testing.B) {
	for _, bb := range []struct {
		name   string
		photos bool
	}{{"no-photos", false}, {"10pct-photos", true}} {
		b.Run(bb.name, func(b *testing.B) {
			m := mustCompile(b, demoRules())
			people := benchPeople(b, 1000, bb.photos)
			for _, e := range people {
				m.Map(e)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			var res Result
			for b.Loop() {
				m.MapTo(&res, people[i%len(people)])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "people/s")
		})
	}
}

// BenchmarkScalePhoto measures scaling one 1200×900 photo: the cost of a
// photo change.
func BenchmarkScalePhoto(b *testing.B) {
	raw := encodeJPEG(b, testImage(1200, 900, false), 90)
	l := photoLimits{size: defaultPhotoSize, bytes: defaultPhotoBytes}
	b.ReportAllocs()
	for b.Loop() {
		if _, problem := scalePhoto(raw, l); problem != "" {
			b.Fatal(problem)
		}
	}
}
