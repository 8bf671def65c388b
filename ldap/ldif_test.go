package ldap

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
)

// writeLDIF writes content to a file in a temporary directory and returns
// its path.
func writeLDIF(tb testing.TB, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "test.ldif")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// readAll reads every entry of the LDIF file at path.
func readAll(tb testing.TB, path string, opts *LDIFOptions) []*dirbook.Entry {
	tb.Helper()
	s, err := NewLDIF(path, opts)
	if err != nil {
		tb.Fatalf("NewLDIF(%q) error: %v", path, err)
	}
	var out []*dirbook.Entry
	err = s.Read(context.Background(), func(e *dirbook.Entry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		tb.Fatalf("Read error: %v", err)
	}
	return out
}

// byUID returns the entry with the given uid, or nil.
func byUID(entries []*dirbook.Entry, uid string) *dirbook.Entry {
	for _, e := range entries {
		if e.First("uid") == uid {
			return e
		}
	}
	return nil
}

func uids(entries []*dirbook.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.First("uid"))
	}
	return out
}

const scopeLDIF = `version: 1

dn: dc=example
objectClass: domain
dc: example

dn: uid=a,ou=people,dc=example
objectClass: inetOrgPerson
uid: a
entryUUID: 00000000-0000-0000-0000-00000000000a

dn: uid=b,ou=People, DC=Example
objectClass: inetOrgPerson
uid: b
entryUUID: 00000000-0000-0000-0000-00000000000b

dn: uid=c,ou=staff,dc=example
objectClass: inetOrgPerson
uid: c
entryUUID: 00000000-0000-0000-0000-00000000000c

dn: uid=d,ou=xpeople,dc=example
objectClass: inetOrgPerson
uid: d
entryUUID: 00000000-0000-0000-0000-00000000000d

dn: uid=e,ou=other\,ou=people,dc=example
objectClass: inetOrgPerson
uid: e
entryUUID: 00000000-0000-0000-0000-00000000000e

dn: uid=f,dc=elsewhere
objectClass: inetOrgPerson
uid: f
entryUUID: 00000000-0000-0000-0000-00000000000f

dn: ou=people,dc=example
objectClass: organizationalUnit
ou: people
`

func TestLDIFBase(t *testing.T) {
	path := writeLDIF(t, scopeLDIF)
	tests := []struct {
		name   string
		base   string
		filter string
		want   []string
	}{
		{"everything", "", "(uid=*)", []string{"a", "b", "c", "d", "e", "f"}},
		{"domain", "dc=example", "(uid=*)", []string{"a", "b", "c", "d", "e"}},
		{"ou", "ou=people,dc=example", "(uid=*)", []string{"a", "b"}},
		{"ou spelled differently", "OU=People , dc=EXAMPLE", "(uid=*)", []string{"a", "b"}},
		{"base entry itself", "ou=people,dc=example", "", []string{"a", "b", ""}},
		{"exact person", "uid=c,ou=staff,dc=example", "", []string{"c"}},
		{"nothing", "dc=nowhere", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := uids(readAll(t, path, &LDIFOptions{Base: tt.base, Filter: tt.filter}))
			if !slices.Equal(got, tt.want) {
				t.Errorf("uids with base %q = %q, want %q", tt.base, got, tt.want)
			}
		})
	}
}

func TestUnderBase(t *testing.T) {
	tests := []struct {
		dn, base string
		want     bool
	}{
		{"uid=a,dc=x", "dc=x", true},
		{"dc=x", "dc=x", true},
		{"uid=a,dc=x", "", true},
		{"uid=a,dc=xx", "dc=x", false},
		{"uid=a,adc=x", "dc=x", false},
		{`uid=a\,dc=x`, "dc=x", false},
		{`uid=a\\,dc=x`, "dc=x", true},
		{`uid=a\\\,dc=x`, "dc=x", false},
		{"dc=x", "uid=a,dc=x", false},
	}
	for _, tt := range tests {
		if got := underBase(tt.dn, tt.base); got != tt.want {
			t.Errorf("underBase(%q, %q) = %v, want %v", tt.dn, tt.base, got, tt.want)
		}
	}
}

