package mapping

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dirbook/dirbook"
)

func TestMapRealistic(t *testing.T) {
	m := mustCompile(t, demoRules())
	res := m.Map(person())
	if res.Excluded != "" {
		t.Fatalf("Map().Excluded = %q, want \"\"", res.Excluded)
	}
	if _, ok := res.Cards["partners"]; ok || len(res.Cards) != 1 {
		t.Fatalf("Map().Cards has books %v, want colleagues only", keys(res.Cards))
	}
	want := &dirbook.Card{
		UID: "4f9d3c1e-2b7a-4c55-9e0d-1a2b3c4d5e6f",
		Props: []dirbook.Prop{
			{Field: "fn", Name: "FN", Values: []string{"Jana Doe"}},
			{Field: "n", Name: "N", Values: []string{"Doe", "Jana", "", "", ""}},
			{Field: "org", Name: "ORG", Values: []string{"Nordlicht GmbH", "Sales, North"}},
			{Field: "title", Name: "TITLE", Values: []string{"Head of Sales"}},
			{Field: "email", Name: "EMAIL", Types: []string{"work"}, Values: []string{"jana.doe@nordlicht.example"}},
			{Field: "email", Name: "EMAIL", Types: []string{"work"}, Values: []string{"jd@nordlicht.example"}},
			{Field: "work_phone", Name: "TEL", Types: []string{"work", "voice"}, Values: []string{"+49301234567"}},
			{Field: "work_phone", Name: "TEL", Types: []string{"work", "voice"}, Values: []string{"+4989123456"}},
			{Field: "mobile", Name: "TEL", Types: []string{"cell"}, Values: []string{"+491712345678"}},
			{Field: "photo", Name: "PHOTO", Values: []string{tinyPNGAsJPEG(t)}, MediaType: "image/jpeg"},
		},
	}
	if got := res.Cards["colleagues"]; !reflect.DeepEqual(got, want) {
		t.Errorf("Map().Cards[colleagues] =\n%+v\nwant\n%+v", got, want)
	}
	wantWarnings := []Warning{{Field: "work_phone", Message: "value 3 of telephoneNumber is not a valid phone number"}}
	if !reflect.DeepEqual(res.Warnings, wantWarnings) {
		t.Errorf("Map().Warnings = %q, want %q", res.Warnings, wantWarnings)
	}
	if again := m.Map(person()); !reflect.DeepEqual(again, res) {
		t.Errorf("Map() second call = %+v, want %+v", again, res)
	}
}

func keys(m map[string]*dirbook.Card) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestPrivacy checks that a card holds only the fields its book lists.
func TestPrivacy(t *testing.T) {
	m := mustCompile(t, demoRules())
	e := person()
	e.Groups = []string{partners}
	res := m.Map(e)
	card := res.Cards["partners"]
	if card == nil || res.Cards["colleagues"] == nil {
		t.Fatalf("Map(partner).Cards has books %v, want colleagues and partners", keys(res.Cards))
	}
	allowed := map[string]bool{"fn": true, "n": true, "org": true, "title": true, "email": true, "work_phone": true}
	for _, p := range card.Props {
		if !allowed[p.Field] {
			t.Errorf("partners card has field %q (%s), which the book does not list", p.Field, p.Name)
		}
	}
	for _, version := range []string{"3.0", "4.0"} {
		out, err := Encode(card, version)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"+491712345678", "PHOTO", "7654321"} {
			if strings.Contains(string(out), secret) {
				t.Errorf("Encode(partners card, %s) contains %q", version, secret)
			}
		}
	}
}

func TestMapUnusable(t *testing.T) {
	m := mustCompile(t, demoRules())
	tests := []struct {
		name string
		e    *dirbook.Entry
		want string
	}{
		{"invalid", &dirbook.Entry{ID: "x", Invalid: "no entryUUID", Groups: []string{employees}}, "no entryUUID"},
		{"no id", &dirbook.Entry{Groups: []string{employees}, Attrs: map[string][]string{"cn": {"A"}}}, "no id"},
		{"nil", nil, "no entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := m.Map(tt.e)
			if len(res.Cards) != 0 || res.Excluded != tt.want {
				t.Errorf("Map() = %d cards, Excluded %q, want none, %q", len(res.Cards), res.Excluded, tt.want)
			}
			if got := m.Readable(tt.e); got != nil {
				t.Errorf("Readable() = %v, want nil", got)
			}
		})
	}
}

