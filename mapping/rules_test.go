package mapping

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/dirbook/dirbook"
)

// config is the part of the configuration file these tests read.
type config struct {
	Mapping Rules          `yaml:"mapping"`
	Rest    map[string]any `yaml:",inline"`
}

func decodeConfig(data string) (*config, error) {
	dec := yaml.NewDecoder(strings.NewReader(data))
	dec.KnownFields(true)
	var c config
	err := dec.Decode(&c)
	return &c, err
}

func TestDemoConfig(t *testing.T) {
	data, err := os.ReadFile("../testdata/demo/dirbook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeConfig(string(data))
	if err != nil {
		t.Fatalf("decode demo config: %v", err)
	}
	if !reflect.DeepEqual(&c.Mapping, demoRules()) {
		t.Errorf("demo mapping = %+v, want %+v (keep demoRules in step with the demo config)", c.Mapping, *demoRules())
	}
	m := mustCompile(t, &c.Mapping)
	want := []dirbook.Book{
		{ID: "colleagues", Name: "Colleagues", Description: "Everyone at Nordlicht and our approved partners"},
		{ID: "partners", Name: "Partners", Description: "Approved external partners"},
	}
	if got := m.Books(); !slices.Equal(got, want) {
		t.Errorf("Books() = %v, want %v", got, want)
	}
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"field", "mapping:\n  fields:\n    - name: fn\n      propery: FN\n", "propery"},
		{"book", "mapping:\n  books:\n    - id: a\n      reader: {has: [x]}\n", "reader"},
		{"condition", "mapping:\n  exclude:\n    member: [cn=x]\n", "member"},
		{"top", "mapping:\n  phone_regio: DE\n", "phone_regio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeConfig(tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("decode(%q) error = %v, want one naming %q", tt.yaml, err, tt.wantErr)
			}
		})
	}
}

// TestYAMLTags checks that every field of the rule types has a snake_case
// yaml tag, as the strict configuration decoder needs.
func TestYAMLTags(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, v := range []any{Rules{}, Condition{}, FieldRule{}, BookRule{}, PhotoRule{}, Replace{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			f := typ.Field(i)
			if tag := f.Tag.Get("yaml"); !snake.MatchString(tag) {
				t.Errorf("%s.%s yaml tag = %q, want snake_case", typ.Name(), f.Name, tag)
			}
		}
	}
}

