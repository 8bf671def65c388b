// Command gen writes the demo directory testdata/demo/demo.ldif: the people
// of Nordlicht GmbH and its partners, their department groups, and a few
// photos. The output is deterministic (fixed seed, UUIDs derived from the
// uids); rerun it after changing this file:
//
//	go run ./testdata/demo/gen
//
// With -passwords it also writes testdata/demo/app-passwords.yaml, the demo
// app passwords as bcrypt hashes. bcrypt salts are random, so that file
// changes on every run: write it only when the passwords change.
package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

const (
	base    = "dc=nordlicht,dc=example"
	company = "Nordlicht GmbH"
	domain  = "nordlicht.example"
)

// department is one department: its group and the value of ou.
type department struct {
	group  string // cn of the group
	ou     string
	titles []string
}

var departments = []department{
	{"engineering", "Engineering", []string{"Software Engineer", "Senior Software Engineer", "Site Reliability Engineer", "Engineering Manager", "QA Engineer"}},
	{"sales", "Sales", []string{"Account Executive", "Key Account Manager", "Sales Manager", "Inside Sales Representative"}},
	{"finance", "Finance", []string{"Accountant", "Controller", "Head of Finance", "Payroll Specialist"}},
	{"hr", "Human Resources", []string{"HR Generalist", "Recruiter", "Head of People"}},
	{"support", "Support", []string{"Support Engineer", "Customer Success Manager", "Support Team Lead"}},
}

func dept(group string) department {
	for _, d := range departments {
		if d.group == group {
			return d
		}
	}
	panic("unknown department " + group)
}

// person is one inetOrgPerson of the demo.
type person struct {
	uid      string
	given    string
	sn       string
	cn       []string // default: given + " " + sn
	display  string   // default: cn[0]
	rdn      string   // RDN when not uid=<uid>
	partner  bool     // in ou=partners instead of ou=people
	approved bool     // member of cn=approved-partners
	group    string   // department group of an employee
	o        string   // default: company
	ou       string   // default: the department's ou
	title    string
	mails    []string
	phones   []string
	mobiles  []string
	photo    bool
	locked   bool
}

func (p *person) dn() string {
	rdn := p.rdn
	if rdn == "" {
		rdn = "uid=" + p.uid
	}
	if p.partner {
		return rdn + ",ou=partners," + base
	}
	return rdn + ",ou=people," + base
}

