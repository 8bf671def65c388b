package ldap

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		desc    string
		name    string
		r       valueRange
		ok      bool
		wantErr bool
	}{
		{desc: "member", name: "member"},
		{desc: "member;binary", name: "member;binary"},
		{desc: "member;range=0-1499", name: "member", r: valueRange{0, 1499}, ok: true},
		{desc: "member;range=1500-*", name: "member", r: valueRange{1500, -1}, ok: true},
		{desc: "Member;Range=3-3", name: "Member", r: valueRange{3, 3}, ok: true},
		{desc: "memberOf;x-opt;range=0-9", name: "memberOf;x-opt", r: valueRange{0, 9}, ok: true},
		{desc: "member;range=0-1499;binary", name: "member;binary", r: valueRange{0, 1499}, ok: true},
		{desc: "member;range=a-b", wantErr: true},
		{desc: "member;range=5", wantErr: true},
		{desc: "member;range=5-4", wantErr: true},
		{desc: "member;range=-1-4", wantErr: true},
		{desc: "member;range=0-", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			name, r, ok, err := parseRange(tt.desc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseRange(%q) error = %v, want error %v", tt.desc, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if name != tt.name || r != tt.r || ok != tt.ok {
				t.Errorf("parseRange(%q) = %q, %v, %v, want %q, %v, %v", tt.desc, name, r, ok, tt.name, tt.r, tt.ok)
			}
		})
	}
}

// rangeServer answers the base searches of completeRanges as Active
// Directory does, from a list of values it hands out step at a time.
type rangeServer struct {
	values []string
	step   int
	// skew shifts the start of the ranges it answers with.
	skew int
	// omit leaves the attribute out of its answers.
	omit     bool
	err      error
	requests []string
}

func (f *rangeServer) Search(req *goldap.SearchRequest) (*goldap.SearchResult, error) {
	if req.Scope != goldap.ScopeBaseObject || len(req.Attributes) != 1 {
		return nil, fmt.Errorf("unexpected request: scope %d, attributes %q", req.Scope, req.Attributes)
	}
	f.requests = append(f.requests, req.Attributes[0])
	if f.err != nil {
		return nil, f.err
	}
	name, r, ok, err := parseRange(req.Attributes[0])
	if err != nil || !ok || r.hi != -1 {
		return nil, fmt.Errorf("unexpected attribute %q", req.Attributes[0])
	}
	e := &goldap.Entry{DN: req.BaseDN}
	if !f.omit {
		e.Attributes = append(e.Attributes, f.part(name, r.lo+f.skew))
	}
	return &goldap.SearchResult{Entries: []*goldap.Entry{e}}, nil
}

// part returns the values from lo on, one step of them.
func (f *rangeServer) part(name string, lo int) *goldap.EntryAttribute {
	hi := lo + f.step - 1
	end := fmt.Sprint(hi)
	if hi >= len(f.values)-1 {
		hi, end = len(f.values)-1, "*"
	}
	return goldap.NewEntryAttribute(fmt.Sprintf("%s;range=%d-%s", name, lo, end), f.values[lo:hi+1])
}

func TestCompleteRanges(t *testing.T) {
	var values []string
	for i := range 3500 {
		values = append(values, fmt.Sprintf("cn=m%d,dc=x", i))
	}
	f := &rangeServer{values: values, step: 1500}
	e := &goldap.Entry{DN: "cn=big,dc=x", Attributes: []*goldap.EntryAttribute{
		goldap.NewEntryAttribute("cn", []string{"big"}),
		f.part("member", 0),
	}}
	if err := completeRanges(f, e); err != nil {
		t.Fatalf("completeRanges error: %v", err)
	}
	got := entryAttrs(e)
	if !slices.Equal(got["member"], values) {
		t.Errorf("member has %d values, want the %d values in order", len(got["member"]), len(values))
	}
	if len(got) != 2 || len(got["cn"]) != 1 {
		t.Errorf("attributes = %q, want cn and member only", keys(got))
	}
	if want := []string{"member;range=1500-*", "member;range=3000-*"}; !slices.Equal(f.requests, want) {
		t.Errorf("requests = %q, want %q", f.requests, want)
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestCompleteRangesWhole(t *testing.T) {
	// An attribute returned whole, or as its only and last part, needs no
	// request.
	f := &rangeServer{err: errors.New("no request expected")}
	e := &goldap.Entry{DN: "cn=g,dc=x", Attributes: []*goldap.EntryAttribute{
		goldap.NewEntryAttribute("member", []string{"a"}),
		goldap.NewEntryAttribute("memberOf;range=0-*", []string{"b", "c"}),
	}}
	if err := completeRanges(f, e); err != nil {
		t.Fatalf("completeRanges error: %v", err)
	}
	got := entryAttrs(e)
	if !slices.Equal(got["member"], []string{"a"}) || !slices.Equal(got["memberof"], []string{"b", "c"}) {
		t.Errorf("attributes = %q, want member [a], memberof [b c]", got)
	}
}

func TestCompleteRangesErrors(t *testing.T) {
	values := []string{"a", "b", "c", "d", "e"}
	tests := []struct {
		name  string
		f     *rangeServer
		first string
		want  string
	}{
		{"server error", &rangeServer{values: values, step: 2, err: &goldap.Error{ResultCode: goldap.LDAPResultBusy, Err: errors.New("")}}, "member;range=0-1", "Busy"},
		{"wrong start", &rangeServer{values: values, step: 2, skew: 1}, "member;range=0-1", "asked for values from 2, got 3"},
		{"attribute missing", &rangeServer{values: values, step: 2, omit: true}, "member;range=0-1", "no values from 2 on"},
		{"first part not at 0", &rangeServer{values: values, step: 2}, "member;range=2-3", "does not start at 0"},
		{"malformed", &rangeServer{values: values, step: 2}, "member;range=x-1", "malformed range option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &goldap.Entry{DN: "cn=g,dc=x", Attributes: []*goldap.EntryAttribute{
				goldap.NewEntryAttribute(tt.first, values[:2]),
			}}
			err := completeRanges(tt.f, e)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errRange) {
				t.Errorf("completeRanges error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