func TestProblemError(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{"fields[2].property", `unknown property "TITEL"`}, `fields[2].property: unknown property "TITEL"`},
		{Problem{"", "missing mapping section"}, "missing mapping section"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestCompileProblems(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Rules)
		want   []Problem
	}{
		{"valid", func(r *Rules) {}, nil},
		{"lower-case region and property", func(r *Rules) {
			r.PhoneRegion = "de"
			r.Fields[3].Property = "title"
		}, nil},
		{"x property", func(r *Rules) {
			r.Fields = append(r.Fields, FieldRule{Name: "dept", Property: "X-DEPARTMENT", From: []string{"departmentNumber"}})
		}, nil},
		{"unknown property", func(r *Rules) { r.Fields[3].Property = "TITEL" },
			[]Problem{{"fields[3].property", `unknown property "TITEL"`}}},
		{"bare x property", func(r *Rules) { r.Fields[3].Property = "X-" },
			[]Problem{{"fields[3].property", `unknown property "X-"`}}},
		{"missing property", func(r *Rules) { r.Fields[3].Property = "" },
			[]Problem{{"fields[3].property", "missing property"}}},
		{"missing name", func(r *Rules) {
			r.Fields = append(r.Fields, FieldRule{Property: "NOTE", From: []string{"description"}})
		}, []Problem{{"fields[8].name", "missing name"}}},
		{"duplicate name", func(r *Rules) {
			r.Fields = append(r.Fields, FieldRule{Name: "email", Property: "EMAIL", From: []string{"mail"}})
		}, []Problem{{"fields[8].name", `duplicate field name "email"`}}},
		{"from and parts", func(r *Rules) { r.Fields[1].From = []string{"cn"} },
			[]Problem{{"fields[1]", "both from and parts set; use exactly one"}}},
		{"neither from nor parts", func(r *Rules) { r.Fields[3].From = nil },
			[]Problem{{"fields[3]", "none of from, parts, template and from_groups set; use exactly one"}}},
		{"no parts", func(r *Rules) { r.Fields[1].Parts = nil },
			[]Problem{{"fields[1]", "no parts set"}}},
		{"from and template", func(r *Rules) { r.Fields[0].Template = "{givenName} {sn}" },
			[]Problem{{"fields[0]", "both from and template set; use exactly one"}}},
		{"template", func(r *Rules) { r.Fields[0].From, r.Fields[0].Template = nil, "{givenName} {sn}" }, nil},
		{"template without reference", func(r *Rules) { r.Fields[0].From, r.Fields[0].Template = nil, "Jana" },
			[]Problem{{"fields[0].template", "template references no attribute (write {attributeName})"}}},
		{"template unclosed", func(r *Rules) { r.Fields[0].From, r.Fields[0].Template = nil, "{givenName} {sn" },
			[]Problem{{"fields[0].template", "unclosed { at offset 12"}}},
		{"template bad name", func(r *Rules) { r.Fields[0].From, r.Fields[0].Template = nil, "{given name}" },
			[]Problem{{"fields[0].template", "{given name} is not an attribute name"}}},
		{"template stray brace", func(r *Rules) { r.Fields[0].From, r.Fields[0].Template = nil, "{sn}}" },
			[]Problem{{"fields[0].template", "unmatched } at offset 4 (write }} for a literal brace)"}}},
		{"template on org", func(r *Rules) { r.Fields[2].Parts, r.Fields[2].Template = nil, "{o}" },
			[]Problem{{"fields[2].template", "template does not apply to ORG"}}},
		{"template with multi", func(r *Rules) { r.Fields[4].From, r.Fields[4].Template, r.Fields[4].Multi = nil, "{uid}@x.org", "all" },
			[]Problem{{"fields[4].multi", "multi does not apply to a template: it yields one value"}}},
		{"from_groups", func(r *Rules) {
			r.Fields = append(r.Fields, FieldRule{Name: "teams", Property: "CATEGORIES", FromGroups: map[string]string{employees: "Staff"}})
		}, nil},
		{"from_groups problems", func(r *Rules) {
			r.Fields = append(r.Fields, FieldRule{Name: "teams", Property: "TEL", FromGroups: map[string]string{
				"employees": "Staff", "cn=x": "X", employees: " \x00 ",
			}})
		}, []Problem{
			{"fields[8].from_groups", "from_groups does not apply to TEL"},
			{"fields[8].from_groups.cn=employees,ou=groups,dc=nordlicht,dc=example", "empty value"},
			{"fields[8].from_groups.cn=x", `"cn=x" is a single RDN, not a group DN`},
			{"fields[8].from_groups.employees", `not a DN: "employees"`},
		}},
		{"adr", func(r *Rules) {
			r.Fields = append(r.Fields, FieldRule{Name: "adr", Property: "ADR", Parts: []string{"postOfficeBox", "", "street", "l", "st", "postalCode", "c"}})
		}, nil},
		{"adr too many parts", func(r *Rules) {
			r.Fields = append(r.Fields, FieldRule{Name: "adr", Property: "adr", Parts: []string{"a", "b", "c", "d", "e", "f", "g", "h"}})
		}, []Problem{{"fields[8].parts", "ADR has at most 7 parts, got 8"}}},
		{"impp", func(r *Rules) {
			r.Fields = append(r.Fields, FieldRule{Name: "chat", Property: "IMPP", Template: "xmpp:{uid}@chat.example"})
		}, nil},
		{"title transform and max_length", func(r *Rules) {
			r.Fields[3].Transform, r.Fields[3].MaxLength = []string{"collapse", "title"}, 20
		}, nil},
		{"negative max_length", func(r *Rules) { r.Fields[3].MaxLength = -1 },
			[]Problem{{"fields[3].max_length", "-1 is negative"}}},
		{"max_length with e164", func(r *Rules) { r.Fields[5].MaxLength = 10 },
			[]Problem{{"fields[5].max_length", "max_length does not apply with e164: a cut number is a wrong number"}}},
		{"max_length on photo", func(r *Rules) { r.Fields[7].MaxLength = 10 },
			[]Problem{{"fields[7].max_length", "max_length does not apply to PHOTO"}}},
		{"replace", func(r *Rules) { r.Fields[6].Replace = &Replace{Pattern: `\s*\(mobile\)$`} }, nil},
		{"replace bad pattern", func(r *Rules) { r.Fields[6].Replace = &Replace{Pattern: `(a`, With: "x"} },
			[]Problem{{"fields[6].replace.pattern", "invalid regular expression: error parsing regexp: missing closing ): `(a`"}}},
		{"replace backreference is not RE2", func(r *Rules) { r.Fields[6].Replace = &Replace{Pattern: `(a)\1`} },
			[]Problem{{"fields[6].replace.pattern", "invalid regular expression: error parsing regexp: invalid escape sequence: `\\1`"}}},
		{"replace without pattern", func(r *Rules) { r.Fields[6].Replace = &Replace{With: "x"} },
			[]Problem{{"fields[6].replace.pattern", "missing pattern"}}},
		{"replace on photo", func(r *Rules) { r.Fields[7].Replace = &Replace{Pattern: "x"} },
			[]Problem{{"fields[7].replace", "replace does not apply to PHOTO"}}},
		{"photo limits", func(r *Rules) {
			r.Photo = &PhotoRule{MaxSize: 512, MaxBytes: 65536, CacheSize: 10}
			r.Fields[7].Photo = &PhotoRule{MaxSize: 96}
		}, nil},
		{"photo limits out of range", func(r *Rules) {
			r.Photo = &PhotoRule{MaxSize: 8, MaxBytes: 1 << 21, CacheSize: -1}
			r.Fields[7].Photo = &PhotoRule{MaxSize: 4096, MaxBytes: 100, CacheSize: 5}
			r.Fields[3].Photo = &PhotoRule{}
		}, []Problem{
			{"photo.max_size", "8 is out of range (16 to 2048 pixels)"},
			{"photo.max_bytes", "2097152 is out of range (2048 to 1048576 bytes)"},
			{"photo.cache_size", "-1 is out of range (1 to 1048576, 0 for 4096)"},
			{"fields[3].photo", "photo applies to PHOTO only, not TITLE"},
			{"fields[7].photo.cache_size", "set the cache size in mapping.photo, not per field"},
		}},
		{"kind and future", func(r *Rules) {
			r.Books[1].Include = &Condition{Kind: []string{"partner"}, Future: []string{"approvalExpiry"}}
		}, nil},
		{"kind and future empty", func(r *Rules) {
			r.Books[1].Include = &Condition{Kind: []string{"partner", " "}, Future: []string{}}
			r.Books[0].Include = &Condition{Kind: []string{}, Future: []string{""}}
		}, []Problem{
			{"books[0].include.kind", "empty list"},
			{"books[0].include.future[0]", "empty attribute name"},
			{"books[1].include.kind[1]", "empty kind"},
			{"books[1].include.future", "empty list"},
		}},
		{"parts on text", func(r *Rules) { r.Fields[3].From, r.Fields[3].Parts = nil, []string{"title"} },
			[]Problem{{"fields[3].parts", "parts are for N, ORG and ADR only, not TITLE"}}},
		{"from on structured", func(r *Rules) { r.Fields[2].From, r.Fields[2].Parts = []string{"o"}, nil },
			[]Problem{{"fields[2].from", "ORG takes parts, not from"}}},
		{"too many parts", func(r *Rules) { r.Fields[1].Parts = []string{"sn", "givenName", "", "", "", "x"} },
			[]Problem{{"fields[1].parts", "N has at most 5 parts, got 6"}}},
		{"empty parts", func(r *Rules) { r.Fields[1].Parts = []string{"", " "} },
			[]Problem{{"fields[1].parts", "no attribute in parts"}}},
		{"empty attribute", func(r *Rules) { r.Fields[3].From = []string{"title", " "} },
			[]Problem{{"fields[3].from[1]", "empty attribute name"}}},
		{"unknown transform", func(r *Rules) { r.Fields[5].Transform = []string{"e164", "E.164"} },
			[]Problem{{"fields[5].transform[1]", `unknown transform "E.164"`}}},
		{"e164 on email", func(r *Rules) { r.Fields[4].Transform = []string{"lower", "e164"} },
			[]Problem{{"fields[4].transform[1]", `transform "e164" applies to TEL only, not EMAIL`}}},
		{"transform on photo", func(r *Rules) { r.Fields[7].Transform = []string{"trim"} },
			[]Problem{{"fields[7].transform[0]", `transform "trim" does not apply to PHOTO`}}},
		{"phone region missing", func(r *Rules) { r.PhoneRegion = "" },
			[]Problem{{"phone_region", `missing: field "work_phone" uses the e164 transform`}}},
		{"phone region unknown", func(r *Rules) { r.PhoneRegion = "XX" },
			[]Problem{{"phone_region", `unknown region "XX"`}}},
		{"no e164 no region", func(r *Rules) {
			r.PhoneRegion = ""
			r.Fields[5].Transform, r.Fields[6].Transform = nil, nil
		}, nil},
		{"invalid type", func(r *Rules) { r.Fields[4].Types = []string{"work", "x;y"} },
			[]Problem{{"fields[4].types[1]", `invalid type "x;y"`}}},
		{"unknown multi", func(r *Rules) { r.Fields[4].Multi = "some" },
			[]Problem{{"fields[4].multi", `unknown multi "some" (want "all" or "first")`}}},
		{"multi on single", func(r *Rules) { r.Fields[0].Multi = "all" },
			[]Problem{{"fields[0].multi", `multi "all" not allowed: FN is single-valued`}}},
		{"multi first on single", func(r *Rules) { r.Fields[0].Multi = "first" }, nil},
		{"book id missing", func(r *Rules) { r.Books[1].ID = "" },
			[]Problem{{"books[1].id", "missing id"}}},
		{"book id duplicate", func(r *Rules) { r.Books[1].ID = "colleagues" },
			[]Problem{{"books[1].id", `duplicate book id "colleagues"`}}},
		{"book id unsafe", func(r *Rules) { r.Books[1].ID = "../x" },
			[]Problem{{"books[1].id", `id "../x" is not a safe path segment (want [a-z0-9][a-z0-9._-]*)`}}},
		{"book id upper case", func(r *Rules) { r.Books[1].ID = "Partners" },
			[]Problem{{"books[1].id", `id "Partners" is not a safe path segment (want [a-z0-9][a-z0-9._-]*)`}}},
		{"book id too long", func(r *Rules) { r.Books[1].ID = strings.Repeat("p", 65) },
			[]Problem{{"books[1].id", `id "` + strings.Repeat("p", 65) + `" is longer than 64 characters`}}},
		{"book name missing", func(r *Rules) { r.Books[0].Name = " " },
			[]Problem{{"books[0].name", "missing name"}}},
		{"book field undefined", func(r *Rules) { r.Books[1].Fields = append(r.Books[1].Fields, "phone") },
			[]Problem{{"books[1].fields[6]", `field "phone" is not defined`}}},
		{"book field twice", func(r *Rules) { r.Books[1].Fields = append(r.Books[1].Fields, "email") },
			[]Problem{{"books[1].fields[6]", `field "email" listed twice`}}},
		{"book without fn", func(r *Rules) { r.Books[1].Fields = []string{"n", "org"} },
			[]Problem{{"books[1].fields", "no FN field: every card needs a formatted name"}}},
		{"book without fields", func(r *Rules) { r.Books[1].Fields = nil },
			[]Problem{{"books[1].fields", "no fields listed"}}},
		{"book with two fn", func(r *Rules) {
			r.Fields = append(r.Fields, FieldRule{Name: "fn2", Property: "FN", From: []string{"cn"}})
			r.Books[1].Fields = append(r.Books[1].Fields, "fn2")
		}, []Problem{{"books[1].fields[6]", `field "fn2" is a second FN field after "fn"; a card has one`}}},
		{"include missing", func(r *Rules) { r.Books[0].Include = nil },
			[]Problem{{"books[0].include", "missing: a book must say who it contains"}}},
		{"readers missing", func(r *Rules) { r.Books[1].Readers = nil },
			[]Problem{{"books[1].readers", "missing: a book must say who may read it"}}},
		{"empty condition", func(r *Rules) { r.Books[0].Include = &Condition{} },
			[]Problem{{"books[0].include", "empty condition"}}},
		{"not a dn", func(r *Rules) { r.Books[0].Include.MemberOf[1] = "approved-partners" },
			[]Problem{{"books[0].include.member_of[1]", `not a DN: "approved-partners"`}}},
		{"single rdn", func(r *Rules) { r.Books[0].Readers.MemberOf = []string{"cn=employees", "dc=example"} },
			[]Problem{
				{"books[0].readers.member_of[0]", `"cn=employees" is a single RDN, not a group DN (in a YAML [ ] list, quote each DN: commas split it)`},
				{"books[0].readers.member_of[1]", `"dc=example" is a single RDN, not a group DN (in a YAML [ ] list, quote each DN: commas split it)`},
			}},
		{"empty rdn", func(r *Rules) { r.Books[0].Include.MemberOf[0] = "cn=employees,,dc=example" },
			[]Problem{{"books[0].include.member_of[0]", `not a DN: "cn=employees,,dc=example"`}}},
		{"empty member_of", func(r *Rules) { r.Books[0].Include = &Condition{MemberOf: []string{}} },
			[]Problem{{"books[0].include.member_of", "empty list"}}},
		{"empty any", func(r *Rules) { r.Books[1].Readers = &Condition{Any: []Condition{}} },
			[]Problem{{"books[1].readers.any", "empty list"}}},
		{"empty nested condition", func(r *Rules) { r.Exclude = &Condition{Any: []Condition{{Has: []string{"x"}}, {}}} },
			[]Problem{{"exclude.any[1]", "empty condition"}}},
		{"empty not", func(r *Rules) { r.Books[1].Readers = &Condition{Not: &Condition{}} },
			[]Problem{{"books[1].readers.not", "empty condition"}}},
		{"empty all inside not", func(r *Rules) {
			r.Exclude = &Condition{Not: &Condition{All: []Condition{{Equals: map[string]string{"x": "y"}}, {Has: []string{""}}}}}
		}, []Problem{{"exclude.not.all[1].has[0]", "empty attribute name"}}},
		{"equals empty value", func(r *Rules) { r.Exclude = &Condition{Equals: map[string]string{"employeeType": " "}} },
			[]Problem{{"exclude.equals.employeeType", `empty value for "employeeType"; to match a missing attribute use not: {has: [employeeType]}`}}},
		{"no books", func(r *Rules) { r.Books = nil },
			[]Problem{{"books", "no books defined"}}},
		{"no fields no books", func(r *Rules) { r.Fields, r.Books = nil, nil },
			[]Problem{{"fields", "no fields defined"}, {"books", "no books defined"}}},
		{"several at once", func(r *Rules) {
			r.PhoneRegion = ""
			r.Fields[3].Property = "TITEL"
			r.Books[0].Include.MemberOf[0] = "employees"
			r.Books[1].Fields[0] = "name"
		}, []Problem{
			{"fields[3].property", `unknown property "TITEL"`},
			{"phone_region", `missing: field "work_phone" uses the e164 transform`},
			{"books[0].include.member_of[0]", `not a DN: "employees"`},
			{"books[1].fields[0]", `field "name" is not defined`},
			{"books[1].fields", "no FN field: every card needs a formatted name"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := demoRules()
			tt.change(r)
			m, got := Compile(r)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Compile() problems = %q, want %q", got, tt.want)
			}
			if (m == nil) != (len(tt.want) > 0) {
				t.Errorf("Compile() mapper = %v with %d problems", m, len(got))
			}
		})
	}
}