// The people the README and the tests name, with everything fixed.
var fixed = []*person{
	{uid: "anna.schmidt", given: "Anna", sn: "Schmidt", group: "engineering", title: "Senior Software Engineer",
		mails:  []string{"anna.schmidt@" + domain, "a.schmidt@" + domain},
		phones: []string{"+49 (0)30 1234-567"}, mobiles: []string{"0171 2345678"}, photo: true},
	{uid: "dieter.disabled", given: "Dieter", sn: "Disabled", group: "support", title: "Support Engineer",
		mails: []string{"dieter.disabled@" + domain}, phones: []string{"040/41234590"}, locked: true},
	{uid: "juergen.mueller", given: "Jürgen", sn: "Müller", group: "finance", title: "Head of Finance",
		mails:  []string{"juergen.mueller@" + domain, "j.mueller@" + domain},
		phones: []string{"0049 89 123456", "(089) 12 34 56-0"}, mobiles: []string{"0151 23456789"}},
	{uid: "oyvind.hansen", given: "Øyvind", sn: "Hansen", group: "engineering", title: "Site Reliability Engineer",
		mails: []string{"oyvind.hansen@" + domain}, phones: []string{"+49 40 41234501"}, mobiles: []string{"+47 412 34 567"}, photo: true},
	{uid: "zoe.lefevre", given: "Zoë", sn: "Lefèvre", group: "sales", title: "Key Account Manager",
		mails: []string{"zoe.lefevre@" + domain}, mobiles: []string{"0176 12345678", "+33 6 12 34 56 78"}, photo: true},
	{uid: "wang.fang", given: "Fang", sn: "Wang", cn: []string{"Wang Fang", "王芳"}, display: "王芳", group: "engineering",
		title: "QA Engineer", mails: []string{"wang.fang@" + domain}, phones: []string{"030/1234568"}, photo: true},
	{uid: "emre.celik", given: "Emre", sn: "Çelik", group: "support", title: "Customer Success Manager",
		mails: []string{"emre.celik@" + domain}, phones: []string{"+49 (0)40 4123-4502", "intern 4711"}},
	{uid: "lukasz.kowalski", given: "Łukasz", sn: "Kowalski", group: "engineering", title: "Software Engineer",
		mails: []string{"lukasz.kowalski@" + domain}, mobiles: []string{"0160 1234567"}},
	{uid: "hmeier", given: "Hans", sn: "Meier", cn: []string{"Meier, Hans"}, display: "Hans Meier",
		rdn: `cn=Meier\, Hans+uid=hmeier`, group: "hr", title: "Head of People",
		mails: []string{"hans.meier@" + domain}, phones: []string{"040 41234503"}},
	{uid: "sven.vogt", given: "Sven", sn: "Vogt", group: "sales", title: "Inside Sales Representative",
		mails: []string{"sven.vogt@" + domain}, phones: []string{"0800-CALL-NOW"}},
	{uid: "paul.partner", given: "Paul", sn: "Partner", partner: true, approved: true,
		o: "Brückner Consulting GmbH", ou: "Consulting", title: "Senior Consultant",
		mails: []string{"paul.partner@brueckner-consulting.example"}, phones: []string{"0221/4711000"},
		mobiles: []string{"0172 9876543"}, photo: true},
	{uid: "ulrike.unapproved", given: "Ulrike", sn: "Unapproved", partner: true,
		o: "Hanse Logistik AG", ou: "Logistics", title: "Dispatcher",
		mails: []string{"ulrike@hanse-logistik.example"}, phones: []string{"+49 (0)40 3456-789"}},
}

var (
	givenNames = []string{"Lena", "Jonas", "Mia", "Felix", "Sophie", "Lukas", "Emma", "Leon", "Hannah", "Paul",
		"Marie", "Finn", "Laura", "Tim", "Julia", "Max", "Sarah", "Jan", "Katharina", "Tobias",
		"Lisa", "Niklas", "Clara", "Moritz", "Johanna", "David", "Lea", "Simon", "Nina", "Philipp",
		"Greta", "Florian", "Ida", "Matthias", "Frieda", "Stefan", "Ella", "Christian", "Maja", "Andreas"}
	surnames = []string{"Müller", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch",
		"Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann",
		"Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Köhler", "Herrmann", "König",
		"Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß"}
	partnerFirms = []struct{ o, ou, mail string }{
		{"Brückner Consulting GmbH", "Consulting", "brueckner-consulting.example"},
		{"Elbe Data Services GmbH", "Data Engineering", "elbe-data.example"},
		{"Fjord Systems AS", "Integration", "fjord-systems.example"},
		{"Alster Design Studio", "Design", "alster-design.example"},
		{"Hanse Logistik AG", "Logistics", "hanse-logistik.example"},
	}
	partnerTitles = []string{"Consultant", "Senior Consultant", "Project Manager", "Designer", "Solution Architect"}
	cities        = []string{"40", "30", "89", "40", "69", "40"} // area codes without 0; Hamburg is HQ
	mobilePrefix  = []struct {
		prefix string
		digits int
	}{{"151", 8}, {"160", 7}, {"170", 7}, {"171", 7}, {"172", 7}, {"176", 8}}
)

const (
	employees = 50
	partners  = 10
	approved  = 6 // approved partners, paul.partner among them
)

