package slapdtest

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Directory describes a synthetic company directory, the same for the same
// fields on every run: People people in ou=people below Base, spread over
// departments; every department is a groupOfNames in ou=groups, and every
// department group is a member of cn=employees, so that people belong to
// cn=employees through nesting only.
type Directory struct {
	// Base is the suffix, of the form dc=...,dc=.... If empty,
	// "dc=example,dc=com" is used.
	Base string
	// People is the number of people; at least 1.
	People int
	// Departments is the number of departments. If 0, 8 are used; never
	// more than People.
	Departments int
}

func (d *Directory) base() string {
	if d.Base == "" {
		return "dc=example,dc=com"
	}
	return d.Base
}

func (d *Directory) departments() int {
	n := d.Departments
	if n <= 0 {
		n = 8
	}
	return max(1, min(n, d.People))
}

// UID returns the uid of person i (0 ≤ i < People).
func (d *Directory) UID(i int) string { return fmt.Sprintf("p%06d", i) }

// DN returns the DN of person i.
func (d *Directory) DN(i int) string { return "uid=" + d.UID(i) + ",ou=people," + d.base() }

// EntryUUID returns the entryUUID person i is loaded with: a name-based
// (version 5 style) UUID derived from the base and the uid.
func (d *Directory) EntryUUID(i int) string {
	sum := sha1.Sum([]byte("slapdtest:" + d.base() + ":" + d.UID(i)))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Department returns the department of person i.
func (d *Directory) Department(i int) int { return i % d.departments() }

// DepartmentDN returns the DN of the group of department k.
func (d *Directory) DepartmentDN(k int) string {
	return fmt.Sprintf("cn=dept-%02d,ou=groups,%s", k, d.base())
}

// EmployeesDN returns the DN of the group whose members are the department
// groups.
func (d *Directory) EmployeesDN() string { return "cn=employees,ou=groups," + d.base() }

// Groups returns the DNs, in lower case and sorted, of the groups person i
// belongs to, directly or through nesting.
func (d *Directory) Groups(i int) []string {
	g := []string{strings.ToLower(d.DepartmentDN(d.Department(i))), strings.ToLower(d.EmployeesDN())}
	slices.Sort(g)
	return g
}

var (
	givenNames = []string{"Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Ilse", "Jonas", "Karl", "Lena", "Mia", "Noah", "Olga", "Paul", "Quentin", "Rosa", "Sven", "Tara", "Uwe", "Vera", "Willi", "Xenia", "Yusuf", "Zoe"}
	surnames   = []string{"Schmidt", "Müller", "Meyer", "Schulz", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Braun", "Zimmermann", "Hartmann", "Krüger", "Lange", "Werner", "Krause", "Lehmann", "Köhler"}
	titles     = []string{"Engineer", "Senior Engineer", "Manager", "Accountant", "Designer", "Analyst", "Support Specialist", "Recruiter"}
)

// WritePeople writes an LDIF file of the suffix entry, ou=people, ou=groups
// and the people, as slapadd reads it. With memberOf, every person carries
// the memberOf value of their department group, as slapd's memberof
// overlay would have set it; slapadd does not run overlays.
func (d *Directory) WritePeople(w io.Writer, memberOf bool) error {
	bw := bufio.NewWriter(w)
	base := d.base()
	var dcs []string
	for _, rdn := range strings.Split(base, ",") {
		if v, ok := strings.CutPrefix(rdn, "dc="); ok {
			dcs = append(dcs, v)
		}
	}
	if len(dcs) == 0 {
		return fmt.Errorf("slapdtest: base %q has no dc= component", base)
	}
	domain := strings.Join(dcs, ".")
	fmt.Fprintf(bw, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n\n", base, dcs[0], dcs[0])
	fmt.Fprintf(bw, "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n", base)
	fmt.Fprintf(bw, "dn: ou=groups,%s\nobjectClass: organizationalUnit\nou: groups\n\n", base)
	for i := range d.People {
		given := givenNames[i%len(givenNames)]
		sur := surnames[(i/len(givenNames))%len(surnames)]
		uid := d.UID(i)
		fmt.Fprintf(bw, "dn: %s\n", d.DN(i))
		bw.WriteString("objectClass: inetOrgPerson\nobjectClass: organizationalPerson\nobjectClass: person\nobjectClass: top\n")
		fmt.Fprintf(bw, "uid: %s\ncn: %s %s\nsn: %s\ngivenName: %s\ndisplayName: %s %s\n", uid, given, sur, sur, given, given, sur)
		fmt.Fprintf(bw, "mail: %s@%s\n", uid, domain)
		fmt.Fprintf(bw, "telephoneNumber: +49 30 %08d\n", 10000000+i)
		if i%2 == 0 {
			fmt.Fprintf(bw, "mobile: +49 170 %07d\n", 1000000+i)
		}
		fmt.Fprintf(bw, "title: %s\nou: Department %02d\nemployeeNumber: %d\n", titles[i%len(titles)], d.Department(i), i)
		fmt.Fprintf(bw, "entryUUID: %s\n", d.EntryUUID(i))
		if memberOf {
			fmt.Fprintf(bw, "memberOf: %s\n", d.DepartmentDN(d.Department(i)))
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}

// WriteGroups writes an LDIF file of the groups: one groupOfNames per
// department listing its people, and cn=employees listing the department
// groups. Loaded with ldapadd into a running slapd, the memberof overlay
// sets memberOf on the people and on the department groups; with memberOf,
// the department groups carry it already, for slapadd.
func (d *Directory) WriteGroups(w io.Writer, memberOf bool) error {
	bw := bufio.NewWriter(w)
	n := d.departments()
	for k := range n {
		fmt.Fprintf(bw, "dn: %s\nobjectClass: groupOfNames\ncn: dept-%02d\n", d.DepartmentDN(k), k)
		if memberOf {
			fmt.Fprintf(bw, "memberOf: %s\n", d.EmployeesDN())
		}
		for i := k; i < d.People; i += n {
			fmt.Fprintf(bw, "member: %s\n", d.DN(i))
		}
		bw.WriteString("\n")
	}
	fmt.Fprintf(bw, "dn: %s\nobjectClass: groupOfNames\ncn: employees\n", d.EmployeesDN())
	for k := range n {
		fmt.Fprintf(bw, "member: %s\n", d.DepartmentDN(k))
	}
	bw.WriteString("\n")
	return bw.Flush()
}
