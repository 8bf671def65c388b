package sync

import (
	"slices"
	"strconv"
	"strings"

	"github.com/dirbook/dirbook"
)

// fieldKey groups a card's properties by the mapping field that made them.
func fieldKey(p *dirbook.Prop) string {
	if p.Field != "" {
		return p.Field
	}
	return strings.ToLower(p.Name)
}

// diffCards lists the fields whose properties differ between old and new,
// in the order of new's properties, then the fields only old had.
func diffCards(old, new *dirbook.Card) []FieldChange {
	oldBy, oldKeys := groupProps(old)
	newBy, newKeys := groupProps(new)
	keys := newKeys
	for _, k := range oldKeys {
		if _, ok := newBy[k]; !ok {
			keys = append(keys, k)
		}
	}
	var out []FieldChange
	for _, k := range keys {
		o, n := oldBy[k], newBy[k]
		if sameProps(o, n) {
			continue
		}
		fc := FieldChange{Field: k, Binary: binaryProps(o) || binaryProps(n)}
		if fc.Binary {
			fc.Old, fc.New = sizes(o), sizes(n)
		} else {
			fc.Old, fc.New = render(o, false), render(n, false)
			if slices.Equal(fc.Old, fc.New) {
				// Only parameters changed: show them.
				fc.Old, fc.New = render(o, true), render(n, true)
			}
		}
		out = append(out, fc)
	}
	return out
}

func groupProps(c *dirbook.Card) (map[string][]*dirbook.Prop, []string) {
	by := make(map[string][]*dirbook.Prop, len(c.Props))
	var keys []string
	for i := range c.Props {
		p := &c.Props[i]
		k := fieldKey(p)
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], p)
	}
	return by, keys
}

func sameProps(a, b []*dirbook.Prop) bool {
	return slices.EqualFunc(a, b, sameProp)
}

// binaryProps reports whether the properties hold bytes rather than text.
func binaryProps(ps []*dirbook.Prop) bool {
	for _, p := range ps {
		switch p.Name {
		case "PHOTO", "LOGO", "SOUND", "KEY":
			return true
		}
		if !allValidUTF8(p.Values) {
			return true
		}
	}
	return false
}

func sizes(ps []*dirbook.Prop) []string {
	var out []string
	for _, p := range ps {
		n := 0
		for _, v := range p.Values {
			n += len(v)
		}
		out = append(out, strconv.Itoa(n))
	}
	return out
}

// render shows each property's value, its components joined by ";"
// without trailing empty ones; with params, also its types, preference and
// media type.
func render(ps []*dirbook.Prop, params bool) []string {
	var out []string
	for _, p := range ps {
		vals := p.Values
		for len(vals) > 1 && vals[len(vals)-1] == "" {
			vals = vals[:len(vals)-1]
		}
		s := strings.Join(vals, ";")
		if params {
			var ps []string
			if len(p.Types) > 0 {
				ps = append(ps, "type="+strings.Join(p.Types, ","))
			}
			if p.Pref {
				ps = append(ps, "pref")
			}
			if p.MediaType != "" {
				ps = append(ps, p.MediaType)
			}
			if len(ps) > 0 {
				s += " (" + strings.Join(ps, "; ") + ")"
			}
		}
		out = append(out, s)
	}
	return out
}

// sameProp reports whether a and b are the same property.
func sameProp(a, b *dirbook.Prop) bool {
	return a.Field == b.Field && a.Name == b.Name && a.Pref == b.Pref && a.MediaType == b.MediaType &&
		slices.Equal(a.Types, b.Types) && slices.Equal(a.Values, b.Values)
}