func main() {
	dir := flag.String("dir", "testdata/demo", "folder to write demo.ldif (and app-passwords.yaml) into")
	passwords := flag.Bool("passwords", false, "also write app-passwords.yaml with new bcrypt hashes")
	flag.Parse()
	if err := run(*dir, *passwords); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string, passwords bool) error {
	var buf bytes.Buffer
	if err := writeLDIF(&buf, people()); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "demo.ldif"), buf.Bytes(), 0o644); err != nil {
		return err
	}
	if passwords {
		b, err := appPasswords()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "app-passwords.yaml"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// people returns every person of the demo: the fixed ones and generated
// ones up to the planned numbers of employees and partners.
func people() []*person {
	r := rand.New(rand.NewPCG(2024, 11))
	var out []*person
	taken := map[string]bool{}
	nEmp, nPart, nApproved := 0, 0, 0
	for _, p := range fixed {
		out = append(out, p)
		taken[p.uid] = true
		if p.partner {
			nPart++
			if p.approved {
				nApproved++
			}
		} else {
			nEmp++
		}
	}
	// The weights of the departments among generated employees.
	plan := []string{"engineering", "engineering", "engineering", "sales", "sales", "support", "support", "finance", "hr"}
	for nEmp < employees || nPart < partners {
		given := givenNames[r.IntN(len(givenNames))]
		sn := surnames[r.IntN(len(surnames))]
		uid := asciiFold(given) + "." + asciiFold(sn)
		if taken[uid] {
			continue
		}
		taken[uid] = true
		p := &person{uid: uid, given: given, sn: sn}
		if nEmp < employees {
			nEmp++
			p.group = plan[nEmp%len(plan)]
			d := dept(p.group)
			p.title = d.titles[r.IntN(len(d.titles))]
			switch n := r.IntN(100); {
			case n < 6: // no mail
			case n < 22:
				p.mails = []string{uid + "@" + domain, string(asciiFold(given)[0]) + "." + asciiFold(sn) + "@" + domain}
			default:
				p.mails = []string{uid + "@" + domain}
			}
		} else {
			nPart++
			p.partner = true
			if nApproved < approved {
				nApproved++
				p.approved = true
			}
			f := partnerFirms[nPart%len(partnerFirms)]
			p.o, p.ou = f.o, f.ou
			p.title = partnerTitles[r.IntN(len(partnerTitles))]
			p.mails = []string{asciiFold(given) + "." + asciiFold(sn) + "@" + f.mail}
		}
		if r.IntN(100) < 85 {
			p.phones = append(p.phones, fixedLine(r))
			if r.IntN(100) < 15 {
				p.phones = append(p.phones, fixedLine(r))
			}
		}
		if r.IntN(100) < 60 {
			p.mobiles = append(p.mobiles, mobile(r))
			if r.IntN(100) < 10 {
				p.mobiles = append(p.mobiles, mobile(r))
			}
		}
		out = append(out, p)
	}
	return out
}

// asciiFold spells a name in lower-case ASCII the German way: ü → ue.
func asciiFold(s string) string {
	repl := strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "Ä", "ae", "Ö", "oe", "Ü", "ue")
	return strings.ToLower(repl.Replace(s))
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	b[0] = byte('2' + r.IntN(8)) // subscriber numbers do not start with 0 or 1
	return string(b)
}

// fixedLine returns a German landline number in one of the many ways
// people write them.
func fixedLine(r *rand.Rand) string {
	area := cities[r.IntN(len(cities))]
	n := 8
	if area != "30" && area != "40" {
		n = 6 + r.IntN(2)
	}
	sub := digits(r, n)
	switch r.IntN(6) {
	case 0:
		return "+49 (0)" + area + " " + sub[:len(sub)-3] + "-" + sub[len(sub)-3:]
	case 1:
		return "0" + area + "/" + sub
	case 2:
		return "0049 " + area + " " + sub
	case 3:
		pairs := sub[:len(sub)-2]
		var parts []string
		for i := 0; i < len(pairs); i += 2 {
			parts = append(parts, pairs[i:min(i+2, len(pairs))])
		}
		return "(0" + area + ") " + strings.Join(parts, " ") + "-" + sub[len(sub)-2:]
	case 4:
		return "+49 " + area + " " + sub
	default:
		return "0" + area + " " + sub
	}
}

