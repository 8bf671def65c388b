package mapping

import (
	"fmt"
	"testing"
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
