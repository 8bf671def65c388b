package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
)

// staff makes n staff entries below ou; IDs start at first.
func staff(first, n int, ou string) []*dirbook.Entry {
	es := make([]*dirbook.Entry, n)
	for i := range es {
		id := fmt.Sprintf("s%05d", first+i)
		es[i] = entry(id, id, "displayName", "Person "+id, "mobile", "+49170"+id[1:], "group", staffGroup)
		es[i].DN = "uid=" + id + "," + ou
	}
	return es
}

const peopleOU = "ou=people,dc=example"

func TestRemovalLimits(t *testing.T) {
	base := staff(0, 100, peopleOU)
	base = append(base, entry("p1", "p1", "displayName", "P1", "group", partnerGroup),
		entry("p2", "p2", "displayName", "P2", "group", partnerGroup),
		entry("p3", "p3", "displayName", "P3", "group", partnerGroup))
	tests := []struct {
		name string
		opts EngineOptions
		// change edits a copy of base.
		change func(es []*dirbook.Entry) []*dirbook.Entry
		// want is the refusal's error text, "" when the plan is fine.
		want string
	}{
		{
			name:   "10 % is allowed",
			change: func(es []*dirbook.Entry) []*dirbook.Entry { return es[10:] },
		},
		{
			name: "more than 10 %",
			change: func(es []*dirbook.Entry) []*dirbook.Entry {
				for _, e := range es[8:11] {
					e.Attrs["pwdaccountlockedtime"] = []string{"20240101000000Z"}
				}
				return es[8:]
			},
			want: "colleagues: 11 of 100 cards removed (11.0 %, limit 10 %): 8 × no longer in the directory, 3 × excluded by mapping.exclude: has pwdAccountLockedTime (all under ou=people,dc=example)",
		},
		{
			name:   "share rule off",
			opts:   EngineOptions{MaxRemovalShare: 1},
			change: func(es []*dirbook.Entry) []*dirbook.Entry { return es[50:] },
		},
		{
			name:   "other share",
			opts:   EngineOptions{MaxRemovalShare: 0.6},
			change: func(es []*dirbook.Entry) []*dirbook.Entry { return es[61:] },
			want:   "colleagues: 61 of 100 cards removed (61.0 %, limit 60 %): 61 × no longer in the directory",
		},
		{
			name:   "absolute limit",
			opts:   EngineOptions{MaxRemovals: 5},
			change: func(es []*dirbook.Entry) []*dirbook.Entry { return append(es[4:100], es[102]) },
			want:   "6 people removed, limit 5: 6 × no longer in the directory",
		},
		{
			name:   "absolute limit reached",
			opts:   EngineOptions{MaxRemovals: 5},
			change: func(es []*dirbook.Entry) []*dirbook.Entry { return es[5:] },
		},
		{
			name:   "small book below the floor",
			change: func(es []*dirbook.Entry) []*dirbook.Entry { return es[:101] },
		},
		{
			name:   "small book without floor",
			opts:   EngineOptions{ShareFloor: -1},
			change: func(es []*dirbook.Entry) []*dirbook.Entry { return es[:101] },
			want:   "partners: 2 of 3 cards removed (66.7 %, limit 10 %): 2 × no longer in the directory",
		},
		{
			name: "both limits",
			opts: EngineOptions{MaxRemovals: 10, ShareFloor: 1},
			change: func(es []*dirbook.Entry) []*dirbook.Entry {
				return es[11:101]
			},
			want: "colleagues: 11 of 100 cards removed (11.0 %, limit 10 %): 11 × no longer in the directory; " +
				"partners: 2 of 3 cards removed (66.7 %, limit 10 %): 2 × no longer in the directory; " +
				"13 people removed, limit 10: 13 × no longer in the directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := published(t, clone(base))
			before := s.Current()
			opts := tt.opts
			opts.Users = users
			eng := NewEngine(s, []Source{&fakeSource{entries: tt.change(clone(base))}}, newFakeMapper(), &opts)
			p, err := eng.Plan(ctx)
			if err != nil {
				t.Fatalf("Plan = %v", err)
			}
			r := p.Refusal()
			if tt.want == "" {
				if r != nil {
					t.Fatalf("Refusal() = %v, want nil", r)
				}
				if _, err := eng.Apply(ctx, p); err != nil {
					t.Fatalf("Apply = %v", err)
				}
				return
			}
			if r == nil {
				t.Fatalf("Refusal() = nil, want %q", tt.want)
			}
			wantErr := "sync: plan " + p.ID() + " refused by the removal limits: " + tt.want
			if r.Error() != wantErr {
				t.Errorf("Refusal() =\n%s\nwant\n%s", r, wantErr)
			}
			rev, err := eng.Apply(ctx, p)
			var got *Refusal
			if !errors.Is(err, dirbook.ErrRefused) || !errors.As(err, &got) || got != r {
				t.Fatalf("Apply = %v, %v, want the refusal, wrapping ErrRefused", rev, err)
			}
			if s.Current() != before {
				t.Fatalf("a refused plan changed the current revision")
			}
			rev, err = eng.ApplyWith(ctx, p, &ApplyOptions{Force: true})
			if err != nil || rev.Number != before.Number+1 {
				t.Fatalf("ApplyWith(Force) = %v, %v, want revision %d", rev, err, before.Number+1)
			}
		})
	}
}

