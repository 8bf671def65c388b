package ldap

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// valueRange is the part of an attribute's values a server returned:
// values lo to hi, counted from 0; hi is -1 for "*", the last part.
type valueRange struct{ lo, hi int }

// parseRange splits an attribute description with a range option, as
// Active Directory returns a part of a large attribute
// ("member;range=0-1499"), into the description without it ("member")
// and the range. ok is false when desc has no range option.
func parseRange(desc string) (name string, r valueRange, ok bool, err error) {
	if !strings.Contains(desc, ";") {
		return desc, r, false, nil
	}
	parts := strings.Split(desc, ";")
	for i := 1; i < len(parts); i++ {
		v, found := cutPrefixFold(parts[i], "range=")
		if !found {
			continue
		}
		lo, hi, found := strings.Cut(v, "-")
		r.lo, err = strconv.Atoi(lo)
		if !found || err != nil || r.lo < 0 {
			return "", r, false, fmt.Errorf("malformed range option %q", parts[i])
		}
		if hi == "*" {
			r.hi = -1
		} else if r.hi, err = strconv.Atoi(hi); err != nil || r.hi < r.lo {
			return "", r, false, fmt.Errorf("malformed range option %q", parts[i])
		}
		name = strings.Join(append(parts[:i:i], parts[i+1:]...), ";")
		return name, r, true, nil
	}
	return desc, r, false, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

var errRange = errors.New("ranged retrieval")

// completeRanges reads the rest of every attribute of e that the server
// returned only in part, with base searches of e for the following ranges
// ("member;range=1500-*") until the last part, and replaces the part with
// the whole attribute under its plain name.
func completeRanges(c searcher, e *goldap.Entry) error {
	for i, a := range e.Attributes {
		name, r, ok, err := parseRange(a.Name)
		if err != nil {
			return fmt.Errorf("%w of %s: %w", errRange, a.Name, err)
		}
		if !ok {
			continue
		}
		if r.lo != 0 {
			return fmt.Errorf("%w of %s: the first part does not start at 0", errRange, name)
		}
		values := a.Values
		for r.hi >= 0 {
			next := r.hi + 1
			req := goldap.NewSearchRequest(e.DN, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
				0, 0, false, "(objectClass=*)", []string{fmt.Sprintf("%s;range=%d-*", name, next)}, nil)
			res, err := c.Search(req)
			if err != nil {
				return fmt.Errorf("%w of %s from %d: %w", errRange, name, next, describe(err))
			}
			if len(res.Entries) != 1 {
				return fmt.Errorf("%w of %s from %d: the entry is gone", errRange, name, next)
			}
			found := false
			for _, b := range res.Entries[0].Attributes {
				bname, br, ok, err := parseRange(b.Name)
				if err != nil {
					return fmt.Errorf("%w of %s: %w", errRange, b.Name, err)
				}
				if !ok || !strings.EqualFold(bname, name) {
					continue
				}
				if br.lo != next {
					return fmt.Errorf("%w of %s: asked for values from %d, got %d", errRange, name, next, br.lo)
				}
				values = append(values, b.Values...)
				r, found = br, true
				break
			}
			if !found {
				return fmt.Errorf("%w of %s: no values from %d on", errRange, name, next)
			}
		}
		e.Attributes[i] = &goldap.EntryAttribute{Name: name, Values: values}
	}
	return nil
}
