package carddav

import (
	"fmt"
	"strings"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav/carddav"
)

// The matching of REPORT addressbook-query filters (RFC 6352 section
// 10.5). go-webdav's carddav.Filter compares octets and looks at the first
// instance of a property only; clients expect the RFC's default collation
// (i;unicode-casemap, case-insensitive) and a match on any instance (a
// person's second phone number), so dirbook matches itself. go-webdav does
// not pass the collation attribute on; every comparison folds case.

// checkQuery reports unknown filter tests and match types, so that a
// malformed query fails as a whole instead of matching nothing.
func checkQuery(q *carddav.AddressBookQuery) error {
	if err := checkTest(q.FilterTest); err != nil {
		return err
	}
	for _, pf := range q.PropFilters {
		if err := checkTest(pf.Test); err != nil {
			return err
		}
		for _, tm := range pf.TextMatches {
			if err := checkMatchType(tm.MatchType); err != nil {
				return err
			}
		}
		for _, param := range pf.Params {
			if param.TextMatch != nil {
				if err := checkMatchType(param.TextMatch.MatchType); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkTest(t carddav.FilterTest) error {
	switch t {
	case "", carddav.FilterAnyOf, carddav.FilterAllOf:
		return nil
	}
	return fmt.Errorf("carddav: unknown filter test %q", t)
}

func checkMatchType(m carddav.MatchType) error {
	switch m {
	case "", carddav.MatchContains, carddav.MatchEquals, carddav.MatchStartsWith, carddav.MatchEndsWith:
		return nil
	}
	return fmt.Errorf("carddav: unknown match type %q", m)
}

// matchQuery reports whether card matches the filter of q. A filter
// without prop-filters matches every card. q must have passed checkQuery.
func matchQuery(q *carddav.AddressBookQuery, card vcard.Card) bool {
	if len(q.PropFilters) == 0 {
		return true
	}
	return combine(q.FilterTest, len(q.PropFilters), func(i int) bool {
		return matchPropFilter(&q.PropFilters[i], card)
	})
}

// combine evaluates n tests with anyof (the default) or allof semantics.
func combine(test carddav.FilterTest, n int, ok func(int) bool) bool {
	all := test == carddav.FilterAllOf
	for i := range n {
		if ok(i) != all {
			return !all
		}
	}
	return all
}

// matchPropFilter matches one prop-filter: the property matches if any of
// its instances passes the filter's text-matches and param-filters.
func matchPropFilter(pf *carddav.PropFilter, card vcard.Card) bool {
	fields := card[strings.ToUpper(pf.Name)]
	if len(fields) == 0 {
		return pf.IsNotDefined
	}
	if pf.IsNotDefined {
		return false
	}
	n := len(pf.TextMatches) + len(pf.Params)
	if n == 0 {
		return true
	}
	for _, f := range fields {
		ok := combine(pf.Test, n, func(i int) bool {
			if i < len(pf.TextMatches) {
				return matchText(&pf.TextMatches[i], f.Value)
			}
			return matchParamFilter(&pf.Params[i-len(pf.TextMatches)], f)
		})
		if ok {
			return true
		}
	}
	return false
}

// matchParamFilter matches one param-filter against a property instance.
func matchParamFilter(pf *carddav.ParamFilter, f *vcard.Field) bool {
	values := f.Params[strings.ToUpper(pf.Name)]
	if len(values) == 0 {
		return pf.IsNotDefined
	}
	if pf.IsNotDefined {
		return false
	}
	if pf.TextMatch == nil {
		return true
	}
	for _, v := range values {
		if matchText(pf.TextMatch, v) {
			return true
		}
	}
	return false
}

// matchText applies a text-match to a value, folding case.
func matchText(tm *carddav.TextMatch, value string) bool {
	v, text := strings.ToLower(value), strings.ToLower(tm.Text)
	var ok bool
	switch tm.MatchType {
	case carddav.MatchEquals:
		ok = v == text
	case carddav.MatchStartsWith:
		ok = strings.HasPrefix(v, text)
	case carddav.MatchEndsWith:
		ok = strings.HasSuffix(v, text)
	default:
		ok = strings.Contains(v, text)
	}
	return ok != tm.NegateCondition
}
