package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenPlan builds a plan with every kind of change.
func goldenPlan(t *testing.T) *Plan {
	t.Helper()
	ctx := context.Background()
	s, _ := openStore(t)
	users := []User{
		{Login: "anna-phone", Person: "anna"},
		{Login: "carla", Person: "carla"},
		{Login: "gina", Person: "gina"},
		{Login: "zed", Person: "zed"},
	}
	before := []*dirbook.Entry{
		entry("1", "anna", "displayName", "Anna Schmidt", "mail", "anna@example.com", "mobile", "+4917012345", "jpegPhoto", "\xff\xd8abc", "group", staffGroup),
		entry("2", "bernd", "displayName", "Bernd Meier", "mail", "bernd@example.com", "group", staffGroup),
		entry("3", "carla", "displayName", "Carla Ost", "mail", "carla@partner.example", "group", partnerGroup),
		entry("5", "erik", "displayName", "Erik Lund", "group", staffGroup),
		entry("6", "fritz", "displayName", "Fritz Kahl", "group", staffGroup),
		entry("7", "gina", "displayName", "Gina Roth", "group", staffGroup),
	}
	eng := NewEngine(s, []Source{&fakeSource{name: "dir", entries: before}}, newFakeMapper(), &EngineOptions{Users: users})
	rev, err := eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A book that the next configuration drops.
	_, err = s.Publish(ctx, &Changes{
		Base: rev.Number,
		Books: []BookChanges{
			{Book: colleagues},
			{Book: partners},
			{Book: dirbook.Book{ID: "alumni", Name: "Alumni"}, Put: []CardPut{{Card: card("u-8", "Hans Alt"), EntryID: "8"}}},
		},
		Access: rev.Access,
	})
	if err != nil {
		t.Fatal(err)
	}

	after := clone(before)
	after[0].Attrs["mobile"] = []string{"+4917099999"}
	after[0].Attrs["jpegphoto"] = []string{"\xff\xd8abcdef"}
	after[0].Attrs["mail"] = append(after[0].Attrs["mail"], "a.schmidt@example.com")
	after[1].Attrs["jpegphoto"] = []string{"\xff\xd8xy"}
	after[1].Attrs["mobile"] = []string{"0170 12"}
	after[2].Groups = append(after[2].Groups, staffGroup)
	after[3].Attrs["pwdaccountlockedtime"] = []string{"20240101000000Z"}
	after[5].Groups = []string{partnerGroup}
	after = append(after[:4], after[5], entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup))
	after = append(after, &dirbook.Entry{DN: "uid=ghost,ou=people,dc=example", Invalid: "no entryUUID"})
	hr := []*dirbook.Entry{entry("2", "bernd.meier", "displayName", "Bernd M.", "group", staffGroup)}

	m := newFakeMapper()
	m.books = []dirbook.Book{colleagues, {ID: "partners", Name: "Partner firms"}, {ID: "board", Name: "Board"}}
	// Limits low enough to refuse the plan, to show the refusal.
	eng = NewEngine(s, []Source{&fakeSource{name: "dir", entries: after}, &fakeSource{name: "hr", entries: hr}}, m,
		&EngineOptions{Users: users, MaxRemovals: 3, ShareFloor: -1})
	p, err := eng.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkGolden compares got, with the plan's ID replaced by PLAN-ID and its
// store ID by STORE-ID (both random per store), with testdata/name, and
// rewrites the file with -update.
func checkGolden(t *testing.T, p *Plan, name string, got []byte) {
	t.Helper()
	got = bytes.ReplaceAll(got, []byte(p.ID()), []byte("PLAN-ID"))
	got = bytes.ReplaceAll(got, []byte(p.storeID), []byte("STORE-ID"))
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./sync -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", got, golden, want)
	}
}

func TestWriteTextGolden(t *testing.T) {
	p := goldenPlan(t)
	for _, tt := range []struct {
		name    string
		verbose bool
	}{
		{"plan.golden", true},
		{"plan-short.golden", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := p.WriteTextWith(&buf, &WriteTextOptions{Verbose: tt.verbose}); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, p, tt.name, buf.Bytes())
			if tt.verbose {
				var plain bytes.Buffer
				if err := p.WriteText(&plain); err != nil {
					t.Fatal(err)
				}
				if plain.String() != buf.String() {
					t.Errorf("WriteText differs from WriteTextWith(Verbose: true):\n%s\nthen\n%s", plain.String(), buf.String())
				}
			}
		})
	}

	// The same plan, made and written twice, reads the same.
	var one, two bytes.Buffer
	if err := p.WriteText(&one); err != nil {
		t.Fatal(err)
	}
	if err := goldenPlan(t).WriteText(&two); err != nil {
		t.Fatal(err)
	}
	if a, b := strings.Replace(one.String(), p.ID(), "", 1), strings.Replace(two.String(), "plan "+strings.Fields(two.String())[1], "plan ", 1); a != b {
		t.Errorf("WriteText is not deterministic:\n%s\nthen\n%s", a, b)
	}
}

