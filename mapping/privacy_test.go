package mapping

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/dirbook/dirbook"
)

var privacySeeds = flag.Int("privacy.seeds", 0,
	"number of random rule sets TestPrivacyProperty tries (0: $DIRBOOK_PRIVACY_SEEDS, else 200, 20 with -short)")

// seeds returns the number of seeds TestPrivacyProperty runs.
func seeds(tb testing.TB) int {
	if *privacySeeds > 0 {
		return *privacySeeds
	}
	if s := os.Getenv("DIRBOOK_PRIVACY_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			tb.Fatalf("DIRBOOK_PRIVACY_SEEDS=%q is not a positive number", s)
		}
		return n
	}
	if testing.Short() {
		return 20
	}
	return 200
}

// The world random rules and people are drawn from.
var (
	textAttrs  = []string{"cn", "sn", "givenName", "displayName", "title", "mail", "ou", "o", "description", "l", "street", "uid"}
	phoneAttrs = []string{"telephoneNumber", "mobile", "homePhone"}
	kinds      = []string{"employee", "partner", "guest"}
	groupDNs   = []string{
		"cn=g0,ou=groups,dc=example", "cn=g1,ou=groups,dc=example", "cn=g2,ou=groups,dc=example",
		"cn=g3,ou=groups,dc=example", "cn=g4,ou=groups,dc=example",
	}
)

const (
	optOutGroup   = "cn=opt-out,ou=groups,dc=example"
	approvedGroup = "cn=approved,ou=groups,dc=example"
)

// ruleGen draws random rules.
type ruleGen struct {
	r *rand.Rand
}

func (g *ruleGen) pick(list []string) string { return list[g.r.IntN(len(list))] }

// some returns 1 to n distinct elements of list.
func (g *ruleGen) some(list []string, n int) []string {
	perm := g.r.Perm(len(list))
	k := 1 + g.r.IntN(min(n, len(list)))
	out := make([]string, k)
	for i := range k {
		out[i] = list[perm[i]]
	}
	return out
}

func (g *ruleGen) condition(depth int) Condition {
	switch n := g.r.IntN(9); {
	case n == 0:
		return Condition{Has: g.some(textAttrs, 2)}
	case n == 1:
		return Condition{Equals: map[string]string{g.pick(textAttrs): g.pick([]string{"x", "Y", "staff"})}}
	case n == 2:
		return Condition{Kind: g.some(kinds, 2)}
	case n == 3:
		return Condition{Future: []string{"expiry"}}
	case n == 4 && depth > 0:
		return Condition{All: []Condition{g.condition(depth - 1), g.condition(depth - 1)}}
	case n == 5 && depth > 0:
		return Condition{Any: []Condition{g.condition(depth - 1), g.condition(depth - 1)}}
	case n == 6 && depth > 0:
		c := g.condition(depth - 1)
		return Condition{Not: &c}
	default:
		return Condition{MemberOf: g.some(groupDNs, 3)}
	}
}

func (g *ruleGen) field(i int) FieldRule {
	f := FieldRule{Name: fmt.Sprintf("f%d", i)}
	if g.r.IntN(3) == 0 {
		f.Types = []string{g.pick([]string{"work", "home", "cell"})}
	}
	switch g.r.IntN(12) {
	case 0:
		f.Property, f.Parts = "N", g.some(textAttrs, 5)
	case 1:
		f.Property, f.Parts = "ORG", g.some(textAttrs, 3)
	case 2:
		f.Property, f.Parts = "ADR", g.some(textAttrs, 7)
	case 3:
		f.Property, f.From, f.Transform = "TEL", g.some(phoneAttrs, 2), []string{"e164"}
	case 4:
		f.Property, f.From = "TEL", g.some(phoneAttrs, 2)
	case 5:
		f.Property, f.Template = "IMPP", "xmpp:{"+g.pick(textAttrs)+"}@chat.example"
	case 6:
		f.Property = "CATEGORIES"
		f.FromGroups = map[string]string{}
		for j, dn := range g.some(groupDNs, 3) {
			f.FromGroups[dn] = fmt.Sprintf("Team %d", j)
		}
	case 7:
		f.Property, f.From = "PHOTO", []string{"jpegPhoto"}
	case 8:
		f.Property, f.Template = "X-LABEL", "{"+g.pick(textAttrs)+"} / {"+g.pick(textAttrs)+"}"
	default:
		f.Property = g.pick([]string{"EMAIL", "NOTE", "TITLE", "ROLE", "NICKNAME", "URL", "CATEGORIES", "X-DEPT"})
		f.From = g.some(textAttrs, 2)
		f.Transform = g.some([]string{"lower", "upper", "title", "trim"}, 2)
		if g.r.IntN(4) == 0 {
			f.MaxLength = 5 + g.r.IntN(40)
		}
	}
	return f
}

// bookApproval marks the books whose include requires approval.
type privacyWorld struct {
	rules    *Rules
	approval map[string]bool // book ID → requires kind partner, approvedGroup and a future expiry
	fields   map[string]FieldRule
}