func TestCompileNil(t *testing.T) {
	m, got := Compile(nil)
	want := []Problem{{"", "missing mapping section"}}
	if m != nil || !slices.Equal(got, want) {
		t.Errorf("Compile(nil) = %v, %q, want nil, %q", m, got, want)
	}
}

// TestFlowListDN shows the YAML trap the single-RDN check catches: a DN
// in a flow list without quotes is split at its commas.
func TestFlowListDN(t *testing.T) {
	const doc = `mapping:
  fields:
    - {name: fn, property: FN, from: [cn]}
  books:
    - id: all
      name: All
      include: {has: [cn]}
      readers:
        member_of: [cn=staff,dc=example]
      fields: [fn]
`
	c, err := decodeConfig(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, got := Compile(&c.Mapping)
	if len(got) != 2 || got[0].Path != "books[0].readers.member_of[0]" || got[1].Path != "books[0].readers.member_of[1]" {
		t.Errorf("Compile(unquoted DN in flow list) problems = %q, want two single RDN problems", got)
	}
	quoted := strings.Replace(doc, "[cn=staff,dc=example]", `["cn=staff,dc=example"]`, 1)
	if c, err = decodeConfig(quoted); err != nil {
		t.Fatal(err)
	}
	if _, got := Compile(&c.Mapping); len(got) != 0 {
		t.Errorf("Compile(quoted DN) problems = %q, want none", got)
	}
}

func TestCountRDNs(t *testing.T) {
	tests := []struct {
		dn   string
		want int
	}{
		{"cn=employees,ou=groups,dc=nordlicht,dc=example", 4},
		{"cn=a\\,b,dc=example", 2},
		{" cn = a , dc = example ", 2},
		{"cn=a+sn=b,dc=example", 2},
		{"cn=employees", 1},
		{"employees", 0},
		{"", 0},
		{"cn=a,", 0},
		{"=a,dc=b", 0},
		{"cn=a,,dc=b", 0},
	}
	for _, tt := range tests {
		if got := countRDNs(tt.dn); got != tt.want {
			t.Errorf("countRDNs(%q) = %d, want %d", tt.dn, got, tt.want)
		}
	}
}

// TestAllKeys decodes testdata/all-keys.yaml strictly, compiles it, maps
// a partner with it, and checks that the file uses every yaml key of the
// rule types, so that the example cannot fall behind them.
func TestAllKeys(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "all-keys.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeConfig(string(data))
	if err != nil {
		t.Fatalf("decode all-keys.yaml: %v", err)
	}
	m, problems := CompileWithOptions(&c.Mapping, &CompileOptions{Now: fixedClock})
	if len(problems) > 0 {
		t.Fatalf("Compile(all-keys.yaml) problems: %q", problems)
	}
	e := &dirbook.Entry{
		ID:   "p1",
		Kind: "partner",
		Attrs: map[string][]string{
			"cn": {"Piet Partner"}, "mobile": {"0171 2345678 (mobile)"}, "telephonenumber": {"040 123456"},
			"dirbookapprovalexpiry": {"20301231235959Z"},
		},
		Groups: []string{"cn=approved-partners,ou=groups,dc=nordlicht,dc=example"},
	}
	res := m.Map(e)
	if len(res.Cards) != 1 || res.Cards["partners"] == nil {
		t.Fatalf("Map(partner) books = %v, want partners", keys(res.Cards))
	}
	for _, p := range res.Cards["partners"].Props {
		if p.Value() == "+491712345678" {
			t.Errorf("partners card has the mobile number")
		}
	}

	var used []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i < len(n.Content); i += 2 {
				used = append(used, n.Content[i].Value)
			}
		}
		for _, child := range n.Content {
			walk(child)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	walk(&doc)
	for _, v := range []any{Rules{}, Condition{}, FieldRule{}, BookRule{}, PhotoRule{}, Replace{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			if tag := typ.Field(i).Tag.Get("yaml"); !slices.Contains(used, tag) {
				t.Errorf("all-keys.yaml does not use %s.%s (%s)", typ.Name(), typ.Field(i).Name, tag)
			}
		}
	}
}
