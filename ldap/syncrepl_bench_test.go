package ldap

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/dirbook/dirbook/internal/slapdtest"
	goldap "github.com/go-ldap/ldap/v3"
)

// hrEdits is the number of edits each round of the feed benchmarks makes.
const hrEdits = 100

// BenchmarkSyncrepl measures the content-sync feed on a generated directory
// of 10,000 people (another number with DIRBOOK_BENCH_PEOPLE=100000), with
// and without a session log: the time a Poll takes to report 100 edits
// (ms/poll), and the time from the end of the last of 100 edits to Watch
// having handed all of them over (ms-after-last-edit). Edits are made as
// the admin, in-process, one modify each, so the last one's end is known
// exactly.
func BenchmarkSyncrepl(b *testing.B) {
	people := 10000
	if v, err := strconv.Atoi(os.Getenv("DIRBOOK_BENCH_PEOPLE")); err == nil && v > 0 {
		people = v
	}
	d := &slapdtest.Directory{People: people, Departments: 20}
	peopleFile, groupsFile := generate(b, d, true)
	for _, sl := range sessionLogs {
		b.Run(sl.name, func(b *testing.B) {
			benchmarkSyncrepl(b, d, &slapdtest.Options{Load: []string{peopleFile, groupsFile}, SessionLog: sl.log})
		})
	}
}

func benchmarkSyncrepl(b *testing.B, d *slapdtest.Directory, opts *slapdtest.Options) {
	people := d.People
	s := slapdtest.Start(b, opts)
	src := newSource(b, feedOptions(s))

	start := time.Now()
	var n int
	state, full, err := src.Poll(context.Background(), nil, func(Change) error { n++; return nil })
	if err != nil || !full || n != people {
		b.Fatalf("first Poll = %d people, full %v, error %v; want %d, full", n, full, err, people)
	}
	b.Logf("%d people: first Poll (full read) %v, state %d bytes", people, time.Since(start).Round(time.Millisecond), len(state))

	admin := dialSlapd(b, s, s.AdminDN, s.AdminPassword)
	round := 0
	// edit makes hrEdits modifies of different people and returns when
	// the last has completed.
	edit := func(b *testing.B) {
		round++
		for i := range hrEdits {
			p := (round*hrEdits + i*97) % people
			req := goldap.NewModifyRequest(d.DN(p), nil)
			req.Replace("title", []string{fmt.Sprintf("Title %d/%d", round, i)})
			if err := admin.Modify(req); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("poll", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			edit(b)
			t0 := time.Now()
			n := 0
			next, full, err := src.Poll(context.Background(), state, func(Change) error { n++; return nil })
			total += time.Since(t0)
			if err != nil || full || n != hrEdits {
				b.Fatalf("Poll = %d changes, full %v, error %v; want %d, not full", n, full, err, hrEdits)
			}
			state = next
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/poll")
		b.ReportMetric(0, "ns/op")
	})

	b.Run("watch", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan int, 1000)
		done := make(chan error, 1)
		go func() {
			done <- src.Watch(ctx, state, func(changes []Change, full bool, next []byte) error {
				got <- len(changes)
				return nil
			})
		}()
		select { // the refresh
		case <-got:
		case err := <-done:
			b.Fatalf("Watch: %v", err)
		}
		var total time.Duration
		for range b.N {
			edit(b)
			t0 := time.Now()
			for n := 0; n < hrEdits; {
				select {
				case k := <-got:
					n += k
				case err := <-done:
					b.Fatalf("Watch: %v", err)
				case <-time.After(30 * time.Second):
					b.Fatalf("Watch handed over %d of %d changes within 30s", n, hrEdits)
				}
			}
			total += time.Since(t0)
		}
		cancel()
		<-done
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-after-last-edit")
		b.ReportMetric(0, "ns/op")
	})
}