// TestRefusedOUThenForce removes an OU from the book rules of a directory
// of thousands: the plan is refused, names the OU, and force applies it.
func TestRefusedOUThenForce(t *testing.T) {
	ctx := context.Background()
	es := append(staff(0, 2000, "ou=eng,dc=example"), staff(2000, 1000, "ou=sales,dc=example")...)
	s := published(t, es)
	before := s.Current()
	m := newFakeMapper()
	m.dropUnder = "ou=sales,dc=example"
	eng := NewEngine(s, []Source{&fakeSource{entries: es}}, m, nil)
	p, err := eng.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "colleagues: 1,000 of 3,000 cards removed (33.3 %, limit 10 %): 1,000 × no longer matches book rules (all under ou=sales,dc=example)"
	if r := p.Refusal(); r == nil || strings.Join(r.Lines(), "; ") != want {
		t.Fatalf("Refusal() = %v, want %q", r, want)
	}
	if _, err := eng.Sync(ctx); !errors.Is(err, dirbook.ErrRefused) {
		t.Fatalf("Sync = %v, want refused", err)
	}
	if s.Current() != before {
		t.Fatalf("a refused sync changed the current revision")
	}
	rev, err := eng.ApplyWith(ctx, p, &ApplyOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rev.Book("colleagues").Cards); n != 2000 {
		t.Errorf("forced: colleagues has %d cards, want 2000", n)
	}
}

func TestApproval(t *testing.T) {
	ctx := context.Background()
	es := staff(0, 50, peopleOU)
	s := published(t, es)
	eng := NewEngine(s, []Source{&fakeSource{entries: es[20:]}}, newFakeMapper(), nil)
	p1, err := eng.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := eng.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p1.ID() != p2.ID() || len(p1.ID()) != 16 {
		t.Fatalf("plans of the same directory: IDs %q and %q, want the same 16 hex digits", p1.ID(), p2.ID())
	}
	other := NewEngine(s, []Source{&fakeSource{entries: es[21:]}}, newFakeMapper(), nil)
	p3, err := other.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p3.ID() == p1.ID() {
		t.Errorf("plans removing different people have the same ID %s", p1.ID())
	}
	// The same plan against another store has another ID.
	s2 := published(t, es)
	p4, err := NewEngine(s2, []Source{&fakeSource{entries: es[20:]}}, newFakeMapper(), nil).Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p4.ID() == p1.ID() {
		t.Errorf("the same plan against two stores has the same ID %s", p1.ID())
	}

	if p1.Refusal() == nil {
		t.Fatal("removing 40 % was not refused")
	}
	_, err = eng.ApplyWith(ctx, p1, &ApplyOptions{ApprovedID: p3.ID()})
	if !errors.Is(err, dirbook.ErrRefused) || !strings.Contains(err.Error(), "the approved plan "+p3.ID()+" is not this plan") {
		t.Errorf("ApplyWith(another plan's ID) = %v, want a refusal naming the approved plan", err)
	}
	rev, err := eng.ApplyWith(ctx, p1, &ApplyOptions{ApprovedID: p1.ID()})
	if err != nil || len(rev.Book("colleagues").Cards) != 30 {
		t.Fatalf("ApplyWith(approved) = %v, %v, want 30 colleagues", rev, err)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 40120: "40,120", 1234567: "1,234,567", -4012: "-4,012"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParentDN(t *testing.T) {
	tests := []struct{ dn, want string }{
		{"uid=anna,ou=Sales, dc=example", "ou=sales,dc=example"},
		{`cn=Meier\, Anna,ou=people,dc=example`, "ou=people,dc=example"},
		{"dc=example", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := parentDN(tt.dn); got != tt.want {
			t.Errorf("parentDN(%q) = %q, want %q", tt.dn, got, tt.want)
		}
	}
}

func TestProgress(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	var calls []Progress
	var stamps []time.Time
	now := time.Unix(0, 0)
	eng := NewEngine(s, []Source{&fakeSource{entries: staff(0, 5000, peopleOU)}}, newFakeMapper(),
		&EngineOptions{Progress: func(p Progress) {
			calls = append(calls, p)
			stamps = append(stamps, now)
		}})
	// Each look at the clock takes 100 ms of fake time.
	eng.now = func() time.Time {
		now = now.Add(100 * time.Millisecond)
		return now
	}
	check := func(what string, min int, final Progress) {
		t.Helper()
		if len(calls) < min {
			t.Fatalf("%s: %d progress calls, want several", what, len(calls))
		}
		if last := calls[len(calls)-1]; last != final {
			t.Errorf("%s: last progress = %+v, want %+v", what, last, final)
		}
		for i := 1; i < len(calls); i++ {
			a, b := calls[i-1], calls[i]
			if b.Read < a.Read || b.Mapped < a.Mapped || b.Published < a.Published {
				t.Errorf("%s: progress went back from %+v to %+v", what, a, b)
			}
			if i < len(calls)-1 && stamps[i].Sub(stamps[i-1]) < progressInterval {
				t.Errorf("%s: progress calls %d and %d only %v apart", what, i-1, i, stamps[i].Sub(stamps[i-1]))
			}
			if a.Done {
				t.Errorf("%s: call %d of %d is Done", what, i, len(calls))
			}
		}
		calls, stamps = nil, nil
	}
	p, err := eng.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("Plan", 5, Progress{Stage: "plan", Read: 5000, Mapped: 5000, Done: true})
	if _, err := eng.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	check("Apply", 2, Progress{Stage: "publish", Published: 5000, Done: true})
}
