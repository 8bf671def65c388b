package mapping

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/dirbook/dirbook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenRules extends the demo rules with fields the demo does not use,
// an opt-out, and a partners book for approved partners only.
func goldenRules() *Rules {
	r := demoRules()
	r.Exclude = &Condition{Any: []Condition{
		{Has: []string{"pwdAccountLockedTime"}},
		{Equals: map[string]string{"dirbookHidden": "TRUE"}},
	}}
	r.Fields[4].Pref = true
	r.Fields = append(r.Fields,
		FieldRule{Name: "note", Property: "NOTE", From: []string{"description"}},
		FieldRule{Name: "bday", Property: "BDAY", From: []string{"birthDate"}},
		FieldRule{Name: "web", Property: "URL", From: []string{"labeledURI"}, Types: []string{"work"}},
		FieldRule{Name: "dept", Property: "X-DEPARTMENT", From: []string{"departmentNumber"}},
		FieldRule{Name: "adr", Property: "ADR", Parts: []string{"postOfficeBox", "", "street", "l", "st", "postalCode", "c"}, Types: []string{"work"}},
		FieldRule{Name: "chat", Property: "IMPP", Template: "xmpp:{uid}@chat.nordlicht.example"},
		FieldRule{Name: "units", Property: "CATEGORIES", From: []string{"ou"}, Transform: []string{"title"}, MaxLength: 32},
		FieldRule{Name: "teams", Property: "CATEGORIES", FromGroups: map[string]string{
			employees: "Nordlicht",
			partners:  "Partner",
		}},
	)
	r.Books[0].Fields = append(r.Books[0].Fields, "note", "bday", "web", "dept", "adr", "chat", "units", "teams")
	r.Books[1].Include = &Condition{All: []Condition{
		{Kind: []string{"partner"}},
		{MemberOf: []string{partners}},
		{Future: []string{"dirbookApprovalExpiry"}},
	}}
	r.Books[1].Fields = append(r.Books[1].Fields, "adr", "teams")
	return r
}

// goldenMapper compiles goldenRules with the fixed test clock.
func goldenMapper(tb testing.TB) *Mapper {
	tb.Helper()
	m, problems := CompileWithOptions(goldenRules(), &CompileOptions{Now: fixedClock})
	if len(problems) > 0 {
		tb.Fatalf("Compile() problems: %v", problems)
	}
	return m
}

func goldenCard(tb testing.TB) *dirbook.Card {
	tb.Helper()
	e := person()
	addGoldenAttrs(e, `Sales lead, North; ask for "Jana" \ Nordlicht, Hamburg office, third floor, room 3.14 – Ünïcödé`)
	card := goldenMapper(tb).Map(e).Cards["colleagues"]
	if card == nil {
		tb.Fatal("golden person has no colleagues card")
	}
	return card
}

func TestGolden(t *testing.T) {
	card := goldenCard(t)
	for _, version := range []string{"3.0", "4.0"} {
		t.Run(version, func(t *testing.T) {
			got, err := Encode(card, version)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "jdoe-"+version+".vcf"), got)
			if again, _ := Encode(card, version); !bytes.Equal(again, got) {
				t.Errorf("Encode(%s) is not deterministic", version)
			}
			checkLines(t, got)
		})
	}
}

// checkLines checks the line structure of an encoded vCard: CRLF ends,
// no bare CR or LF, no other control bytes, no folded line (a line
// starting with a space or tab).
func checkLines(tb testing.TB, out []byte) {
	tb.Helper()
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		tb.Errorf("vCard does not end with CRLF")
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\r\n")), []byte("\r\n")) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			tb.Errorf("line %d is folded: %q", i+1, line)
		}
		for _, c := range line {
			if c < 0x20 || c == 0x7f {
				tb.Errorf("line %d has control byte %#x: %q", i+1, c, line)
				break
			}
		}
	}
}