const groupsLDIF = `dn: uid=anna,ou=people,dc=example
objectClass: inetOrgPerson
uid: anna
entryUUID: u-anna

dn: uid=bert,ou=people,dc=example
objectClass: inetOrgPerson
uid: bert
entryUUID: u-bert

dn: uid=carl,ou=people,dc=example
objectClass: inetOrgPerson
objectClass: posixAccount
uid: Carl
entryUUID: u-carl

dn: uid=dora,ou=people,dc=example
objectClass: inetOrgPerson
uid: dora
entryUUID: u-dora
memberOf: CN=Direct,OU=Groups,DC=example
memberOf: cn=engineering, ou=groups, dc=example

dn: cn=engineering,ou=groups,dc=example
objectClass: groupOfNames
cn: engineering
member: UID=Anna, ou=people,dc=example

dn: cn=employees,ou=groups,dc=example
objectClass: groupOfNames
cn: employees
member: cn=engineering,ou=groups,dc=example
member: cn=sales,ou=groups,dc=example

dn: cn=everyone,ou=groups,dc=example
objectClass: groupOfNames
cn: everyone
member: cn=employees,ou=groups,dc=example

dn: cn=cycle-a,ou=groups,dc=example
objectClass: groupOfNames
cn: cycle-a
member: cn=cycle-b,ou=groups,dc=example
member: uid=bert,ou=people,dc=example

dn: cn=cycle-b,ou=groups,dc=example
objectClass: groupOfNames
cn: cycle-b
member: cn=cycle-a,ou=groups,dc=example

dn: cn=unique,ou=groups,dc=example
objectClass: groupOfUniqueNames
cn: unique
uniqueMember: uid=bert,ou=people,dc=example#'0101'B

dn: cn=posix,ou=groups,dc=example
objectClass: posixGroup
cn: posix
gidNumber: 100
memberUid: carl

dn: cn=in-posix,ou=groups,dc=example
objectClass: groupOfNames
cn: in-posix
member: cn=posix,ou=groups,dc=example

dn: cn=notagroup,ou=groups,dc=example
objectClass: organizationalRole
cn: notagroup
roleOccupant: uid=anna,ou=people,dc=example
member: uid=anna,ou=people,dc=example
`

func TestLDIFGroups(t *testing.T) {
	path := writeLDIF(t, groupsLDIF)
	// Base and filter select people only: the groups are read all the same.
	entries := readAll(t, path, &LDIFOptions{Base: "ou=people,dc=example", Filter: "(objectClass=inetOrgPerson)"})
	tests := []struct {
		uid  string
		want []string
	}{
		{"anna", []string{
			"cn=employees,ou=groups,dc=example",
			"cn=engineering,ou=groups,dc=example",
			"cn=everyone,ou=groups,dc=example",
		}},
		{"bert", []string{
			"cn=cycle-a,ou=groups,dc=example",
			"cn=cycle-b,ou=groups,dc=example",
			"cn=unique,ou=groups,dc=example",
		}},
		{"Carl", []string{
			"cn=in-posix,ou=groups,dc=example",
			"cn=posix,ou=groups,dc=example",
		}},
		// memberOf counts as the member lists do; nesting applies.
		{"dora", []string{
			"cn=direct,ou=groups,dc=example",
			"cn=employees,ou=groups,dc=example",
			"cn=engineering,ou=groups,dc=example",
			"cn=everyone,ou=groups,dc=example",
		}},
	}
	if got, want := len(entries), len(tests); got != want {
		t.Fatalf("read %d entries (%q), want %d", got, uids(entries), want)
	}
	for _, tt := range tests {
		t.Run(tt.uid, func(t *testing.T) {
			e := byUID(entries, tt.uid)
			if e == nil {
				t.Fatalf("no entry with uid %q", tt.uid)
			}
			if !slices.Equal(e.Groups, tt.want) {
				t.Errorf("Groups of %q = %q, want %q", tt.uid, e.Groups, tt.want)
			}
		})
	}
}

func TestLDIFGroupCycleOfGroups(t *testing.T) {
	// A group read as a person (filter (objectClass=*)) in a cycle is not
	// its own member.
	path := writeLDIF(t, groupsLDIF)
	entries := readAll(t, path, &LDIFOptions{Filter: "(cn=cycle-a)"})
	if len(entries) != 1 {
		t.Fatalf("read %d entries, want 1", len(entries))
	}
	want := []string{"cn=cycle-b,ou=groups,dc=example"}
	if got := entries[0].Groups; !slices.Equal(got, want) {
		t.Errorf("Groups of cycle-a = %q, want %q", got, want)
	}
}