func (g *ruleGen) rules() *privacyWorld {
	w := &privacyWorld{
		rules: &Rules{
			PhoneRegion: "DE",
			Exclude: &Condition{Any: []Condition{
				{Equals: map[string]string{"dirbookHidden": "TRUE"}},
				{MemberOf: []string{optOutGroup}},
			}},
		},
		approval: map[string]bool{},
		fields:   map[string]FieldRule{},
	}
	r := w.rules
	nFN := 1 + g.r.IntN(2)
	for i := range nFN {
		f := FieldRule{Name: fmt.Sprintf("fn%d", i), Property: "FN"}
		if g.r.IntN(2) == 0 {
			f.From = g.some(textAttrs, 3)
		} else {
			f.Template = "{" + g.pick(textAttrs) + "} {" + g.pick(textAttrs) + "}"
		}
		r.Fields = append(r.Fields, f)
	}
	for i := range 3 + g.r.IntN(10) {
		r.Fields = append(r.Fields, g.field(i))
	}
	var names []string
	for _, f := range r.Fields[nFN:] {
		names = append(names, f.Name)
		w.fields[f.Name] = f
	}
	for _, f := range r.Fields[:nFN] {
		w.fields[f.Name] = f
	}
	for i := range 1 + g.r.IntN(4) {
		id := fmt.Sprintf("b%d", i)
		b := BookRule{ID: id, Name: "Book " + id}
		c := g.condition(2)
		if g.r.IntN(2) == 0 {
			w.approval[id] = true
			c = Condition{All: []Condition{
				{Kind: []string{"partner"}},
				{MemberOf: []string{approvedGroup}},
				{Future: []string{"expiry"}},
				c,
			}}
		}
		b.Include = &c
		readers := g.condition(1)
		b.Readers = &readers
		b.Fields = []string{fmt.Sprintf("fn%d", g.r.IntN(nFN))}
		// A random subset of the other fields, with at most one N and one
		// BDAY (the compiler refuses more).
		seen := map[string]bool{}
		for _, name := range names {
			f := w.fields[name]
			if g.r.IntN(2) == 0 || (f.Property == "N" && seen["N"]) {
				continue
			}
			seen[f.Property] = true
			b.Fields = append(b.Fields, name)
		}
		r.Books = append(r.Books, b)
	}
	return w
}

// person draws a random person; every text value holds a token unique to
// its attribute, so a leaked value can be found in a card.
func (g *ruleGen) person(i int) (*dirbook.Entry, map[string]string) {
	e := &dirbook.Entry{
		ID:    fmt.Sprintf("person-%d", i),
		Kind:  g.pick(kinds),
		Attrs: map[string][]string{},
	}
	tokens := map[string]string{}
	for _, a := range textAttrs {
		if g.r.IntN(4) == 0 {
			continue
		}
		tok := "zq" + strings.ToLower(a) + "x" + strconv.Itoa(g.r.IntN(1e6)) + "q"
		tokens[strings.ToLower(a)] = tok
		v := tok
		switch g.r.IntN(6) {
		case 0:
			v = " \t" + tok + "\r\n"
		case 1:
			v = tok + "\xff\x00;,\\"
		case 2:
			v = strings.ToUpper(tok)
		}
		e.Attrs[strings.ToLower(a)] = []string{v}
	}
	for _, a := range phoneAttrs {
		switch g.r.IntN(4) {
		case 0:
			e.Attrs[strings.ToLower(a)] = []string{fmt.Sprintf("030 %07d", 1000000+g.r.IntN(8999999))}
		case 1:
			e.Attrs[strings.ToLower(a)] = []string{"0800-CALL-NOW"}
		}
	}
	switch g.r.IntN(5) {
	case 0:
		e.Attrs["jpegphoto"] = []string{tinyPNG}
	case 1:
		e.Attrs["jpegphoto"] = []string{"not an image"}
	}
	switch g.r.IntN(4) {
	case 0:
		e.Attrs["expiry"] = []string{"20300101000000Z"}
	case 1:
		e.Attrs["expiry"] = []string{"20200101000000Z"}
	case 2:
		e.Attrs["expiry"] = []string{"someday"}
	}
	switch g.r.IntN(10) {
	case 0:
		e.Attrs["dirbookhidden"] = []string{"TRUE"}
	case 1:
		e.Attrs["dirbookhidden"] = []string{" true "}
	case 2:
		e.Attrs["dirbookhidden"] = []string{"FALSE"}
	}
	for _, dn := range append(slices.Clone(groupDNs), optOutGroup, approvedGroup) {
		if g.r.IntN(3) == 0 {
			e.Groups = append(e.Groups, dn)
		}
	}
	return e, tokens
}

// fieldAttrs returns the lower-case names of the attributes a field reads.
func fieldAttrs(f FieldRule) []string {
	var out []string
	for _, a := range append(slices.Clone(f.From), f.Parts...) {
		out = append(out, strings.ToLower(a))
	}
	if f.Template != "" {
		t, err := parseTemplate(f.Template)
		if err == nil {
			t.attributes(func(name string) { out = append(out, strings.ToLower(name)) })
		}
	}
	return out
}