// checkRoundTrip encodes card in both versions, decodes the result with
// go-vcard and compares what must survive.
func checkRoundTrip(tb testing.TB, card *dirbook.Card) {
	tb.Helper()
	for _, version := range []string{"3.0", "4.0"} {
		out, err := Encode(card, version)
		if err != nil {
			tb.Fatalf("Encode(%s): %v", version, err)
		}
		checkLines(tb, out)
		got, err := vcard.NewDecoder(bytes.NewReader(out)).Decode()
		if err != nil {
			tb.Fatalf("decode Encode(%s) output: %v\n%s", version, err, out)
		}
		if v := got.Value(vcard.FieldVersion); v != version {
			tb.Errorf("decoded VERSION = %q, want %q", v, version)
		}
		if uid := got.Value(vcard.FieldUID); uid != cleanText(card.UID) {
			tb.Errorf("decoded UID = %q, want %q", uid, card.UID)
		}
		if fn := got.Value(vcard.FieldFormattedName); fn != card.FN() {
			tb.Errorf("decoded %s FN = %q, want %q\n%s", version, fn, card.FN(), out)
		}
		for _, p := range card.Props {
			switch p.Name {
			case "N":
				n := got.Name()
				if n == nil {
					tb.Errorf("decoded %s has no N", version)
					continue
				}
				decoded := []string{n.FamilyName, n.GivenName, n.AdditionalName, n.HonorificPrefix, n.HonorificSuffix}
				if !reflect.DeepEqual(decoded, p.Values) {
					tb.Errorf("decoded %s N = %q, want %q", version, decoded, p.Values)
				}
			case "URL", "IMPP":
				want := strings.ReplaceAll(cleanText(p.Value()), `\`, "%5C")
				if !slices.Contains(got.Values(p.Name), want) {
					tb.Errorf("decoded %s %s = %q, want %q", version, p.Name, got.Values(p.Name), want)
				}
			case "ADR":
				if !slices.ContainsFunc(got[vcard.FieldAddress], func(f *vcard.Field) bool {
					return reflect.DeepEqual(strings.Split(f.Value, ";"), structuredComponents(p.Values, maxADRParts))
				}) {
					tb.Errorf("decoded %s ADR = %q, want %q", version, got.Values(vcard.FieldAddress), p.Values)
				}
			case "PHOTO":
				f := got.Get(vcard.FieldPhoto)
				data := f.Value
				if version == "4.0" {
					prefix := "data:" + p.MediaType + ";base64,"
					if !strings.HasPrefix(data, prefix) {
						tb.Errorf("decoded 4.0 PHOTO starts %.40q, want %q", data, prefix)
					}
					data = strings.TrimPrefix(data, prefix)
				}
				if raw, err := base64.StdEncoding.DecodeString(data); err != nil || string(raw) != p.Value() {
					tb.Errorf("decoded %s PHOTO = %d bytes, %v, want %d bytes", version, len(raw), err, len(p.Value()))
				}
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	checkRoundTrip(t, goldenCard(t))
	e := person()
	e.Groups = []string{partners}
	for _, card := range mustCompile(t, demoRules()).Map(e).Cards {
		checkRoundTrip(t, card)
	}
}

func TestVCardParams(t *testing.T) {
	card := &dirbook.Card{UID: "u1", Props: []dirbook.Prop{
		{Field: "fn", Name: "FN", Values: []string{"A"}},
		{Field: "tel", Name: "TEL", Types: []string{"work", "voice", "bad;type", "Cell"}, Pref: true, Values: []string{"+4930123"}},
		{Field: "x", Name: "end", Values: []string{"VCARD"}},
		{Field: "x", Name: "X-BAD NAME", Values: []string{"v"}},
		{Field: "x", Name: "NOTE", Values: []string{"line1\r\nline2"}},
		{Field: "x", Name: "PHOTO", MediaType: "image/gif", Values: []string{"GIF89a"}},
		{Field: "x", Name: "ORG", Values: []string{"", ""}},
	}}
	tests := []struct {
		version string
		want    string
	}{
		{"3.0", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nNOTE:line1 line2\r\nTEL;TYPE=work;TYPE=voice;TYPE=cell;TYPE=pref:+4930123\r\nUID:u1\r\nEND:VCARD\r\n"},
		{"4.0", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nKIND:individual\r\nNOTE:line1 line2\r\nTEL;PREF=1;TYPE=work;TYPE=voice;TYPE=cell:+4930123\r\nUID:u1\r\nEND:VCARD\r\n"},
	}
	for _, tt := range tests {
		got, err := Encode(card, tt.version)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("Encode(%s) = %q, want %q", tt.version, got, tt.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	card := &dirbook.Card{UID: "u", Props: []dirbook.Prop{{Name: "FN", Values: []string{"A"}}}}
	for _, version := range []string{"", "2.1", "4"} {
		if _, err := Encode(card, version); err == nil {
			t.Errorf("Encode(card, %q) error = nil, want one", version)
		}
	}
	if _, err := Encode(nil, "4.0"); err == nil {
		t.Errorf("Encode(nil) error = nil, want one")
	}
}

// TestLongLines checks that long values are written on one line, as
// go-vcard writes them, and read back whole by go-vcard's decoder.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("Ünïcödé text, ", 40)
	tests := []struct {
		name string
		prop dirbook.Prop
		want string // the decoded value
	}{
		{"note", dirbook.Prop{Name: "NOTE", Values: []string{long}}, cleanText(long)},
		{"url", dirbook.Prop{Name: "URL", Values: []string{"https://example.com/?q=" + strings.Repeat("a,b", 60)}}, "https://example.com/?q=" + strings.Repeat("a,b", 60)},
		{"org", dirbook.Prop{Name: "ORG", Values: []string{strings.Repeat("Nordlicht ", 20), "Sales"}}, cleanText(strings.Repeat("Nordlicht ", 20)) + ";Sales"},
	}
	for _, tt := range tests {
		for _, version := range []string{"3.0", "4.0"} {
			t.Run(tt.name+"/"+version, func(t *testing.T) {
				card := &dirbook.Card{UID: "u1", Props: []dirbook.Prop{{Name: "FN", Values: []string{"A"}}, tt.prop}}
				out, err := Encode(card, version)
				if err != nil {
					t.Fatal(err)
				}
				checkLines(t, out)
				if got, want := bytes.Count(out, []byte("\r\n")), len(VCard(card, version))+2; got != want {
					t.Errorf("Encode(%s) has %d lines, want %d (one a property)\n%s", version, got, want, out)
				}
				decoded, err := vcard.NewDecoder(bytes.NewReader(out)).Decode()
				if err != nil {
					t.Fatalf("decode Encode(%s): %v", version, err)
				}
				if got := decoded.Value(tt.prop.Name); got != tt.want {
					t.Errorf("decoded %s = %q, want %q", tt.prop.Name, got, tt.want)
				}
			})
		}
	}
}

// TestEncodeDecodes checks that Encode's output reads back with go-vcard
// as the card VCard returns, apart from the commas in URIs go-vcard
// escapes and Encode does not.
func TestEncodeDecodes(t *testing.T) {
	card := goldenCard(t)
	card.Props = append(card.Props, dirbook.Prop{Field: "photo", Name: "PHOTO", MediaType: "image/png", Values: []string{tinyPNG}})
	for _, version := range []string{"3.0", "4.0"} {
		t.Run(version, func(t *testing.T) {
			out, err := Encode(card, version)
			if err != nil {
				t.Fatal(err)
			}
			got, err := vcard.NewDecoder(bytes.NewReader(out)).Decode()
			if err != nil {
				t.Fatalf("decode Encode(%s): %v", version, err)
			}
			want := VCard(card, version)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded Encode(%s) = %v, want %v\n%s", version, got, want, out)
			}
		})
	}
}

// TestEncodeConcurrent checks that Encode, which reuses its buffers,
// writes the same bytes from many goroutines at once (run with -race).
func TestEncodeConcurrent(t *testing.T) {
	cards := []*dirbook.Card{goldenCard(t), {UID: "u2", Props: []dirbook.Prop{
		{Name: "FN", Values: []string{"B"}},
		{Name: "URL", Values: []string{"https://example.com/a,b"}},
		{Name: "PHOTO", MediaType: "image/png", Values: []string{tinyPNG}},
	}}}
	var want [][]byte
	for _, c := range cards {
		for _, version := range []string{"3.0", "4.0"} {
			b, err := Encode(c, version)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, b)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := (g + i) % len(want)
				got, err := Encode(cards[k/2], []string{"3.0", "4.0"}[k%2])
				if err != nil || !bytes.Equal(got, want[k]) {
					t.Errorf("Encode of card %d in goroutine %d = %q, %v, want %q", k, g, got, err, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestVCardGroups checks that VCard lists the values of each property
// name in the order of the card's properties, for known names in any
// case, X- names and more names than a map group holds.
func TestVCardGroups(t *testing.T) {
	names := []string{"TEL", "x-a", "NOTE", "tel", "X-A", "EMAIL", "X-B", "Tel", "FN", "x-c", "X-D", "X-E", "X-F", "X-G", "X-H", "NOTE", "X-B", "ORG", "CATEGORIES", "X-A"}
	reversed := slices.Clone(names)
	slices.Reverse(reversed)
	tests := []struct {
		name  string
		names []string
	}{
		{"none", nil},
		{"one", names[:1]},
		{"few", names[:6]},
		{"all", names},
		{"reversed", reversed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			card := &dirbook.Card{UID: "u1"}
			want := map[string][]string{vcard.FieldVersion: {"3.0"}, vcard.FieldUID: {"u1"}}
			for i, name := range tt.names {
				v := fmt.Sprintf("v%d", i)
				card.Props = append(card.Props, dirbook.Prop{Name: name, Values: []string{v}})
				up := strings.ToUpper(name)
				want[up] = append(want[up], v)
			}
			got := make(map[string][]string)
			for name, fields := range VCard(card, "3.0") {
				for _, f := range fields {
					got[name] = append(got[name], f.Value)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("VCard() values = %v, want %v", got, want)
			}
		})
	}
}

// TestEncodeReuse encodes cards of alternating shapes one after the
// other, as Encode's reused builders see them, and checks each against
// go-vcard's encoding of the card VCard returns.
func TestEncodeReuse(t *testing.T) {
	card := func(uid string, names ...string) *dirbook.Card {
		c := &dirbook.Card{UID: uid}
		for i, name := range names {
			c.Props = append(c.Props, dirbook.Prop{Name: name, Types: []string{"work"}, Values: []string{fmt.Sprintf("%s %s %d", uid, name, i)}})
		}
		return c
	}
	cards := []*dirbook.Card{
		card("a", "FN", "TEL", "EMAIL", "TEL"),
		card("b", "FN", "TEL", "EMAIL", "TEL"),
		card("c", "FN", "EMAIL", "TEL", "TEL"),
		card("d", "FN", "TEL", "EMAIL"),
		card("d2", "FN", "EMAIL", "TEL"),        // the same places, other names
		card("d3", "FN", "EMAIL", "TEL", "TEL"), // the last group longer
		card("e", "FN", "TEL", "EMAIL", "TEL"),
		card("f", "FN", "X-A", "X-B", "X-A", "NOTE", "TEL", "TEL", "TEL", "ORG", "TITLE", "ROLE", "URL"),
		card("g", "FN"),
		card("h", "FN", "TEL", "EMAIL", "TEL"),
	}
	for round := range 2 {
		for _, version := range []string{"3.0", "4.0"} {
			for _, c := range cards {
				got, err := Encode(c, version)
				if err != nil {
					t.Fatal(err)
				}
				var want bytes.Buffer
				if err := vcard.NewEncoder(&want).Encode(VCard(c, version)); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want.Bytes()) {
					t.Errorf("round %d: Encode(%s, %s) = %q, want %q", round, c.UID, version, got, want.Bytes())
				}
			}
		}
	}
}
