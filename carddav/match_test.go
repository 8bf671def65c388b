package carddav

import (
	"testing"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav/carddav"
)

func TestMatchQuery(t *testing.T) {
	card := vcard.Card{
		"VERSION": {{Value: "3.0"}},
		"FN":      {{Value: "Anna Berg"}},
		"TEL": {
			{Value: "+49301111", Params: vcard.Params{"TYPE": {"work", "voice"}}},
			{Value: "+49172222", Params: vcard.Params{"TYPE": {"cell"}}},
		},
	}
	tm := func(text string, mt carddav.MatchType, negate bool) carddav.TextMatch {
		return carddav.TextMatch{Text: text, MatchType: mt, NegateCondition: negate}
	}
	pf := func(name string, tms ...carddav.TextMatch) carddav.PropFilter {
		return carddav.PropFilter{Name: name, TextMatches: tms}
	}
	tests := []struct {
		name string
		q    carddav.AddressBookQuery
		want bool
	}{
		{"empty filter", carddav.AddressBookQuery{}, true},
		{"defined", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{Name: "fn"}}}, true},
		{"undefined", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{Name: "EMAIL"}}}, false},
		{"is-not-defined", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{Name: "EMAIL", IsNotDefined: true}}}, true},
		{"is-not-defined but is", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{Name: "FN", IsNotDefined: true}}}, false},
		{"equals folds case", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{pf("FN", tm("anna berg", carddav.MatchEquals, false))}}, true},
		{"equals", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{pf("FN", tm("anna", carddav.MatchEquals, false))}}, false},
		{"negate", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{pf("FN", tm("carl", "", true))}}, true},
		{"second instance", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{pf("TEL", tm("+49172", carddav.MatchStartsWith, false))}}, true},
		{"prop allof same instance", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{
			Name: "TEL", Test: carddav.FilterAllOf,
			TextMatches: []carddav.TextMatch{tm("+4930", carddav.MatchStartsWith, false), tm("2222", carddav.MatchEndsWith, false)},
		}}}, false},
		{"param", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{
			Name: "TEL", Test: carddav.FilterAllOf,
			TextMatches: []carddav.TextMatch{tm("2222", carddav.MatchEndsWith, false)},
			Params:      []carddav.ParamFilter{{Name: "type", TextMatch: &carddav.TextMatch{Text: "CELL", MatchType: carddav.MatchEquals}}},
		}}}, true},
		{"param mismatch", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{
			Name: "TEL", Test: carddav.FilterAllOf,
			TextMatches: []carddav.TextMatch{tm("1111", carddav.MatchEndsWith, false)},
			Params:      []carddav.ParamFilter{{Name: "TYPE", TextMatch: &carddav.TextMatch{Text: "cell"}}},
		}}}, false},
		{"param not defined", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{
			Name: "FN", Params: []carddav.ParamFilter{{Name: "TYPE", IsNotDefined: true}},
		}}}, true},
		{"anyof", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{pf("FN", tm("x", "", false)), pf("TEL", tm("111", "", false))}}, true},
		{"allof", carddav.AddressBookQuery{FilterTest: carddav.FilterAllOf, PropFilters: []carddav.PropFilter{pf("FN", tm("x", "", false)), pf("TEL", tm("111", "", false))}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkQuery(&tt.q); err != nil {
				t.Fatalf("checkQuery() = %v", err)
			}
			if got := matchQuery(&tt.q, card); got != tt.want {
				t.Errorf("matchQuery(%s) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestCheckQuery(t *testing.T) {
	tests := []struct {
		name string
		q    carddav.AddressBookQuery
	}{
		{"filter test", carddav.AddressBookQuery{FilterTest: "oneof"}},
		{"prop test", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{Name: "FN", Test: "none"}}}},
		{"match type", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{Name: "FN", TextMatches: []carddav.TextMatch{{MatchType: "regex"}}}}}},
		{"param match type", carddav.AddressBookQuery{PropFilters: []carddav.PropFilter{{Name: "FN", Params: []carddav.ParamFilter{{Name: "TYPE", TextMatch: &carddav.TextMatch{MatchType: "regex"}}}}}}},
	}
	for _, tt := range tests {
		if err := checkQuery(&tt.q); err == nil {
			t.Errorf("checkQuery(%s) = nil, want an error", tt.name)
		}
	}
}