func TestE164(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"+49 (0)30 1234-567", "+49301234567", true},
		{"030/1234567", "+49301234567", true},
		{"0171 2345678", "+491712345678", true},
		{"0049 89 123456", "+4989123456", true},
		{"+1 650 253 0000", "+16502530000", true},
		{"+44 20 7946 0958", "+442079460958", true},
		// Letters are refused rather than turned into digits.
		{"0800-CALL-NOW", "", false},
		{"+1 650 253 0000 ext. 12", "", false},
		// Extensions in other notations are refused too.
		{"+1 650 253 0000 #12", "", false},
		{"12", "", false},
		{"+49 30 123456789012345", "", false},
		{"", "", false},
		{"+", "", false},
		{strings.Repeat("1", 300), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := toE164(tt.in, "DE")
			if got != tt.want || ok != tt.ok {
				t.Errorf("toE164(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
			c := newPhoneCache(2, "DE")
			for range 3 { // through the cache, with generations turning over
				c.e164("+49 30 111111")
				if got, ok := c.e164(tt.in); got != tt.want || ok != tt.ok {
					t.Errorf("cached e164(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
				}
			}
		})
	}
}

// mapOne maps attrs with the demo rules, as an employee.
func mapOne(tb testing.TB, r *Rules, attrs map[string][]string) (*dirbook.Card, *Result) {
	tb.Helper()
	m := mustCompile(tb, r)
	res := m.Map(&dirbook.Entry{ID: "id-1", Attrs: attrs, Groups: []string{employees}})
	return res.Cards["colleagues"], res
}

