package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/dirbook/dirbook"
)

// template is a compiled FieldRule.Template: literal text and attribute
// references in turn.
type template struct {
	parts []templatePart
}

type templatePart struct {
	literal string
	attr    string // lower case; "" for a literal
	name    string // as written
}

// attrNamePattern matches an LDAP attribute description: a name or an
// OID, with options (";lang-de", ";binary").
var attrNamePattern = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)*)(;[A-Za-z0-9-]+)*$`)

// parseTemplate compiles a template such as "{givenName} {sn}". "{{" and
// "}}" stand for literal braces.
func parseTemplate(s string) (*template, error) {
	t := &template{}
	var lit strings.Builder
	refs := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("unmatched } at offset %d (write }} for a literal brace)", i)
		case c == '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed { at offset %d", i)
			}
			name := strings.TrimSpace(s[i+1 : i+1+end])
			if !attrNamePattern.MatchString(name) {
				return nil, fmt.Errorf("{%s} is not an attribute name", s[i+1:i+1+end])
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, templatePart{literal: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, templatePart{attr: strings.ToLower(name), name: name})
			refs++
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, templatePart{literal: lit.String()})
	}
	if refs == 0 {
		return nil, errors.New("template references no attribute (write {attributeName})")
	}
	return t, nil
}

// render fills the template from e: each reference becomes the first
// non-empty cleaned value of its attribute. The result is cleaned, so
// the spaces around a missing value collapse. ok is false when every
// referenced attribute is empty.
func (t *template) render(e *dirbook.Entry) (string, bool) {
	var b strings.Builder
	found := false
	for _, p := range t.parts {
		if p.attr == "" {
			b.WriteString(p.literal)
			continue
		}
		values := e.Attrs[p.attr]
		for j := 0; j < len(values) && j < 2*maxValues; j++ {
			if v := cleanText(values[j]); v != "" {
				b.WriteString(v)
				found = true
				break
			}
		}
	}
	if !found {
		return "", false
	}
	return cleanText(b.String()), true
}

// attributes calls fn with every attribute name the template references.
func (t *template) attributes(fn func(name string)) {
	if t == nil {
		return
	}
	for _, p := range t.parts {
		if p.attr != "" {
			fn(p.name)
		}
	}
}