// mobile returns a German mobile number, formatted as people do.
func mobile(r *rand.Rand) string {
	m := mobilePrefix[r.IntN(len(mobilePrefix))]
	sub := digits(r, m.digits)
	switch r.IntN(5) {
	case 0:
		return "+49 " + m.prefix + " " + sub
	case 1:
		return "0" + m.prefix + "/" + sub
	case 2:
		return "0049 " + m.prefix + " " + sub
	case 3:
		return "+49 (0)" + m.prefix + " " + sub[:3] + " " + sub[3:]
	default:
		return "0" + m.prefix + " " + sub
	}
}

// uuid returns a name-based (version 5 layout) UUID for key, so that every
// run gives each entry the same entryUUID.
func uuid(key string) string {
	sum := sha1.Sum([]byte("dirbook demo " + key))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ldifWriter writes LDIF records (RFC 2849), folding long lines and
// base64-encoding values that are not safe strings.
type ldifWriter struct {
	w   io.Writer
	err error
}

func (l *ldifWriter) line(s string) {
	if l.err != nil {
		return
	}
	const width = 76
	var b strings.Builder
	for len(s) > width {
		// Fold on a character boundary so every line stays valid UTF-8.
		cut := width
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\n ")
		s = s[cut:]
	}
	b.WriteString(s)
	b.WriteString("\n")
	_, l.err = io.WriteString(l.w, b.String())
}

func (l *ldifWriter) attr(name, value string) {
	if safe(value) {
		l.line(name + ": " + value)
	} else {
		l.line(name + ":: " + base64.StdEncoding.EncodeToString([]byte(value)))
	}
}

func (l *ldifWriter) comment(s string) { l.line("# " + s) }
func (l *ldifWriter) end()             { l.line("") }

// safe reports whether v may be written as it is: a SAFE-STRING of RFC
// 2849 without trailing space.
func safe(v string) bool {
	if v == "" {
		return true
	}
	if v[0] == ' ' || v[0] == ':' || v[0] == '<' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == 0 || c == '\n' || c == '\r' || c >= 0x80 {
			return false
		}
	}
	return true
}

func writeLDIF(w io.Writer, people []*person) error {
	l := &ldifWriter{w: w}
	l.comment("Demo directory of Nordlicht GmbH for dirbook. Generated by")
	l.comment("testdata/demo/gen: do not edit, change the generator and rerun it.")
	l.comment("All people, numbers and addresses are made up.")
	l.line("version: 1")
	l.end()

	l.line("dn: " + base)
	for _, oc := range []string{"top", "dcObject", "organization"} {
		l.attr("objectClass", oc)
	}
	l.attr("dc", "nordlicht")
	l.attr("o", company)
	l.attr("entryUUID", uuid(base))
	l.end()
	for _, ou := range []struct{ name, desc string }{
		{"people", "Employees of Nordlicht GmbH"},
		{"partners", "External partners"},
		{"groups", "Departments and access groups"},
	} {
		dn := "ou=" + ou.name + "," + base
		l.line("dn: " + dn)
		l.attr("objectClass", "top")
		l.attr("objectClass", "organizationalUnit")
		l.attr("ou", ou.name)
		l.attr("description", ou.desc)
		l.attr("entryUUID", uuid(dn))
		l.end()
	}

	for _, p := range people {
		writePerson(l, p)
	}

	var groupDNs []string
	for _, d := range departments {
		var members []string
		for _, p := range people {
			if p.group == d.group {
				members = append(members, p.dn())
			}
		}
		dn := "cn=" + d.group + ",ou=groups," + base
		groupDNs = append(groupDNs, dn)
		writeGroup(l, dn, d.group, "Department "+d.ou, members)
	}
	writeGroup(l, "cn=employees,ou=groups,"+base, "employees",
		"All employees: the department groups are its members", groupDNs)
	var partnerDNs []string
	for _, p := range people {
		if p.approved {
			partnerDNs = append(partnerDNs, p.dn())
		}
	}
	writeGroup(l, "cn=approved-partners,ou=groups,"+base, "approved-partners",
		"External partners who may see and be seen in the company address book", partnerDNs)
	return l.err
}