func TestWriteJSONGolden(t *testing.T) {
	p := goldenPlan(t)
	var buf bytes.Buffer
	if err := p.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, p, "plan.json.golden", buf.Bytes())

	// The document reads back into PlanDocument with nothing lost, and
	// lists are never null.
	var doc PlanDocument
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode WriteJSON output: %v", err)
	}
	if !reflect.DeepEqual(&doc, p.Document()) {
		t.Errorf("decoded document = %+v, want %+v", doc, p.Document())
	}
	var generic any
	if err := json.Unmarshal(buf.Bytes(), &generic); err != nil {
		t.Fatal(err)
	}
	for _, path := range nulls(generic, "") {
		if path != ".refusal" && !strings.HasSuffix(path, ".previous") {
			t.Errorf("WriteJSON wrote null at %s, want a value (lists are [])", path)
		}
	}
}

// nulls lists the paths of the null values in a decoded JSON value.
func nulls(v any, path string) []string {
	var out []string
	switch v := v.(type) {
	case nil:
		out = append(out, path)
	case map[string]any:
		for k, e := range v {
			out = append(out, nulls(e, path+"."+k)...)
		}
	case []any:
		for i, e := range v {
			out = append(out, nulls(e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

func TestWriteTextNoChanges(t *testing.T) {
	s := published(t, directory())
	es := append(directory(), &dirbook.Entry{DN: "uid=ghost,ou=people,dc=example", Invalid: "no entryUUID"})
	eng := NewEngine(s, []Source{&fakeSource{name: "dir", entries: es}}, newFakeMapper(), &EngineOptions{Users: users})
	p, err := eng.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	want := "no changes\n\nskipped:\n  uid=ghost,ou=people,dc=example (source dir): no entryUUID\n"
	if got := buf.String(); got != want {
		t.Errorf("WriteText =\n%q\nwant\n%q", got, want)
	}
}

func TestFieldChangeText(t *testing.T) {
	tests := []struct {
		f    FieldChange
		want string
	}{
		{FieldChange{Field: "mobile", Old: []string{"+4917012345"}, New: []string{"+4917099999"}}, "mobile: +4917012345 → +4917099999"},
		{FieldChange{Field: "title", New: []string{"CTO"}}, "title: (none) → CTO"},
		{FieldChange{Field: "note", Old: []string{"a\nb"}}, `note: "a\nb" → (none)`},
		{FieldChange{Field: "photo", Binary: true, Old: []string{"1234"}, New: []string{"2345"}}, "photo changed (1234 → 2345 bytes)"},
		{FieldChange{Field: "photo", Binary: true, New: []string{"2345"}}, "photo added (2345 bytes)"},
		{FieldChange{Field: "photo", Binary: true, Old: []string{"1234"}}, "photo removed (1234 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.f.text(); got != tt.want {
				t.Errorf("text(%+v) = %q, want %q", tt.f, got, tt.want)
			}
		})
	}
}

func TestDiffCards(t *testing.T) {
	tests := []struct {
		name     string
		old, new *dirbook.Card
		want     []string
	}{
		{"same", card("u", "A", mobileProp("+1")), card("u", "A", mobileProp("+1")), nil},
		{"value", card("u", "A", mobileProp("+1")), card("u", "A", mobileProp("+2")), []string{"mobile: +1 → +2"}},
		{"added field", card("u", "A"), card("u", "A", mobileProp("+2")), []string{"mobile: (none) → +2"}},
		{"removed field", card("u", "A", mobileProp("+1")), card("u", "A"), []string{"mobile: +1 → (none)"}},
		{
			"types only",
			card("u", "A", mobileProp("+1")),
			card("u", "A", dirbook.Prop{Field: "mobile", Name: "TEL", Types: []string{"cell", "work"}, Pref: true, Values: []string{"+1"}}),
			[]string{"mobile: +1 (type=cell) → +1 (type=cell,work; pref)"},
		},
		{
			"structured",
			card("u", "A", dirbook.Prop{Field: "n", Name: "N", Values: []string{"Schmidt", "Anna", "", "", ""}}),
			card("u", "A", dirbook.Prop{Field: "n", Name: "N", Values: []string{"Schmidt-Berg", "Anna", "", "", ""}}),
			[]string{"n: Schmidt;Anna → Schmidt-Berg;Anna"},
		},
		{"photo", card("u", "A", photoProp("\xff1")), card("u", "A", photoProp("\xff12")), []string{"photo changed (2 → 3 bytes)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range diffCards(tt.old, tt.new) {
				got = append(got, f.text())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("diffCards = %q, want %q", got, tt.want)
			}
			if same := sameCard(tt.old, tt.new); same != (len(tt.want) == 0) {
				t.Errorf("sameCard = %v, want %v", same, len(tt.want) == 0)
			}
		})
	}
}