// TestPrivacyProperty maps random people with random rule sets and checks
// the privacy promise: a card holds only the fields its book lists (by
// Prop.Field, by the property names of the encoded vCard, and by the
// values of attributes only other fields read), and people who opted out
// or are not approved are in no book they must not be in.
func TestPrivacyProperty(t *testing.T) {
	n := seeds(t)
	for seed := range uint64(n) {
		g := &ruleGen{r: rand.New(rand.NewPCG(seed, 0x5eed))}
		w := g.rules()
		m, problems := CompileWithOptions(w.rules, &CompileOptions{Now: fixedClock})
		if len(problems) > 0 {
			t.Fatalf("seed %d: random rules do not compile: %v", seed, problems)
		}
		var reused Result // MapTo must give what Map gives, person after person
		for i := range 40 {
			e, tokens := g.person(i)
			checkPrivacy(t, seed, m, w, e, tokens)
			m.MapTo(&reused, e)
			if want := m.Map(e); !sameResult(&reused, want) {
				t.Errorf("seed %d: %s: MapTo gives %+v, Map %+v", seed, e.ID, reused, *want)
			}
		}
	}
}

// sameResult reports whether a and b hold the same cards, exclusion and
// warnings; no warnings and an empty list of them are the same.
func sameResult(a, b *Result) bool {
	return reflect.DeepEqual(a.Cards, b.Cards) && a.Excluded == b.Excluded && a.Timed == b.Timed &&
		len(a.Warnings) == len(b.Warnings) && (len(a.Warnings) == 0 || reflect.DeepEqual(a.Warnings, b.Warnings))
}

func checkPrivacy(t *testing.T, seed uint64, m *Mapper, w *privacyWorld, e *dirbook.Entry, tokens map[string]string) {
	t.Helper()
	res := m.Map(e)
	hidden := strings.EqualFold(strings.TrimSpace(e.First("dirbookHidden")), "true") || slices.Contains(e.Groups, optOutGroup)
	if hidden {
		if len(res.Cards) > 0 || res.Excluded == "" || len(m.Readable(e)) > 0 {
			t.Errorf("seed %d: opted-out %s has cards in %v, Excluded %q, may read %v", seed, e.ID, keys(res.Cards), res.Excluded, m.Readable(e))
		}
		return
	}
	if res.Excluded != "" {
		t.Errorf("seed %d: %s excluded: %s", seed, e.ID, res.Excluded)
	}
	expiry, never, ok := parseTime(e.First("expiry"))
	approved := e.Kind == "partner" && slices.Contains(e.Groups, approvedGroup) && ok && (never || expiry.After(clock))

	decisions := m.Explain(e)
	for _, d := range decisions {
		if _, in := res.Cards[d.Book]; in != d.In {
			t.Errorf("seed %d: %s: Explain says in %s %v, Map %v", seed, e.ID, d.Book, d.In, in)
		}
	}
	for _, b := range w.rules.Books {
		card := res.Cards[b.ID]
		if card == nil {
			continue
		}
		if w.approval[b.ID] && !approved {
			t.Errorf("seed %d: unapproved %s (kind %s, expiry %q) is in %s", seed, e.ID, e.Kind, e.First("expiry"), b.ID)
		}
		allowedFields := map[string]bool{}
		allowedNames := map[string]bool{vcard.FieldVersion: true, vcard.FieldUID: true, vcard.FieldKind: true}
		readable := map[string]bool{}
		for _, name := range b.Fields {
			f := w.fields[name]
			allowedFields[name] = true
			allowedNames[strings.ToUpper(f.Property)] = true
			for _, a := range fieldAttrs(f) {
				readable[a] = true
			}
		}
		for _, p := range card.Props {
			if !allowedFields[p.Field] {
				t.Errorf("seed %d: %s's card in %s has field %q, which the book does not list", seed, e.ID, b.ID, p.Field)
			}
		}
		for _, version := range []string{"3.0", "4.0"} {
			out, err := Encode(card, version)
			if err != nil {
				t.Fatalf("seed %d: Encode: %v", seed, err)
			}
			decoded, err := vcard.NewDecoder(bytes.NewReader(out)).Decode()
			if err != nil {
				t.Fatalf("seed %d: decode %s card of %s: %v\n%s", seed, version, e.ID, err, out)
			}
			for name := range decoded {
				if !allowedNames[name] {
					t.Errorf("seed %d: %s's %s card in %s has property %s, which no field of the book makes\n%s", seed, e.ID, version, b.ID, name, out)
				}
			}
			lower := strings.ToLower(string(out))
			for attr, tok := range tokens {
				if !readable[attr] && strings.Contains(lower, tok) {
					t.Errorf("seed %d: %s's %s card in %s holds the value of %s, which no field of the book reads\n%s", seed, e.ID, version, b.ID, attr, out)
				}
			}
		}
	}
}
