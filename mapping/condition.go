package mapping

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dirbook/dirbook"
)

// cond is a compiled Condition. Its keys are ANDed.
type cond struct {
	memberOf      []string // normalised DNs
	memberOfNames []string // as configured, for reasons
	has           []string // lower-case attribute names
	hasNames      []string
	equals        []equalsTest // sorted by attribute
	kind          []string     // lower case
	kindNames     []string
	future        []string // lower-case attribute names
	futureNames   []string
	futurePath    string // for warnings, e.g. "books[1].include.future"
	all           []*cond
	any           []*cond
	not           *cond
}

type equalsTest struct {
	attr string // lower case
	name string // as configured
	want string // trimmed
}

// String describes the test, e.g. `employeeType equals "staff"`.
func (t equalsTest) String() string {
	return fmt.Sprintf("%s equals %q", t.name, t.want)
}

// env is what conditions are evaluated against: one entry, the time, and
// where warnings go.
type env struct {
	e       *dirbook.Entry
	clock   func() time.Time
	now     time.Time
	haveNow bool
	warn    *[]Warning // nil: warnings are dropped
}

func newEnv(e *dirbook.Entry, clock func() time.Time, warn *[]Warning) *env {
	return &env{e: e, clock: clock, warn: warn}
}

// time returns the current time, asking the clock once.
func (v *env) time() time.Time {
	if !v.haveNow {
		v.now = v.clock()
		v.haveNow = true
	}
	return v.now
}

// match reports whether the entry meets the condition.
func (k *cond) match(v *env) bool {
	_, ok := k.eval(v, false)
	return ok
}

// why returns whether the entry meets the condition and a short
// description of why or why not: the part that matched ("member_of
// cn=staff,dc=example") or the part that failed ("has mobile"). The
// description names configured attributes, groups, kinds and values
// only, never a value of the entry.
func (k *cond) why(v *env) (string, bool) {
	return k.eval(v, true)
}

func (k *cond) eval(v *env, explain bool) (string, bool) {
	e := v.e
	var reasons []string
	if len(k.memberOf) > 0 {
		i := slices.IndexFunc(k.memberOf, func(dn string) bool { return slices.Contains(e.Groups, dn) })
		if i < 0 {
			if !explain {
				return "", false
			}
			return "member_of " + strings.Join(k.memberOfNames, " or "), false
		}
		if explain {
			reasons = append(reasons, "member_of "+k.memberOfNames[i])
		}
	}
	for i, a := range k.has {
		if !hasValue(e.Attrs[a]) {
			if !explain {
				return "", false
			}
			return "has " + k.hasNames[i], false
		}
	}
	if explain && len(k.has) > 0 {
		reasons = append(reasons, "has "+strings.Join(k.hasNames, ", "))
	}
	for _, t := range k.equals {
		if !slices.ContainsFunc(e.Attrs[t.attr], func(v string) bool {
			return strings.EqualFold(strings.TrimSpace(v), t.want)
		}) {
			if !explain {
				return "", false
			}
			return t.String(), false
		}
		if explain {
			reasons = append(reasons, t.String())
		}
	}
	if len(k.kind) > 0 {
		i := slices.Index(k.kind, strings.ToLower(strings.TrimSpace(e.Kind)))
		if i < 0 {
			if !explain {
				return "", false
			}
			return "kind " + strings.Join(k.kindNames, " or "), false
		}
		if explain {
			reasons = append(reasons, "kind "+k.kindNames[i])
		}
	}
	for i, a := range k.future {
		if why, ok := k.inFuture(v, a, k.futureNames[i]); !ok {
			if !explain {
				return "", false
			}
			return "future " + k.futureNames[i] + " (" + why + ")", false
		}
	}
	if explain && len(k.future) > 0 {
		reasons = append(reasons, "future "+strings.Join(k.futureNames, ", "))
	}
	for _, sub := range k.all {
		r, ok := sub.eval(v, explain)
		if !ok {
			return r, false
		}
		if explain {
			reasons = append(reasons, r)
		}
	}
	if len(k.any) > 0 {
		matched := false
		var failed []string
		for _, sub := range k.any {
			r, ok := sub.eval(v, explain)
			if ok {
				if explain {
					reasons = append(reasons, r)
				}
				matched = true
				break
			}
			if explain {
				failed = append(failed, r)
			}
		}
		if !matched {
			if !explain {
				return "", false
			}
			return "(" + strings.Join(failed, " or ") + ")", false
		}
	}
	if k.not != nil {
		if r, ok := k.not.eval(v, explain); ok {
			if !explain {
				return "", false
			}
			return "not (" + r + ")", false
		}
		if explain {
			reasons = append(reasons, "not ("+k.not.String()+")")
		}
	}
	return strings.Join(reasons, " and "), true
}

