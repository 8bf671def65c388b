package mapping

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
)

// approvalRules are the demo rules with the partners book limited to
// partners whose approval has not run out.
func approvalRules() *Rules {
	r := demoRules()
	r.Books[1].Include = &Condition{All: []Condition{
		{Kind: []string{"partner"}},
		{MemberOf: []string{partners}},
		{Future: []string{"dirbookApprovalExpiry"}},
	}}
	return r
}

func TestExplain(t *testing.T) {
	m, problems := CompileWithOptions(approvalRules(), &CompileOptions{Now: fixedClock})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	const (
		inColleagues  = "include: member_of " + employees + " matched"
		notInPartners = "include: kind partner did not match"
		readAsStaff   = "readers: member_of " + employees + " matched"
	)
	tests := []struct {
		name   string
		change func(e *dirbook.Entry)
		want   []Decision
	}{
		{"employee", func(e *dirbook.Entry) {}, []Decision{
			{Book: "colleagues", In: true, Why: inColleagues, Readable: true, ReadWhy: readAsStaff},
			{Book: "partners", Why: notInPartners, Readable: true, ReadWhy: readAsStaff},
		}},
		{"approved partner", func(e *dirbook.Entry) {
			e.Kind, e.Groups = "partner", []string{partners}
			e.Attrs["dirbookapprovalexpiry"] = []string{"20261231235959Z"}
		}, []Decision{
			{Book: "colleagues", In: true, Why: "include: member_of " + partners + " matched",
				ReadWhy: "readers: member_of " + employees + " did not match"},
			{Book: "partners", In: true, Why: "include: kind partner and member_of " + partners + " and future dirbookApprovalExpiry matched",
				Readable: true, ReadWhy: "readers: member_of " + partners + " matched"},
		}},
		{"approval expired", func(e *dirbook.Entry) {
			e.Kind, e.Groups = "partner", []string{partners}
			e.Attrs["dirbookapprovalexpiry"] = []string{"2026-06-14"}
		}, []Decision{
			{Book: "colleagues", In: true, Why: "include: member_of " + partners + " matched",
				ReadWhy: "readers: member_of " + employees + " did not match"},
			{Book: "partners", Why: "include: future dirbookApprovalExpiry (expired) did not match",
				Readable: true, ReadWhy: "readers: member_of " + partners + " matched"},
		}},
		{"approval unreadable", func(e *dirbook.Entry) {
			e.Kind, e.Groups = "partner", []string{partners}
			e.Attrs["dirbookapprovalexpiry"] = []string{"next year"}
		}, []Decision{
			{Book: "colleagues", In: true, Why: "include: member_of " + partners + " matched",
				ReadWhy: "readers: member_of " + employees + " did not match"},
			{Book: "partners", Why: "include: future dirbookApprovalExpiry (value 1 is not a date or time) did not match",
				Readable: true, ReadWhy: "readers: member_of " + partners + " matched"},
		}},
		{"no group", func(e *dirbook.Entry) { e.Groups = nil }, []Decision{
			{Book: "colleagues", Why: "include: member_of " + employees + " or " + partners + " did not match",
				ReadWhy: "readers: member_of " + employees + " did not match"},
			{Book: "partners", Why: notInPartners,
				ReadWhy: "readers: (member_of " + employees + " or member_of " + partners + ") did not match"},
		}},
		{"no name", func(e *dirbook.Entry) {
			for _, a := range []string{"cn", "displayname", "sn", "givenname"} {
				delete(e.Attrs, a)
			}
		}, []Decision{
			{Book: "colleagues", Why: "include: member_of " + employees + " matched, but the card has no name (FN) and is left out",
				Readable: true, ReadWhy: readAsStaff},
			{Book: "partners", Why: notInPartners, Readable: true, ReadWhy: readAsStaff},
		}},
		{"locked", func(e *dirbook.Entry) { e.Attrs["pwdaccountlockedtime"] = []string{"000001010000Z"} }, []Decision{
			{Book: "colleagues", Why: "excluded by mapping.exclude: has pwdAccountLockedTime",
				ReadWhy: "excluded by mapping.exclude: has pwdAccountLockedTime"},
			{Book: "partners", Why: "excluded by mapping.exclude: has pwdAccountLockedTime",
				ReadWhy: "excluded by mapping.exclude: has pwdAccountLockedTime"},
		}},
		{"invalid", func(e *dirbook.Entry) { e.Invalid = "no entryUUID" }, []Decision{
			{Book: "colleagues", Why: "not mapped: no entryUUID", ReadWhy: "not mapped: no entryUUID"},
			{Book: "partners", Why: "not mapped: no entryUUID", ReadWhy: "not mapped: no entryUUID"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := person()
			tt.change(e)
			got := m.Explain(e)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Explain() =\n%+v\nwant\n%+v", got, tt.want)
			}
			// Explain agrees with Map and Readable.
			res := m.Map(e)
			readable := m.Readable(e)
			for _, d := range got {
				if _, in := res.Cards[d.Book]; in != d.In {
					t.Errorf("Explain() says in %s %v, Map() says %v", d.Book, d.In, in)
				}
				if r := slices.Contains(readable, d.Book); r != d.Readable {
					t.Errorf("Explain() says may read %s %v, Readable() says %v", d.Book, d.Readable, r)
				}
			}
		})
	}
}