func writePerson(l *ldifWriter, p *person) {
	cn := p.cn
	if len(cn) == 0 {
		cn = []string{p.given + " " + p.sn}
	}
	display := p.display
	if display == "" {
		display = cn[0]
	}
	o, ou := p.o, p.ou
	if o == "" {
		o = company
	}
	if ou == "" && p.group != "" {
		ou = dept(p.group).ou
	}

	l.comment(display)
	l.line("dn: " + p.dn())
	for _, oc := range []string{"top", "person", "organizationalPerson", "inetOrgPerson"} {
		l.attr("objectClass", oc)
	}
	l.attr("uid", p.uid)
	for _, v := range cn {
		l.attr("cn", v)
	}
	l.attr("sn", p.sn)
	l.attr("givenName", p.given)
	l.attr("displayName", display)
	l.attr("o", o)
	if ou != "" {
		l.attr("ou", ou)
	}
	if p.title != "" {
		l.attr("title", p.title)
	}
	for _, v := range p.mails {
		l.attr("mail", v)
	}
	for _, v := range p.phones {
		l.attr("telephoneNumber", v)
	}
	for _, v := range p.mobiles {
		l.attr("mobile", v)
	}
	if p.photo {
		l.attr("jpegPhoto", photo(p.uid))
	}
	if p.locked {
		l.attr("pwdAccountLockedTime", "000001010000Z")
	}
	l.attr("entryUUID", uuid(p.dn()))
	l.end()
}

func writeGroup(l *ldifWriter, dn, cn, desc string, members []string) {
	l.line("dn: " + dn)
	l.attr("objectClass", "top")
	l.attr("objectClass", "groupOfNames")
	l.attr("cn", cn)
	l.attr("description", desc)
	for _, m := range members {
		l.attr("member", m)
	}
	l.attr("entryUUID", uuid(dn))
	l.end()
}

// photo draws a 96×96 JPEG for key: a diagonal gradient in colours derived
// from key behind a light head-and-shoulders silhouette.
func photo(key string) string {
	sum := sha1.Sum([]byte(key))
	c1 := color.RGBA{sum[0] / 2, sum[1] / 2, 64 + sum[2]/2, 255}
	c2 := color.RGBA{64 + sum[3]/2, sum[4] / 2, sum[5] / 2, 255}
	const size = 96
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	mix := func(a, b uint8, t float64) uint8 { return uint8(float64(a)*(1-t) + float64(b)*t) }
	in := func(x, y, cx, cy, r int) bool { return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r }
	for y := range size {
		for x := range size {
			t := float64(x+y) / float64(2*(size-1))
			c := color.RGBA{mix(c1.R, c2.R, t), mix(c1.G, c2.G, t), mix(c1.B, c2.B, t), 255}
			if in(x, y, 48, 38, 17) || (y > 62 && in(x, y, 48, 104, 40)) {
				c = color.RGBA{235, 235, 240, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		panic(err) // encoding to memory does not fail
	}
	return buf.String()
}

// appPasswords returns app-passwords.yaml with fresh bcrypt hashes.
func appPasswords() ([]byte, error) {
	list := []struct{ user, person, password, note string }{
		{"anna", "anna.schmidt", "demo-anna", "employee"},
		{"paul", "paul.partner", "demo-paul", "approved partner"},
		{"ulrike", "ulrike.unapproved", "demo-ulrike", "partner, not approved"},
		{"dieter", "dieter.disabled", "demo-dieter", "employee with a locked account"},
	}
	var b bytes.Buffer
	b.WriteString("# Demo app passwords (bcrypt). Passwords: see README.md.\n")
	b.WriteString("# Written by `go run ./testdata/demo/gen -passwords`. user is the HTTP Basic\n")
	b.WriteString("# login, person the uid (auth.login_attribute) of the person it belongs to.\n")
	for _, e := range list {
		h, err := bcrypt.GenerateFromPassword([]byte(e.password), 10)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "- user: %s # %s\n  person: %s\n  hash: %q\n", e.user, e.note, e.person, h)
	}
	return b.Bytes(), nil
}
