package mapping

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dirbook/dirbook"
)

// cond is a compiled Condition. Its keys are ANDed.
type cond struct {
	memberOf      []string // normalised DNs
	memberOfNames []string // as configured, for reasons
	has           []string // lower-case attribute names
	hasNames      []string
	equals        []equalsTest // sorted by attribute
	all           []*cond
	any           []*cond
	not           *cond
}

type equalsTest struct {
	attr string // lower case
	name string // as configured
	want string // trimmed
}

// match reports whether e meets the condition.
func (k *cond) match(e *dirbook.Entry) bool {
	_, ok := k.eval(e, false)
	return ok
}

// why returns a short description of why e meets the condition, or ok
// false when it does not. The description names configured attributes,
// groups and values only, never a value of the entry.
func (k *cond) why(e *dirbook.Entry) (string, bool) {
	return k.eval(e, true)
}

func (k *cond) eval(e *dirbook.Entry, explain bool) (string, bool) {
	var reasons []string
	if len(k.memberOf) > 0 {
		i := slices.IndexFunc(k.memberOf, func(dn string) bool { return slices.Contains(e.Groups, dn) })
		if i < 0 {
			return "", false
		}
		if explain {
			reasons = append(reasons, "member_of "+k.memberOfNames[i])
		}
	}
	for _, a := range k.has {
		if !hasValue(e.Attrs[a]) {
			return "", false
		}
	}
	if explain && len(k.has) > 0 {
		reasons = append(reasons, "has "+strings.Join(k.hasNames, ", "))
	}
	for _, t := range k.equals {
		if !slices.ContainsFunc(e.Attrs[t.attr], func(v string) bool {
			return strings.EqualFold(strings.TrimSpace(v), t.want)
		}) {
			return "", false
		}
		if explain {
			reasons = append(reasons, fmt.Sprintf("%s equals %q", t.name, t.want))
		}
	}
	for _, sub := range k.all {
		r, ok := sub.eval(e, explain)
		if !ok {
			return "", false
		}
		if explain {
			reasons = append(reasons, r)
		}
	}
	if len(k.any) > 0 {
		matched := false
		for _, sub := range k.any {
			if r, ok := sub.eval(e, explain); ok {
				if explain {
					reasons = append(reasons, r)
				}
				matched = true
				break
			}
		}
		if !matched {
			return "", false
		}
	}
	if k.not != nil {
		if k.not.match(e) {
			return "", false
		}
		if explain {
			reasons = append(reasons, "not ("+k.not.String()+")")
		}
	}
	return strings.Join(reasons, " and "), true
}

// String describes the condition, e.g. "has pwdAccountLockedTime".
func (k *cond) String() string {
	var parts []string
	if len(k.memberOfNames) > 0 {
		parts = append(parts, "member_of "+strings.Join(k.memberOfNames, " or "))
	}
	if len(k.hasNames) > 0 {
		parts = append(parts, "has "+strings.Join(k.hasNames, ", "))
	}
	for _, t := range k.equals {
		parts = append(parts, fmt.Sprintf("%s equals %q", t.name, t.want))
	}
	for _, sub := range k.all {
		parts = append(parts, sub.String())
	}
	if len(k.any) > 0 {
		alts := make([]string, len(k.any))
		for i, sub := range k.any {
			alts[i] = sub.String()
		}
		parts = append(parts, "("+strings.Join(alts, " or ")+")")
	}
	if k.not != nil {
		parts = append(parts, "not ("+k.not.String()+")")
	}
	return strings.Join(parts, " and ")
}

// hasValue reports whether any value is non-empty after trimming spaces.
func hasValue(values []string) bool {
	return slices.ContainsFunc(values, func(v string) bool { return strings.TrimSpace(v) != "" })
}
