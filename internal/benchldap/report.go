package main

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/dirbook/dirbook/internal/benchmark"
)

// Targets of issue 3.
const (
	targetRatio = 1.5           // dirbook's read time over ldapsearch's
	targetRSS   = 300 * mb      // peak RSS of read, map and publish
	mb          = 1000 * 1000.0 // figures are in megabytes of 10^6 bytes
)

// best returns the run with the shortest time.
func best(runs []readResult) readResult {
	return slices.MinFunc(runs, func(a, b readResult) int { return cmp.Compare(a.wall, b.wall) })
}

func (b *bench) report() string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	n := b.opts.people
	cmd := "go run ./internal/benchldap"
	if flags := b.flags(); flags != "" {
		cmd += " " + flags
	}
	p("## Reading and publishing from slapd (issue 3)\n\n")
	p("Measured by `%s` on %s, in %v: %s; %s. ", cmd, time.Now().UTC().Format("2006-01-02"),
		time.Since(b.started).Round(time.Second), benchmark.Machine(), b.versions)
	p("slapd (mdb database, memberof overlay) runs on the same machine as the readers and talks to them over loopback.\n\n")
	p("The directory: %s people (inetOrgPerson with uid, cn, sn, givenName, displayName, mail, telephoneNumber, title, ou, employeeNumber, half of them mobile; entryUUID and memberOf) "+
		"and %d department groups (groupOfNames, %s members in all) nested in cn=employees, loaded with slapadd in %v. "+
		"The reading account's size limit is 500 entries, so only paged searches read everyone.\n\n",
		thousands(n), b.opts.departments, thousands(n+b.opts.departments), b.load.Round(100*time.Millisecond))

	ls, db := best(b.searches), best(b.reads)
	p("### Full read, best of %d\n\n", b.opts.runs)
	p("The runs alternate: ldapsearch, dirbook, ldapsearch, … CPU is the reader's own (user and system); busy is the share of all %d CPUs' time the machine was busy, slapd included.\n\n", runtime.NumCPU())
	p("| reader | best | runs | people/s | CPU | busy |\n|---|---:|---|---:|---:|---:|\n")
	p("| `ldapsearch -x -E pr=%d/noprompt '%s' > /dev/null` | %s | %s | %s | %s | %s |\n",
		b.opts.pageSize, peopleFilter, secs(ls.wall), runList(b.searches), rate(n, ls.wall), secs(ls.cpu), percent(ls.busy))
	p("| dirbook: `ldap.Source.Read`, page size %d | %s | %s | %s | %s | %s |\n\n",
		b.opts.pageSize, secs(db.wall), runList(b.reads), rate(n, db.wall), secs(db.cpu), percent(db.busy))
	p("ldapsearch asks for the user attributes and writes LDIF. dirbook asks for %s "+
		"(as cmd/dirbook does for these rules), reads the %d group entries first to resolve nested memberships, "+
		"and hands over each person as a dirbook.Entry with its groups; its read allocated %.0f times and %s per person on the heap.\n\n",
		quoted(b.attributes), b.opts.departments+1, float64(db.mallocs)/float64(n), bytesPer(db.bytes, n))

	pub := b.publish
	p("### Full read, map and publish\n\n")
	p("A child process reads the directory, maps everyone by rules like testdata/demo/dirbook.yaml's " +
		"(a Colleagues book of everyone in cn=employees with eight fields, phone numbers in E.164; a Managers book), " +
		"with every person a login of their own (LDAP login), and publishes the first revision into a new bbolt store, " +
		"wired as cmd/dirbook wires it (ldap.New → sync.NewEngine → Plan → Apply).\n\n")
	p("| step | figure |\n|---|---:|\n")
	p("| read and map (Plan) | %s |\n", secs(seconds(pub.Plan)))
	p("| publish (Apply) | %s |\n", secs(seconds(pub.Apply)))
	books := make([]string, 0, len(pub.Cards))
	for id, c := range pub.Cards {
		books = append(books, fmt.Sprintf("%s %s", id, thousands(c)))
	}
	slices.Sort(books)
	p("| cards published | %s |\n", strings.Join(books, ", "))
	p("| peak RSS (VmHWM), with dirbook's default soft memory limit (GOMEMLIMIT=%s) | %.0f MB |\n\n", childMemoryLimit, float64(pub.VmHWM)/mb)

	ratio := db.wall.Seconds() / ls.wall.Seconds()
	p("### Targets\n\n| target | measured | met |\n|---|---:|---|\n")
	p("| dirbook's full read at most %.1f× ldapsearch's time | %.2f× (%s against %s) | %s |\n", targetRatio, ratio, secs(db.wall), secs(ls.wall), yes(ratio <= targetRatio))
	p("| peak RSS of read, map and publish under %.0f MB | %.0f MB | %s |\n", targetRSS/mb, float64(pub.VmHWM)/mb, yes(float64(pub.VmHWM) < targetRSS))
	return s.String()
}

// flags returns the flags that differ from their defaults, as given.
func (b *bench) flags() string {
	var out []string
	def := options{people: 100000, departments: 50, runs: 3, pageSize: 1000}
	o := b.opts
	if o.people != def.people {
		out = append(out, fmt.Sprintf("-people %d", o.people))
	}
	if o.departments != def.departments {
		out = append(out, fmt.Sprintf("-departments %d", o.departments))
	}
	if o.runs != def.runs {
		out = append(out, fmt.Sprintf("-runs %d", o.runs))
	}
	if o.pageSize != def.pageSize {
		out = append(out, fmt.Sprintf("-page %d", o.pageSize))
	}
	return strings.Join(out, " ")
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func runList(runs []readResult) string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = secs(r.wall)
	}
	return strings.Join(out, ", ")
}

func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return thousands(int(float64(n) / d.Seconds()))
}

func percent(f float64) string {
	if f < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f %%", 100*f)
}

func bytesPer(total uint64, n int) string {
	return fmt.Sprintf("%s bytes", thousands(int(total/uint64(n))))
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []string
	for len(s) > 3 {
		out = append([]string{s[len(s)-3:]}, out...)
		s = s[:len(s)-3]
	}
	out = append([]string{s}, out...)
	r := strings.Join(out, ",")
	if neg {
		r = "-" + r
	}
	return r
}

func quoted(list []string) string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = "`" + a + "`"
	}
	return strings.Join(out, ", ")
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
