package ldap

import (
	"context"
	"testing"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/slapdtest"
)

// BenchmarkServerRead reads a generated directory of 20,000 people from
// slapd on loopback, memberOf included, groups nested.
func BenchmarkServerRead(b *testing.B) {
	d := &slapdtest.Directory{People: 20000, Departments: 20}
	people, groups := generate(b, d, true)
	s := slapdtest.Start(b, &slapdtest.Options{Load: []string{people, groups}})
	src := newSource(b, readerOptions(s))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := src.Read(context.Background(), func(e *dirbook.Entry) error {
			n++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != d.People {
			b.Fatalf("read %d people, want %d", n, d.People)
		}
	}
	b.ReportMetric(float64(d.People)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