// inFuture reports whether every value of the attribute is a time after
// now; when not, it says why. An invalid value is reported as a warning.
func (k *cond) inFuture(v *env, attr, name string) (string, bool) {
	values := v.e.Attrs[attr]
	seen := false
	for j, raw := range values {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		seen = true
		t, never, ok := parseTime(s)
		if !ok {
			if v.warn != nil {
				*v.warn = append(*v.warn, Warning{
					Field:   k.futurePath,
					Message: fmt.Sprintf("value %d of %s is not a date or time; condition false", j+1, name),
				})
			}
			return fmt.Sprintf("value %d is not a date or time", j+1), false
		}
		if !never && !t.After(v.time()) {
			return "expired", false
		}
	}
	if !seen {
		return "no value", false
	}
	return "", true
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
		parts = append(parts, t.String())
	}
	if len(k.kindNames) > 0 {
		parts = append(parts, "kind "+strings.Join(k.kindNames, " or "))
	}
	if len(k.futureNames) > 0 {
		parts = append(parts, "future "+strings.Join(k.futureNames, ", "))
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

// attributes calls fn with the configured name of every attribute the
// condition reads.
func (k *cond) attributes(fn func(name string)) {
	if k == nil {
		return
	}
	for _, a := range k.hasNames {
		fn(a)
	}
	for _, t := range k.equals {
		fn(t.name)
	}
	for _, a := range k.futureNames {
		fn(a)
	}
	for _, sub := range k.all {
		sub.attributes(fn)
	}
	for _, sub := range k.any {
		sub.attributes(fn)
	}
	k.not.attributes(fn)
}

// hasValue reports whether any value is non-empty after trimming spaces.
func hasValue(values []string) bool {
	return slices.ContainsFunc(values, func(v string) bool { return strings.TrimSpace(v) != "" })
}

// fileTimeNever is Active Directory's "never" besides 0.
const fileTimeNever = math.MaxInt64

// fileTimeEpoch is the start of Windows file time, 1601-01-01 UTC, in
// seconds before the Unix epoch.
const fileTimeEpoch = 11644473600

// parseTime reads a time as future conditions accept it (see
// Condition.Future): it returns the time, or never true for Active
// Directory's "never", or ok false.
func parseTime(s string) (t time.Time, never, ok bool) {
	if len(s) > 40 {
		return time.Time{}, false, false
	}
	if s == "0" {
		return time.Time{}, true, true
	}
	if isDigits(s) && len(s) >= 15 && len(s) <= 19 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false, false
		}
		if n == fileTimeNever {
			return time.Time{}, true, true
		}
		// 100-nanosecond intervals since 1601.
		return time.Unix(n/1e7-fileTimeEpoch, n%1e7*100).UTC(), false, true
	}
	if len(s) == 10 && s[4] == '-' {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			return time.Time{}, false, false
		}
		return d.AddDate(0, 0, 1), false, true // valid through that day
	}
	if len(s) == 8 && isDigits(s) {
		d, err := time.Parse("20060102", s)
		if err != nil {
			return time.Time{}, false, false
		}
		return d.AddDate(0, 0, 1), false, true
	}
	if len(s) > 10 && s[4] == '-' {
		t, err := time.Parse(time.RFC3339, s)
		return t, false, err == nil
	}
	t, ok = parseGeneralizedTime(s)
	return t, false, ok
}

// parseGeneralizedTime reads an LDAP generalized time (RFC 4517 section
// 3.3.13): YYYYMMDDHH[MM[SS]][(.|,)fraction][Z|(+|-)HH[MM]]. Without a
// zone the time is taken as UTC.
func parseGeneralizedTime(s string) (time.Time, bool) {
	i := 0
	for i < len(s) && i < 14 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	digits, rest := s[:i], s[i:]
	var layout string
	switch len(digits) {
	case 10:
		layout = "2006010215"
	case 12:
		layout = "200601021504"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}, false
	}
	t, err := time.Parse(layout, digits)
	if err != nil {
		return time.Time{}, false
	}
	// A fraction of the last unit given.
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 {
			return time.Time{}, false
		}
		frac, err := strconv.ParseFloat("0."+rest[1:j], 64)
		if err != nil {
			return time.Time{}, false
		}
		unit := map[int]time.Duration{10: time.Hour, 12: time.Minute, 14: time.Second}[len(digits)]
		t = t.Add(time.Duration(frac * float64(unit)))
		rest = rest[j:]
	}
	switch {
	case rest == "" || rest == "Z":
		return t, true
	case (rest[0] == '+' || rest[0] == '-') && (len(rest) == 3 || len(rest) == 5) && isDigits(rest[1:]):
		h, _ := strconv.Atoi(rest[1:3])
		m := 0
		if len(rest) == 5 {
			m, _ = strconv.Atoi(rest[3:5])
		}
		if h > 23 || m > 59 {
			return time.Time{}, false
		}
		off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
		if rest[0] == '+' {
			off = -off
		}
		return t.Add(off), true
	}
	return time.Time{}, false
}
