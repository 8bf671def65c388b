package sync

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/mapping"
)

// countingMapper is a fakeMapper that counts Map calls per entry ID.
type countingMapper struct {
	*fakeMapper
	calls atomic.Int64
	ids   chan string
}

func newCountingMapper() *countingMapper {
	return &countingMapper{fakeMapper: newFakeMapper(), ids: make(chan string, 100)}
}

func (m *countingMapper) MapTo(res *mapping.Result, e *dirbook.Entry) {
	m.calls.Add(1)
	m.ids <- e.ID
	m.fakeMapper.MapTo(res, e)
}

// mapped returns the sorted IDs mapped since the last call.
func (m *countingMapper) mapped() []string {
	var ids []string
	for {
		select {
		case id := <-m.ids:
			ids = append(ids, id)
		default:
			slices.Sort(ids)
			return ids
		}
	}
}

// TestReuseMapping checks that a full read maps only the people whose
// entries changed since the published revision, and that its plan is the
// one mapping everyone gives.
func TestReuseMapping(t *testing.T) {
	ctx := context.Background()
	entries := directory()
	// Dora has an invalid mobile number: a warning at every plan.
	// Fritz is locked: excluded.
	entries = append(entries, entry("4", "dora", "displayName", "Dora Warn", "mobile", "0171 1", "group", staffGroup),
		entry("6", "fritz", "displayName", "Fritz Locked", "pwdAccountLockedTime", "20260101000000Z", "group", staffGroup))
	opts := func(rules string) *EngineOptions {
		return &EngineOptions{DirectoryLogins: true, RulesFingerprint: rules}
	}
	var all []string
	for _, e := range entries {
		all = append(all, e.ID)
	}
	slices.Sort(all)

	s, _ := openStore(t)
	src := &fakeSource{entries: clone(entries)}
	m := newCountingMapper()
	eng := NewEngine(s, []Source{src}, m, opts("rules 1"))
	plan := func(step string, wantMapped []string) *Plan {
		t.Helper()
		p, err := eng.Plan(ctx)
		if err != nil {
			t.Fatalf("%s: Plan: %v", step, err)
		}
		if got := m.mapped(); !slices.Equal(got, wantMapped) {
			t.Errorf("%s: mapped %q, want %q", step, got, wantMapped)
		}
		return p
	}
	doraWarning := "warn uid=dora,ou=people,dc=example: mobile: value 1 of mobile is not a valid phone number"
	first := plan("first sync", all)
	apply(t, eng, first)
	if !slices.Contains(summarize(first), doraWarning) {
		t.Errorf("first sync: plan %q lacks Dora's warning", summarize(first))
	}

	p := plan("no change", []string{"4"})
	if got, want := summarize(p), []string{doraWarning}; !p.Empty() || !slices.Equal(got, want) {
		t.Errorf("no change: Empty() = %v, plan %q, want empty with %q", p.Empty(), got, want)
	}
	apply(t, eng, p)
	p = plan("no change, again", []string{"4"})
	if !p.Empty() || len(p.Access) != 0 {
		t.Errorf("no change, again: plan %q, want empty", summarize(p))
	}

	// One attribute of one person changes: only they are mapped, and the
	// plan equals that of an engine mapping everyone.
	src.entries[0].Attrs["mail"] = []string{"anna@new.example"}
	p = plan("one change", []string{"1", "4"})
	fresh := NewEngine(s, []Source{&fakeSource{entries: clone(src.entries)}}, newFakeMapper(), opts("rules 1"))
	fresh.fingerprint = "" // reads no index
	want, err := fresh.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summarize(p), summarize(want); !slices.Equal(got, want) || len(got) < 2 {
		t.Errorf("one change: plan %q, want %q", got, want)
	}
	if got, want := p.ID(), want.ID(); got != want {
		t.Errorf("one change: ID() = %q, want %q", got, want)
	}
	apply(t, eng, p)
	plan("after the change", []string{"4"})

	// Fritz is unlocked: he is mapped and gets his card and access.
	delete(src.entries[4].Attrs, "pwdaccountlockedtime")
	p = plan("unlocked", []string{"4", "6"})
	if got := summarize(p); !slices.Contains(got, "colleagues + u-6 Fritz Locked") || !slices.Contains(got, "access fritz: (none) → colleagues, partners") {
		t.Errorf("unlocked: plan %q, want Fritz added with access", got)
	}
	apply(t, eng, p)

	// A new person is mapped; other rules map everyone.
	src.entries = append(src.entries, entry("5", "emil", "displayName", "Emil New", "group", staffGroup))
	apply(t, eng, plan("new person", []string{"4", "5"}))
	eng = NewEngine(s, []Source{src}, m, opts("rules 2"))
	plan("other rules", slices.Sorted(slices.Values(append(slices.Clone(all), "5"))))
}

func TestEntryDigest(t *testing.T) {
	base := func() *dirbook.Entry {
		return entry("1", "anna", "displayName", "Anna", "mail", "a@example.com", "mail", "b@example.com",
			"jpegPhoto", strings.Repeat("x", 5000), "group", staffGroup, "group", partnerGroup)
	}
	want := entryDigest(base())
	reordered := base()
	slices.Reverse(reordered.Groups)
	if got := entryDigest(reordered); got != want {
		t.Errorf("entryDigest with groups reordered = %x, want %x", got, want)
	}
	for name, change := range map[string]func(*dirbook.Entry){
		"value":       func(e *dirbook.Entry) { e.Attrs["mail"][1] = "c@example.com" },
		"value order": func(e *dirbook.Entry) { slices.Reverse(e.Attrs["mail"]) },
		"photo":       func(e *dirbook.Entry) { e.Attrs["jpegphoto"][0] += "y" },
		"attribute":   func(e *dirbook.Entry) { e.Attrs["title"] = []string{"Boss"} },
		"split":       func(e *dirbook.Entry) { e.Attrs["mail"] = []string{"a@example.comb@example.com"} },
		"group":       func(e *dirbook.Entry) { e.Groups = e.Groups[:1] },
		"dn":          func(e *dirbook.Entry) { e.DN += "x" },
		"kind":        func(e *dirbook.Entry) { e.Kind = "partner" },
		"source":      func(e *dirbook.Entry) { e.Source = "hr" },
	} {
		e := base()
		change(e)
		if got := entryDigest(e); got == want {
			t.Errorf("entryDigest after a change of %s = %x, the same as before", name, got)
		}
	}
}
