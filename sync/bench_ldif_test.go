package sync_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/dirbook/dirbook/internal/benchmark"
	"github.com/dirbook/dirbook/ldap"
	"github.com/dirbook/dirbook/mapping"
	dirsync "github.com/dirbook/dirbook/sync"
)

// The benchmarks of a directory of 100,000 people read by the real LDIF
// source and mapped by the demo's rules (../testdata/demo/dirbook.yaml).
// The import rules concern the sync package itself, not its tests.
//
// Run one sub-benchmark per process to read its peak RSS, which is the
// high-water mark of the whole process (getrusage ru_maxrss), setup
// included:
//
//	go test ./sync -run '^$' -bench 'FullSync100k/full$' -benchtime 1x
//	go test ./sync -run '^$' -bench 'FullSync100k/no-change$' -benchtime 1x
//	go test ./sync -run '^$' -bench 'FullSync100k/100-changes$' -benchtime 1x

const (
	benchPeople  = 100_000
	benchChanged = 100
)

// writeBenchLDIF writes the directory: n people below
// ou=people,dc=nordlicht,dc=example, one in ten with a photo, one in a
// hundred locked, 95 % employees and the others approved partners. With
// changed, benchChanged people have another mobile number.
func writeBenchLDIF(tb testing.TB, path string, n int, changed bool, photos []string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	const base = "dc=nordlicht,dc=example"
	fmt.Fprintf(w, "version: 1\n\ndn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: nordlicht\no: Nordlicht GmbH\n\n", base)
	fmt.Fprintf(w, "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n", base)
	fmt.Fprintf(w, "dn: ou=groups,%s\nobjectClass: organizationalUnit\nou: groups\n\n", base)
	step := n / benchChanged
	for i := range n {
		uid := fmt.Sprintf("user%06d", i)
		fmt.Fprintf(w, "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\n", uid, base, uid)
		fmt.Fprintf(w, "cn: Person %06d\nsn: Person%06d\ngivenName: Test\ndisplayName: Test Person %06d\n", i, i, i)
		fmt.Fprintf(w, "o: Nordlicht GmbH\nou: Department %d\ntitle: Engineer %d\nmail: %s@nordlicht.example\n", i%50, i%7, uid)
		fmt.Fprintf(w, "telephoneNumber: +49 30 %07d\n", i)
		mobile := i
		if changed && i%step == 0 {
			mobile += 5_000_000
		}
		fmt.Fprintf(w, "mobile: 0171 %07d\n", mobile)
		if i%10 == 0 {
			fmt.Fprintf(w, "jpegPhoto:: %s\n", photos[i/10%len(photos)])
		}
		if i%100 == 99 {
			fmt.Fprintf(w, "pwdAccountLockedTime: 20240101000000Z\n")
		}
		fmt.Fprintf(w, "entryUUID: %08x-0000-4000-8000-%012x\n\n", i, i)
	}
	for _, g := range []struct {
		cn      string
		partner bool
	}{{"employees", false}, {"approved-partners", true}} {
		fmt.Fprintf(w, "dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\n", g.cn, base, g.cn)
		for i := range n {
			if (i%20 == 19) == g.partner {
				fmt.Fprintf(w, "member: uid=user%06d,ou=people,%s\n", i, base)
			}
		}
		fmt.Fprintln(w)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// demoMapper compiles the mapping section of the demo configuration.
func demoMapper(tb testing.TB) *mapping.Mapper {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "demo", "dirbook.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var cfg struct {
		Mapping mapping.Rules `yaml:"mapping"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		tb.Fatal(err)
	}
	m, problems := mapping.Compile(&cfg.Mapping)
	if len(problems) > 0 {
		tb.Fatalf("mapping.Compile = %v", problems)
	}
	return m
}

func benchSource(tb testing.TB, path string) dirsync.Source {
	tb.Helper()
	src, err := ldap.NewLDIF(path, &ldap.LDIFOptions{
		Name:   "bench",
		Base:   "dc=nordlicht,dc=example",
		Filter: "(objectClass=inetOrgPerson)",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

// reportPeakRSS reports the process's peak resident set so far.
func reportPeakRSS(b *testing.B) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB") // Linux: KiB
	}
}

func BenchmarkFullSync100k(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	photos := benchmark.Photos(64)
	v0 := filepath.Join(dir, "v0.ldif")
	writeBenchLDIF(b, v0, benchPeople, false, photos)
	m := demoMapper(b)
	sync := func(b *testing.B, eng *dirsync.Engine) *dirsync.Plan {
		p, err := eng.Plan(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := eng.Apply(ctx, p); err != nil {
			b.Fatal(err)
		}
		return p
	}
	openStore := func(b *testing.B, name string) *dirsync.Store {
		s, err := dirsync.Open(filepath.Join(dir, name), nil)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}

	b.Run("full", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			s := openStore(b, fmt.Sprintf("full%d.db", i))
			i++
			eng := dirsync.NewEngine(s, []dirsync.Source{benchSource(b, v0)}, m, nil)
			b.StartTimer()
			p := sync(b, eng)
			b.StopTimer()
			if n := len(p.Books[0].Added); n < benchPeople*9/10 {
				b.Fatalf("full sync added %d colleagues, want about %d", n, benchPeople*98/100)
			}
			s.Close()
			b.StartTimer()
		}
		reportPeakRSS(b)
	})

	b.Run("no-change", func(b *testing.B) {
		s := openStore(b, "nochange.db")
		defer s.Close()
		eng := dirsync.NewEngine(s, []dirsync.Source{benchSource(b, v0)}, m, nil)
		sync(b, eng)
		for b.Loop() {
			p, err := eng.Plan(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if !p.Empty() {
				b.Fatal("no-change plan is not empty")
			}
		}
		reportPeakRSS(b)
	})

	b.Run("100-changes", func(b *testing.B) {
		v1 := filepath.Join(dir, "v1.ldif")
		writeBenchLDIF(b, v1, benchPeople, true, photos)
		s := openStore(b, "changes.db")
		defer s.Close()
		engines := []*dirsync.Engine{
			dirsync.NewEngine(s, []dirsync.Source{benchSource(b, v0)}, m, nil),
			dirsync.NewEngine(s, []dirsync.Source{benchSource(b, v1)}, m, nil),
		}
		sync(b, engines[0])
		i := 1
		for b.Loop() {
			p := sync(b, engines[i%2])
			i++
			if n := p.Books[0].Changed; len(n) != benchChanged {
				b.Fatalf("sync changed %d colleagues, want %d", len(n), benchChanged)
			}
		}
		reportPeakRSS(b)
	})
}
