package mapping

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
)

// TestFieldRules checks templates, from_groups, ADR, IMPP and the text
// transforms on one extra field added to the demo rules.
func TestFieldRules(t *testing.T) {
	const (
		eng   = "cn=engineering,ou=groups,dc=nordlicht,dc=example"
		sales = "cn=sales,ou=groups,dc=nordlicht,dc=example"
	)
	tests := []struct {
		name   string
		field  FieldRule
		attrs  map[string][]string
		groups []string
		want   []dirbook.Prop // Field is filled in
		warn   []Warning
	}{
		{"template", FieldRule{Property: "NOTE", Template: "{givenName} {sn}"},
			map[string][]string{"givenname": {"Jana"}, "sn": {"Doe"}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"Jana Doe"}}}, nil},
		{"template missing attribute", FieldRule{Property: "NOTE", Template: "{title} {givenName} {initials} {sn}"},
			map[string][]string{"givenname": {"Jana"}, "sn": {"  ", "Doe"}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"Jana Doe"}}}, nil},
		{"template all missing", FieldRule{Property: "NOTE", Template: "Dr. {givenName} {sn}"},
			map[string][]string{"givenname": {" "}}, nil, nil, nil},
		{"template braces and hostile values", FieldRule{Property: "NOTE", Template: "{{{uid}}}\t{cn}"},
			map[string][]string{"uid": {"j\x00d\r\n"}, "cn": {"\xffX"}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"{jd} \uFFFDX"}}}, nil},
		{"template impp", FieldRule{Property: "IMPP", Template: "xmpp:{uid}@chat.nordlicht.example", Types: []string{"work"}},
			map[string][]string{"uid": {"jdoe"}}, nil,
			[]dirbook.Prop{{Name: "IMPP", Types: []string{"work"}, Values: []string{"xmpp:jdoe@chat.nordlicht.example"}}}, nil},
		{"template phone", FieldRule{Property: "TEL", Template: "{telephoneNumber}-{extension}", Transform: []string{"e164"}},
			map[string][]string{"telephonenumber": {"030 1234"}, "extension": {"567"}}, nil,
			[]dirbook.Prop{{Name: "TEL", Values: []string{"+49301234567"}}}, nil},
		{"template phone invalid", FieldRule{Property: "TEL", Template: "{pager}", Transform: []string{"e164"}},
			map[string][]string{"pager": {"0800-CALL-NOW"}}, nil, nil,
			[]Warning{{Field: "extra", Message: "the template's value is not a valid phone number"}}},
		{"impp from", FieldRule{Property: "IMPP", From: []string{"impp"}},
			map[string][]string{"impp": {"xmpp:a@b.example", "sip:a@b.example"}}, nil,
			[]dirbook.Prop{{Name: "IMPP", Values: []string{"xmpp:a@b.example"}}, {Name: "IMPP", Values: []string{"sip:a@b.example"}}}, nil},
		{"adr", FieldRule{Property: "ADR", Parts: []string{"postOfficeBox", "", "street", "l", "st", "postalCode", "c"}, Types: []string{"work"}},
			map[string][]string{"street": {"Hafenstraße 1; Haus B"}, "l": {"Hamburg"}, "postalcode": {"20457"}, "c": {"DE"}}, nil,
			[]dirbook.Prop{{Name: "ADR", Types: []string{"work"}, Values: []string{"", "", "Hafenstraße 1, Haus B", "Hamburg", "", "20457", "DE"}}}, nil},
		{"adr street only", FieldRule{Property: "ADR", Parts: []string{"", "", "street"}},
			map[string][]string{"street": {"Hafenstraße 1"}}, nil,
			[]dirbook.Prop{{Name: "ADR", Values: []string{"", "", "Hafenstraße 1", "", "", "", ""}}}, nil},
		{"adr empty", FieldRule{Property: "ADR", Parts: []string{"", "", "street"}},
			map[string][]string{"l": {"Hamburg"}}, nil, nil, nil},
		{"categories from attribute", FieldRule{Property: "CATEGORIES", From: []string{"ou"}},
			map[string][]string{"ou": {"Sales", "North, East"}}, nil,
			[]dirbook.Prop{{Name: "CATEGORIES", Values: []string{"Sales"}}, {Name: "CATEGORIES", Values: []string{"North, East"}}}, nil},
		{"categories from groups", FieldRule{Property: "CATEGORIES", FromGroups: map[string]string{
			eng: "Engineering", sales: "Sales", partners: "Partners",
		}}, nil, []string{sales, eng},
			[]dirbook.Prop{{Name: "CATEGORIES", Values: []string{"Engineering"}}, {Name: "CATEGORIES", Values: []string{"Sales"}}}, nil},
		{"categories from groups first", FieldRule{Property: "CATEGORIES", Multi: "first", Pref: true, FromGroups: map[string]string{
			eng: "engineering", sales: "sales",
		}, Transform: []string{"title"}}, nil, []string{sales, eng},
			[]dirbook.Prop{{Name: "CATEGORIES", Pref: true, Values: []string{"Engineering"}}}, nil},
		{"categories from no group", FieldRule{Property: "CATEGORIES", FromGroups: map[string]string{eng: "Engineering"}},
			nil, []string{sales}, nil, nil},
		{"title", FieldRule{Property: "NOTE", From: []string{"cn"}, Transform: []string{"title"}},
			map[string][]string{"cn": {"JANA o'brien-SMITH 3rd"}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"Jana O'Brien-Smith 3rd"}}}, nil},
		{"replace", FieldRule{Property: "NOTE", From: []string{"pager"}, Replace: &Replace{Pattern: `\s*\((mobile|cell)\)$`}},
			map[string][]string{"pager": {"0171 2345678 (mobile)"}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"0171 2345678"}}}, nil},
		{"replace with submatch", FieldRule{Property: "NOTE", From: []string{"cn"}, Replace: &Replace{Pattern: `^(\w+), (\w+)$`, With: "$2 $1"}},
			map[string][]string{"cn": {"Doe, Jana"}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"Jana Doe"}}}, nil},
		{"replace to empty drops the value", FieldRule{Property: "NOTE", From: []string{"description"}, Replace: &Replace{Pattern: `(?i)^n/?a$`}},
			map[string][]string{"description": {"N/A"}}, nil, nil, nil},
		{"replace output is cleaned", FieldRule{Property: "NOTE", From: []string{"cn"}, Replace: &Replace{Pattern: ` `, With: "\r\n  "}},
			map[string][]string{"cn": {"a b"}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"a b"}}}, nil},
		{"replace before e164", FieldRule{Property: "TEL", From: []string{"pager"}, Transform: []string{"e164"},
			Replace: &Replace{Pattern: `\s*\(mobile\)$`}},
			map[string][]string{"pager": {"0171 2345678 (mobile)"}}, nil,
			[]dirbook.Prop{{Name: "TEL", Values: []string{"+491712345678"}}}, nil},
		{"replace before date", FieldRule{Property: "BDAY", From: []string{"birthDate"},
			Replace: &Replace{Pattern: `^(\d\d)\.(\d\d)\.(\d{4})$`, With: "$3-$2-$1"}},
			map[string][]string{"birthdate": {"15.01.1980"}}, nil,
			[]dirbook.Prop{{Name: "BDAY", Values: []string{"1980-01-15"}}}, nil},
		{"max_length", FieldRule{Property: "NOTE", From: []string{"description"}, MaxLength: 5},
			map[string][]string{"description": {"Ünïcö dé", "abc"}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"Ünïcö"}}, {Name: "NOTE", Values: []string{"abc"}}}, nil},
		{"max_length trims the cut", FieldRule{Property: "NOTE", From: []string{"description"}, MaxLength: 4},
			map[string][]string{"description": {"abc def"}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"abc"}}}, nil},
		{"max_length on components", FieldRule{Property: "ADR", Parts: []string{"", "", "street", "l"}, MaxLength: 3},
			map[string][]string{"street": {"Hafenstraße"}, "l": {"Hamburg"}}, nil,
			[]dirbook.Prop{{Name: "ADR", Values: []string{"", "", "Haf", "Ham", "", "", ""}}}, nil},
		{"transforms in order", FieldRule{Property: "NOTE", From: []string{"cn"}, Transform: []string{"upper", "collapse", "trim", "title"}, MaxLength: 8},
			map[string][]string{"cn": {"  jANA   dOE  "}}, nil,
			[]dirbook.Prop{{Name: "NOTE", Values: []string{"Jana Doe"}}}, nil},
		{"upper of a long value stays within the limit", FieldRule{Property: "NOTE", From: []string{"cn"}, Transform: []string{"upper"}},
			map[string][]string{"cn": {strings.Repeat("ı", 2048)}}, nil, // ı (2 bytes) becomes I (1 byte)
			[]dirbook.Prop{{Name: "NOTE", Values: []string{strings.Repeat("I", 2048)}}}, nil},
		{"upper grows but is cut", FieldRule{Property: "NOTE", From: []string{"cn"}, Transform: []string{"upper"}},
			map[string][]string{"cn": {strings.Repeat("ɐ", 2048)}}, nil, // ɐ (2 bytes) becomes Ɐ (3 bytes)
			[]dirbook.Prop{{Name: "NOTE", Values: []string{strings.Repeat("Ɐ", 1365)}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := demoRules()
			tt.field.Name = "extra"
			r.Fields = append(r.Fields, tt.field)
			r.Books[0].Fields = append(r.Books[0].Fields, "extra")
			m := mustCompile(t, r)
			attrs := map[string][]string{"cn": {"A"}}
			for k, v := range tt.attrs {
				attrs[k] = v
			}
			res := m.Map(&dirbook.Entry{ID: "id-1", Attrs: attrs, Groups: append([]string{employees}, tt.groups...)})
			card := res.Cards["colleagues"]
			if card == nil {
				t.Fatalf("Map() has no card; warnings %q", res.Warnings)
			}
			var got []dirbook.Prop
			for _, p := range card.Props {
				if p.Field == "extra" {
					got = append(got, p)
				}
			}
			for i := range tt.want {
				tt.want[i].Field = "extra"
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("field = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(res.Warnings, tt.warn) {
				t.Errorf("warnings = %q, want %q", res.Warnings, tt.warn)
			}
			checkRoundTrip(t, card)
		})
	}
}

func TestTitleCase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"jana doe", "Jana Doe"},
		{"JANA DOE-MEIER", "Jana Doe-Meier"},
		{"o'brien", "O'Brien"},
		{"3rd floor", "3rd Floor"},
		{"élise ünal", "Élise Ünal"},
		{"e\u0301lise", "E\u0301lise"},
		{"ǆemal", "ǅemal"},
	}
	for _, tt := range tests {
		if got := titleCase(tt.in); got != tt.want {
			t.Errorf("titleCase(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTruncateRunes(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"äöü", 2, "äö"},
		{"äöü", 3, "äöü"},
		{"ab cd", 3, "ab"},
	}
	for _, tt := range tests {
		if got := truncateRunes(tt.in, tt.n); got != tt.want {
			t.Errorf("truncateRunes(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