// TestFutureWarning checks that Map reports an unreadable date once per
// condition, without the value, and that the clock is the injected one.
func TestFutureWarning(t *testing.T) {
	now := clock
	m, problems := CompileWithOptions(approvalRules(), &CompileOptions{Now: func() time.Time { return now }})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	e := person()
	e.Kind, e.Groups = "partner", []string{partners}
	e.Attrs["telephonenumber"] = []string{"030 1234567"}
	e.Attrs["dirbookapprovalexpiry"] = []string{"20260701000000Z"}
	if res := m.Map(e); res.Cards["partners"] == nil {
		t.Errorf("Map() before expiry: not in partners")
	}
	now = time.Date(2026, 7, 1, 0, 0, 1, 0, time.UTC)
	if res := m.Map(e); res.Cards["partners"] != nil {
		t.Errorf("Map() after expiry: in partners")
	}
	e.Attrs["dirbookapprovalexpiry"] = []string{"31.12.2026"}
	res := m.Map(e)
	want := []Warning{{Field: "books[1].include.all[2].future", Message: "value 1 of dirbookApprovalExpiry is not a date or time; condition false"}}
	if res.Cards["partners"] != nil || !reflect.DeepEqual(res.Warnings, want) {
		t.Errorf("Map(unreadable date) = in partners %v, warnings %q, want false, %q", res.Cards["partners"] != nil, res.Warnings, want)
	}
}

func TestAttributes(t *testing.T) {
	r := approvalRules()
	r.Exclude = &Condition{Any: []Condition{
		{Has: []string{"pwdAccountLockedTime"}},
		{Equals: map[string]string{"dirbookHidden": "TRUE", "PWDACCOUNTLOCKEDTIME": "x"}},
	}}
	r.Fields = append(r.Fields,
		FieldRule{Name: "chat", Property: "IMPP", Template: "xmpp:{uid}@{associatedDomain}"},
		FieldRule{Name: "unused", Property: "NOTE", From: []string{"description"}},
		FieldRule{Name: "teams", Property: "CATEGORIES", FromGroups: map[string]string{employees: "Staff"}},
	)
	r.Books[0].Fields = append(r.Books[0].Fields, "chat", "teams")
	m := mustCompile(t, r)
	want := []string{
		"associatedDomain", "cn", "dirbookApprovalExpiry", "dirbookHidden", "displayName", "givenName", "jpegPhoto",
		"mail", "mobile", "o", "ou", "pwdAccountLockedTime", "sn", "telephoneNumber", "title", "uid",
	}
	if got := m.Attributes(); !slices.Equal(got, want) {
		t.Errorf("Attributes() = %q, want %q", got, want)
	}
	m.Attributes()[0] = "changed"
	if got := m.Attributes(); got[0] != want[0] {
		t.Errorf("Attributes() shares its slice with the caller")
	}
}