func TestLDIFEntry(t *testing.T) {
	photo := "\xff\xd8\xff\xe0\x00\x10JFIF\x00binary\x00"
	content := "version: 1\n\n" +
		"# Meier, Hans\n" +
		"dn: cn=Meier\\, Hans+uid=hmeier,ou=people,dc=example\n" +
		"objectClass: inetOrgPerson\n" +
		"CN: Meier, Hans\n" +
		"uid: hmeier\n" +
		"Mail: hans@example.org\n" +
		"mail: hans.meier@example.org\n" +
		"description: a long line folded\n" +
		"  in two\n" +
		"jpegPhoto;binary:: " + base64.StdEncoding.EncodeToString([]byte(photo)) + "\n" +
		"entryUUID: 6f1c3c2a-1111-4222-8333-944455556666\n" +
		"\n" +
		"dn: uid=noid,ou=people,dc=example\n" +
		"objectClass: inetOrgPerson\n" +
		"uid: noid\n" +
		"\n" +
		"dn: uid=emptyid,ou=people,dc=example\n" +
		"objectClass: inetOrgPerson\n" +
		"uid: emptyid\n" +
		"entryUUID: \n" +
		"\n" +
		"dn: cn=g,ou=groups,dc=example\n" +
		"objectClass: groupOfNames\n" +
		"member: cn=meier\\, hans + uid=hmeier, ou=people, dc=example\n"
	path := writeLDIF(t, content)
	entries := readAll(t, path, &LDIFOptions{Name: "demo", Filter: "(objectClass=inetOrgPerson)"})
	if len(entries) != 3 {
		t.Fatalf("read %d entries (%q), want 3", len(entries), uids(entries))
	}

	e := entries[0]
	if got, want := e.DN, `cn=Meier\, Hans+uid=hmeier,ou=people,dc=example`; got != want {
		t.Errorf("DN = %q, want %q", got, want)
	}
	if got, want := e.ID, "6f1c3c2a-1111-4222-8333-944455556666"; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if e.Invalid != "" {
		t.Errorf("Invalid = %q, want empty", e.Invalid)
	}
	if got, want := e.Source, "demo"; got != want {
		t.Errorf("Source = %q, want %q", got, want)
	}
	if got, want := e.Attrs["cn"], []string{"Meier, Hans"}; !slices.Equal(got, want) {
		t.Errorf("Attrs[cn] = %q, want %q", got, want)
	}
	if got := e.Attrs["mail"]; len(got) != 2 {
		t.Errorf("Attrs[mail] = %q, want two values", got)
	}
	if got, want := e.First("description"), "a long line folded in two"; got != want {
		t.Errorf("Attrs[description] = %q, want %q", got, want)
	}
	if got := e.First("jpegPhoto"); got != photo {
		t.Errorf("Attrs[jpegphoto] = %q, want the raw bytes %q", got, photo)
	}
	for k := range e.Attrs {
		if k != strings.ToLower(k) {
			t.Errorf("Attrs has key %q, want lower case only", k)
		}
	}
	if got, want := e.Groups, []string{"cn=g,ou=groups,dc=example"}; !slices.Equal(got, want) {
		t.Errorf("Groups = %q, want %q", got, want)
	}

	for i, uid := range []string{"noid", "emptyid"} {
		e := entries[i+1]
		if e.First("uid") != uid {
			t.Fatalf("entry %d has uid %q, want %q", i+1, e.First("uid"), uid)
		}
		if e.ID != "" || e.Invalid != "no entryUUID" {
			t.Errorf("entry %q: ID, Invalid = %q, %q, want \"\", %q", uid, e.ID, e.Invalid, "no entryUUID")
		}
		if e.Source != "demo" {
			t.Errorf("entry %q: Source = %q, want %q", uid, e.Source, "demo")
		}
	}
}

func TestLDIFDefaults(t *testing.T) {
	path := writeLDIF(t, "\uFEFFdn: uid=x,dc=example\r\nuid: x\r\nentryUUID: id-x\r\n")
	entries := readAll(t, path, nil)
	if len(entries) != 1 {
		t.Fatalf("read %d entries, want 1", len(entries))
	}
	e := entries[0]
	if e.ID != "id-x" || e.Source != "ldif" || e.DN != "uid=x,dc=example" {
		t.Errorf("entry = ID %q, Source %q, DN %q, want %q, %q, %q", e.ID, e.Source, e.DN, "id-x", "ldif", "uid=x,dc=example")
	}
}