func TestHostileValues(t *testing.T) {
	long := strings.Repeat("ä", 3000) // 6000 bytes
	tests := []struct {
		name  string
		attrs map[string][]string
		fn    string // "" when the person must be left out
		n     []string
	}{
		{"invalid utf-8 and controls", map[string][]string{"displayname": {"\xff\xfeJana\x00 Doe\r\nX-EVIL:1\x1b[31m"}},
			"\uFFFDJana Doe X-EVIL:1[31m", nil},
		{"only spaces falls back to cn", map[string][]string{"displayname": {" \t "}, "cn": {"Jana Doe"}}, "Jana Doe", nil},
		{"only spaces everywhere falls back to n", map[string][]string{
			"displayname": {"  "}, "cn": {"\u00a0"}, "sn": {"Doe"}, "givenname": {"Jana"},
		}, "Jana Doe", []string{"Doe", "Jana", "", "", ""}},
		{"family name only", map[string][]string{"sn": {"Doe"}}, "Doe", []string{"Doe", "", "", "", ""}},
		{"no name at all", map[string][]string{"cn": {"\x00\x01"}, "mail": {"a@example.org"}}, "", nil},
		{"semicolons", map[string][]string{"cn": {"Doe; Jana"}, "sn": {"Doe;Smith"}, "givenname": {"Jana"}},
			"Doe; Jana", []string{"Doe,Smith", "Jana", "", "", ""}},
		{"long", map[string][]string{"cn": {long}}, long[:4096], nil},
		{"line separators", map[string][]string{"cn": {"Jana\u2028Doe\u0085!"}}, "Jana Doe !", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			card, res := mapOne(t, demoRules(), tt.attrs)
			if tt.fn == "" {
				if card != nil {
					t.Fatalf("Map() card = %+v, want none", card)
				}
				want := []Warning{{Field: "fn", Message: `no name, left out of book "colleagues"`}}
				if !reflect.DeepEqual(res.Warnings, want) {
					t.Errorf("Map().Warnings = %q, want %q", res.Warnings, want)
				}
				return
			}
			if card == nil {
				t.Fatalf("Map() has no card, warnings %q", res.Warnings)
			}
			if got := card.FN(); got != tt.fn {
				t.Errorf("FN = %q, want %q", got, tt.fn)
			}
			if tt.n != nil {
				if got := card.Props[1].Values; card.Props[1].Name != "N" || !reflect.DeepEqual(got, tt.n) {
					t.Errorf("N = %q, want %q", got, tt.n)
				}
			}
			for _, p := range card.Props {
				for _, v := range p.Values {
					if p.Name != "PHOTO" && (!utf8.ValidString(v) || len(v) > maxText || strings.ContainsAny(v, "\x00\r\n\x1b")) {
						t.Errorf("%s value %q is not clean", p.Name, v)
					}
				}
			}
			checkRoundTrip(t, card)
		})
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Rules)
		attrs  map[string][]string
		field  string
		want   [][]string // values of the field's props
		warn   []Warning
	}{
		{"from falls back", nil, map[string][]string{"cn": {"Jana"}, "displayname": {""}}, "fn", [][]string{{"Jana"}}, nil},
		{"multi all dedups emails ignoring case", nil, map[string][]string{"cn": {"A"}, "mail": {"a@x.org", "A@X.org", "b@x.org"}},
			"email", [][]string{{"a@x.org"}, {"b@x.org"}}, nil},
		{"multi first", func(r *Rules) { r.Fields[4].Multi = "first" },
			map[string][]string{"cn": {"A"}, "mail": {"", "a@x.org", "b@x.org"}}, "email", [][]string{{"a@x.org"}}, nil},
		{"lower", func(r *Rules) { r.Fields[4].Transform = []string{"trim", "lower"} },
			map[string][]string{"cn": {"A"}, "mail": {" A@X.ORG "}}, "email", [][]string{{"a@x.org"}}, nil},
		{"upper", func(r *Rules) { r.Fields[3].Transform = []string{"upper"} },
			map[string][]string{"cn": {"A"}, "title": {"ceo"}}, "title", [][]string{{"CEO"}}, nil},
		{"invalid phones fall back to the next attribute", func(r *Rules) {
			r.Fields[5].From = []string{"telephoneNumber", "homePhone"}
		}, map[string][]string{"cn": {"A"}, "telephonenumber": {"12", "abc"}, "homephone": {"030 7654321"}},
			"work_phone", [][]string{{"+49307654321"}}, []Warning{
				{Field: "work_phone", Message: "value 1 of telephoneNumber is not a valid phone number"},
				{Field: "work_phone", Message: "value 2 of telephoneNumber is not a valid phone number"},
			}},
		{"phone without e164 is text", func(r *Rules) { r.Fields[6].Transform = nil },
			map[string][]string{"cn": {"A"}, "mobile": {"0800-CALL-NOW"}}, "mobile", [][]string{{"0800-CALL-NOW"}}, nil},
		{"same number twice", nil, map[string][]string{"cn": {"A"}, "mobile": {"0171 2345678", "+49 171 2345678"}},
			"mobile", [][]string{{"+491712345678"}}, nil},
		{"org without units", nil, map[string][]string{"cn": {"A"}, "o": {"Nordlicht"}}, "org", [][]string{{"Nordlicht"}}, nil},
		{"org unit only", nil, map[string][]string{"cn": {"A"}, "ou": {"Sales"}}, "org", [][]string{{"", "Sales"}}, nil},
		{"too many values", nil, map[string][]string{"cn": {"A"}, "mail": manyMails(40)}, "email", manyProps(32),
			[]Warning{{Field: "email", Message: "too many values of mail, the rest dropped"}}},
		{"pref marks the first value", func(r *Rules) { r.Fields[4].Pref = true },
			map[string][]string{"cn": {"A"}, "mail": {"a@x.org", "b@x.org"}}, "email", [][]string{{"a@x.org"}, {"b@x.org"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := demoRules()
			if tt.change != nil {
				tt.change(r)
			}
			card, res := mapOne(t, r, tt.attrs)
			var got [][]string
			pref := 0
			for _, p := range card.Props {
				if p.Field == tt.field {
					got = append(got, p.Values)
					if p.Pref {
						pref++
					}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("field %s = %q, want %q", tt.field, got, tt.want)
			}
			if !reflect.DeepEqual(res.Warnings, tt.warn) {
				t.Errorf("warnings = %q, want %q", res.Warnings, tt.warn)
			}
			wantPref := 0
			if r.Fields[4].Pref && tt.field == "email" {
				wantPref = 1
			}
			if pref != wantPref {
				t.Errorf("field %s has %d preferred values, want %d", tt.field, pref, wantPref)
			}
		})
	}
}

func manyMails(n int) []string {
	var out []string
	for i := range n {
		out = append(out, "u"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@x.org")
	}
	return out
}

func manyProps(n int) [][]string {
	var out [][]string
	for _, m := range manyMails(n) {
		out = append(out, []string{m})
	}
	return out
}

func TestBirthday(t *testing.T) {
	r := demoRules()
	r.Fields = append(r.Fields, FieldRule{Name: "bday", Property: "BDAY", From: []string{"birthDate"}})
	r.Books[0].Fields = append(r.Books[0].Fields, "bday")
	tests := []struct {
		in, want string
	}{
		{"1980-01-15", "1980-01-15"},
		{"19800115", "1980-01-15"},
		{"19800115000000Z", "1980-01-15"},
		{"1980-02-30", ""},
		{"15.01.1980", ""},
		{"yesterday", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			card, res := mapOne(t, r, map[string][]string{"cn": {"A"}, "birthdate": {tt.in}})
			got := ""
			for _, p := range card.Props {
				if p.Name == "BDAY" {
					got = p.Value()
				}
			}
			if got != tt.want {
				t.Errorf("BDAY from %q = %q, want %q", tt.in, got, tt.want)
			}
			if (tt.want == "") != (len(res.Warnings) == 1) {
				t.Errorf("warnings = %q", res.Warnings)
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"plain", "plain"},
		{"  a  b  ", "a b"},
		{"a\tb\nc\r\nd", "a b c d"},
		{"a\x00b\x7fc\u0080d", "abcd"},
		{"\xff\xfe\xfdx\xffy", "\uFFFDx\uFFFDy"},
		{"Ünïcödé  ✓", "Ünïcödé ✓"},
		{"a\u00a0\u2003b", "a b"},
		{"\u200d\U0001F469\u200d\U0001F4BB", "\u200d\U0001F469\u200d\U0001F4BB"},
		{strings.Repeat("x", 5000), strings.Repeat("x", 4096)},
		{strings.Repeat("x", 4095) + "ä", strings.Repeat("x", 4095)},
		{strings.Repeat("x", 4095) + " y", strings.Repeat("x", 4095)},
	}
	for _, tt := range tests {
		got := cleanText(tt.in)
		if got != tt.want {
			t.Errorf("cleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := cleanText(got); again != got {
			t.Errorf("cleanText(cleanText(%q)) = %q, want %q", tt.in, again, got)
		}
	}
}

// TestConcurrentMap maps from several goroutines at once; run with -race.
func TestConcurrentMap(t *testing.T) {
	m := mustCompile(t, demoRules())
	want := m.Map(person())
	done := make(chan *Result)
	for range 8 {
		go func() {
			var last *Result
			for range 20 {
				last = m.Map(person())
			}
			done <- last
		}()
	}
	for range 8 {
		if got := <-done; !reflect.DeepEqual(got, want) {
			t.Errorf("concurrent Map() = %+v, want %+v", got, want)
		}
	}
}

// TestMapBooksShareFields maps people into books whose fields overlap in
// several ways and checks each card against the card of a Mapper with
// that book alone. Cards may share their properties' memory, but never
// room to append into.
func TestMapBooksShareFields(t *testing.T) {
	r := demoRules()
	r.Fields = append(r.Fields, FieldRule{Name: "fn2", Property: "FN", From: []string{"nickname"}})
	everyone := &Condition{Kind: []string{"employee"}}
	books := []BookRule{
		{ID: "all", Fields: []string{"fn", "n", "org", "title", "email", "work_phone", "mobile", "photo"}},
		{ID: "prefix", Fields: []string{"fn", "n", "org"}},
		{ID: "middle", Fields: []string{"fn", "org", "title"}},
		{ID: "gap", Fields: []string{"fn", "email", "mobile"}},
		{ID: "nick", Fields: []string{"fn2", "n", "email"}},
		{ID: "suffix", Fields: []string{"fn", "mobile", "photo"}},
	}
	for i := range books {
		books[i].Name = books[i].ID
		books[i].Include = everyone
		books[i].Readers = everyone
	}
	entries := []map[string][]string{
		person().Attrs,
		{"sn": {"Doe"}, "givenname": {"Jana"}, "mail": {"a@example.org", "b@example.org"}, "mobile": {"0171 2345678"}},
		{"displayname": {"Jana Doe"}, "nickname": {"JD"}, "o": {"Nordlicht"}},
	}
	orders := [][]BookRule{books, slices.Clone(books)}
	slices.Reverse(orders[1])
	for k, order := range orders {
		r.Books = order
		m := mustCompile(t, r)
		for j, attrs := range entries {
			e := &dirbook.Entry{ID: "id-1", Kind: "employee", Attrs: attrs}
			res := m.Map(e)
			for _, b := range order {
				t.Run(fmt.Sprintf("order %d entry %d %s", k, j, b.ID), func(t *testing.T) {
					alone := *r
					alone.Books = []BookRule{b}
					want := mustCompile(t, &alone).Map(e).Cards[b.ID]
					got := res.Cards[b.ID]
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("card = %+v, want %+v", got, want)
					}
					if got != nil && cap(got.Props) != len(got.Props) {
						t.Errorf("cap(Props) = %d, want %d", cap(got.Props), len(got.Props))
					}
				})
			}
		}
	}
}