func TestLDIFIDAttribute(t *testing.T) {
	guid := []byte{0x2a, 0x3c, 0x1c, 0x6f, 0x11, 0x11, 0x22, 0x42, 0x83, 0x33, 0x94, 0x44, 0x55, 0x55, 0x66, 0x66}
	content := "dn: CN=Anna,OU=Staff,DC=corp\n" +
		"objectClass: user\n" +
		"sAMAccountName: anna\n" +
		"employeeNumber: 4711\n" +
		"objectGUID:: " + base64.StdEncoding.EncodeToString(guid) + "\n" +
		"\n" +
		"dn: CN=Bert,OU=Staff,DC=corp\n" +
		"objectClass: user\n" +
		"sAMAccountName: bert\n" +
		"objectGUID: 6f1c3c2a-1111-4222-8333-944455556666\n"
	path := writeLDIF(t, content)
	tests := []struct {
		attr string
		want []string
	}{
		{"objectGUID", []string{"6f1c3c2a-1111-4222-8333-944455556666", "6f1c3c2a-1111-4222-8333-944455556666"}},
		{"OBJECTGUID", []string{"6f1c3c2a-1111-4222-8333-944455556666", "6f1c3c2a-1111-4222-8333-944455556666"}},
		{"employeeNumber", []string{"4711", ""}},
		{"sAMAccountName", []string{"anna", "bert"}},
	}
	for _, tt := range tests {
		t.Run(tt.attr, func(t *testing.T) {
			var got []string
			for _, e := range readAll(t, path, &LDIFOptions{IDAttribute: tt.attr}) {
				got = append(got, e.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("IDs with IDAttribute %q = %q, want %q", tt.attr, got, tt.want)
			}
		})
	}
}

func TestFormatGUID(t *testing.T) {
	// The GUID {00112233-4455-6677-8899-AABBCCDDEEFF} as AD stores it.
	b := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	if got, want := formatGUID(b), "00112233-4455-6677-8899-aabbccddeeff"; got != want {
		t.Errorf("formatGUID(%x) = %q, want %q", b, got, want)
	}
}

func TestStripUID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"uid=a,dc=x", "uid=a,dc=x"},
		{"uid=a,dc=x#'0101'B", "uid=a,dc=x"},
		{"uid=a,dc=x#''B", "uid=a,dc=x"},
		{"uid=a,dc=x#'0121'B", "uid=a,dc=x#'0121'B"},
		{"cn=it's B", "cn=it's B"},
	}
	for _, tt := range tests {
		if got := stripUID(tt.in); got != tt.want {
			t.Errorf("stripUID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLDIFMalformed(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		wantLine int
	}{
		{"missing colon", "dn: uid=a,dc=x\nuid: a\n\ndn: uid=b,dc=x\nuid b +49 30 1234567\nmail: b@x\n\n", 7},
		{"no dn", "uid: a\nmail: a@x\n", 3},
		{"bad base64", "dn: uid=a,dc=x\njpegPhoto:: !!!notbase64\n", 3},
		{"bad version", "version: 2\n\ndn: uid=a,dc=x\nuid: a\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeLDIF(t, tt.content)
			s, err := NewLDIF(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Read(context.Background(), func(*dirbook.Entry) error { return nil })
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Read error = %v, want a *ParseError", err)
			}
			if pe.Path != path || pe.Line != tt.wantLine {
				t.Errorf("ParseError at %s:%d, want %s:%d", pe.Path, pe.Line, path, tt.wantLine)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %q", err, path)
			}
			if strings.Contains(err.Error(), "1234567") {
				t.Errorf("error %q quotes the file's content", err)
			}
		})
	}
}

func TestLDIFChangeRecords(t *testing.T) {
	add := "dn: uid=a,dc=x\nchangetype: add\nuid: a\nentryUUID: id-a\n\ndn: uid=b,dc=x\nuid: b\nentryUUID: id-b\n"
	if got, want := uids(readAll(t, writeLDIF(t, add), nil)), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("uids of add records = %q, want %q", got, want)
	}

	mod := "dn: uid=a,dc=x\nuid: a\n\ndn: uid=a,dc=x\nchangetype: modify\nreplace: mail\nmail: a@x\n-\n"
	s, err := NewLDIF(writeLDIF(t, mod), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(context.Background(), func(*dirbook.Entry) error { return nil })
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Errorf("Read of a modify record = %v, want a *ParseError", err)
	}
}

func TestLDIFErrors(t *testing.T) {
	path := writeLDIF(t, scopeLDIF)

	t.Run("emit error", func(t *testing.T) {
		s, err := NewLDIF(path, &LDIFOptions{Filter: "(uid=*)"})
		if err != nil {
			t.Fatal(err)
		}
		stop := errors.New("stop")
		calls := 0
		err = s.Read(context.Background(), func(*dirbook.Entry) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) {
			t.Errorf("Read error = %v, want it to wrap %v", err, stop)
		}
		if calls != 1 {
			t.Errorf("emit called %d times, want 1", calls)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		s, err := NewLDIF(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err = s.Read(ctx, func(*dirbook.Entry) error {
			calls++
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read error = %v, want %v", err, context.Canceled)
		}
		if calls != 1 {
			t.Errorf("emit called %d times, want 1", calls)
		}
	})

	t.Run("missing file", func(t *testing.T) {
		s, err := NewLDIF(filepath.Join(t.TempDir(), "nope.ldif"), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Read(context.Background(), func(*dirbook.Entry) error { return nil })
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Read error = %v, want %v", err, os.ErrNotExist)
		}
	})

	t.Run("bad options", func(t *testing.T) {
		for _, opts := range []*LDIFOptions{
			{Filter: "(cn:dn:=x)"},
			{Filter: "cn=x"},
			{Base: "not a dn"},
		} {
			if _, err := NewLDIF(path, opts); err == nil {
				t.Errorf("NewLDIF(%+v) = nil error, want one", *opts)
			}
		}
	})
}

func TestMayBeGroup(t *testing.T) {
	tests := []struct {
		name string
		rec  string
		want bool
	}{
		{"groupOfNames", "dn: cn=g,dc=x\nobjectClass: top\nobjectClass: groupOfNames\nmember: cn=a,dc=x\n", true},
		{"upper case", "dn: cn=g,dc=x\nOBJECTCLASS: POSIXGROUP\n", true},
		{"CRLF", "dn: cn=g,dc=x\r\nobjectclass: group\r\n", true},
		{"base64", "dn: cn=g,dc=x\nobjectClass:: Z3JvdXBPZk5hbWVz\n", true},
		{"options", "dn: cn=g,dc=x\nobjectClass;x-foo: top\n", true},
		{"folded", "dn: cn=g,dc=x\nobjectClass: gro\n upOfNames\n", true},
		{"person", "dn: uid=a,dc=x\nobjectClass: inetOrgPerson\ncn: Group Leader\ndescription: groups\n", false},
		{"photo", "dn: uid=a,dc=x\nobjectClass: person\njpegPhoto:: Z3JvdXA=\n", false},
		{"objectClasses", "dn: cn=schema\nobjectClasses: ( 1.2 NAME 'groupOfNames' )\n", false},
		{"version only", "version: 1\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mayBeGroup([]byte(tt.rec)); got != tt.want {
				t.Errorf("mayBeGroup(%q) = %v, want %v", tt.rec, got, tt.want)
			}
		})
	}
}

// TestLDIFGroupRecords checks that groups are found however their records
// are written, and that a malformed group is reported at its line.
func TestLDIFGroupRecords(t *testing.T) {
	long := strings.Repeat("QUJD", 40000) // a photo on one line, longer than the reader's buffer
	person := "dn: uid=anna,ou=people,dc=x\nobjectClass: inetOrgPerson\nuid: anna\nentryUUID: 1\njpegPhoto:: " + long + "\n"
	tests := []struct {
		name  string
		group string
	}{
		{"plain", "dn: cn=g,dc=x\nobjectClass: groupOfNames\nmember: uid=anna,ou=people,dc=x\n"},
		{"base64 class", "dn: cn=g,dc=x\nobjectClass:: Z3JvdXBPZk5hbWVz\nmember: uid=anna,ou=people,dc=x\n"},
		{"folded class", "dn: cn=g,dc=x\nobjectClass: groupOf\n Names\nmember: uid=anna,ou=peo\n ple,dc=x\n"},
		{"CRLF", "dn: cn=g,dc=x\r\nobjectClass: groupOfNames\r\nmember: uid=anna,ou=people,dc=x\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeLDIF(t, "version: 1\n\n# people first\n"+person+"\n\n\n"+tt.group)
			entries := readAll(t, path, &LDIFOptions{Filter: "(objectClass=inetOrgPerson)"})
			if len(entries) != 1 || !slices.Equal(entries[0].Groups, []string{"cn=g,dc=x"}) {
				t.Fatalf("read %d entries (%+v), want anna in cn=g,dc=x", len(entries), entries)
			}
		})
	}

	path := writeLDIF(t, person+"\ndn: cn=g,dc=x\nobjectClass: groupOfNames\nmember uid=anna\n")
	s, err := NewLDIF(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(context.Background(), func(*dirbook.Entry) error { return nil })
	// The whole file's parser reports the same line (as it counts them).
	want := s.each(context.Background(), strings.NewReader(person+"\ndn: cn=g,dc=x\nobjectClass: groupOfNames\nmember uid=anna\n"), func(string, map[string][]string) error { return nil })
	wantPE, _ := errors.AsType[*ParseError](want)
	if pe, ok := errors.AsType[*ParseError](err); !ok || wantPE == nil || pe.Line != wantPE.Line || pe.Line < 9 {
		t.Errorf("Read of a malformed group = %v, want a *ParseError at the line the parser of the whole file names (%v)", err, want)
	}
}
