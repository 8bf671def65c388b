package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/benchmark"
	"github.com/dirbook/dirbook/internal/slapdtest"
	"github.com/dirbook/dirbook/mapping"
	"go.yaml.in/yaml/v3"
)

// peopleFilter selects the people, for both readers.
const peopleFilter = "(objectClass=inetOrgPerson)"

// bench is one run of all measurements.
type bench struct {
	opts    options
	log     io.Writer
	started time.Time

	dir        *slapdtest.Directory
	server     *slapdtest.Server
	versions   string // of slapd and ldapsearch
	load       time.Duration
	attributes []string   // dirbook asks for these
	spec       *childSpec // what dirbook reads, and where the child publishes

	searches []readResult // ldapsearch's runs
	reads    []readResult // dirbook's runs
	publish  *childResult
}

// readResult is one timed full read.
type readResult struct {
	wall time.Duration
	cpu  time.Duration // of the reading process
	busy float64       // share of the machine's CPU time that was busy
	// dirbook only: heap allocations during the read.
	mallocs, bytes uint64
}

// logf reports progress on stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "benchldap: %5.1fs  %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) error {
	var err error
	if b.versions, err = versions(ctx); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "benchldap-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	b.dir = &slapdtest.Directory{People: b.opts.people, Departments: b.opts.departments}
	b.logf("writing a directory of %d people in %d departments", b.opts.people, b.opts.departments)
	people := filepath.Join(work, "people.ldif")
	groups := filepath.Join(work, "groups.ldif")
	if err := writeFile(people, func(w io.Writer) error { return b.dir.WritePeople(w, true) }); err != nil {
		return err
	}
	if err := writeFile(groups, func(w io.Writer) error { return b.dir.WriteGroups(w, true) }); err != nil {
		return err
	}
	b.logf("loading it into slapd with slapadd")
	start := time.Now()
	b.server, err = slapdtest.Launch(work, &slapdtest.Options{Load: []string{people, groups}})
	if err != nil {
		return err
	}
	defer b.server.Close()
	b.load = time.Since(start)
	os.Remove(people)
	os.Remove(groups)

	rules := benchRules(b.dir.EmployeesDN())
	m, err := compileRules(rules)
	if err != nil {
		return err
	}
	b.attributes = attributes(m)
	b.spec = &childSpec{
		URL:      b.server.URL,
		BindDN:   b.server.ReaderDN,
		Password: b.server.ReaderPassword,
		Base:     b.server.BaseDN,
		Filter:   peopleFilter,
		PageSize: b.opts.pageSize,
		Rules:    rules,
		Store:    filepath.Join(work, "dirbook.db"),
	}

	n, err := b.countLDAPSearch(ctx)
	if err != nil {
		return err
	}
	if n != b.opts.people {
		return fmt.Errorf("ldapsearch found %d people, want %d", n, b.opts.people)
	}
	for i := range b.opts.runs {
		r, err := b.ldapsearch(ctx)
		if err != nil {
			return err
		}
		b.searches = append(b.searches, r)
		b.logf("ldapsearch, run %d: %v", i+1, r.wall.Round(time.Millisecond))
		if r, err = b.read(ctx); err != nil {
			return err
		}
		b.reads = append(b.reads, r)
		b.logf("dirbook read, run %d: %v", i+1, r.wall.Round(time.Millisecond))
	}

	b.logf("dirbook read, map and publish, in a child process")
	b.publish, err = b.runChild(ctx, b.spec)
	if err != nil {
		return err
	}
	if b.publish.Entries != b.opts.people {
		return fmt.Errorf("the publish read %d people, want %d", b.publish.Entries, b.opts.people)
	}
	b.logf("published %v in %.1fs, peak RSS %.0f MB", b.publish.Cards, b.publish.Plan+b.publish.Apply, float64(b.publish.VmHWM)/mb)
	return nil
}

// ldapsearchArgs returns the arguments of ldapsearch reading every person,
// without the output options.
func (b *bench) ldapsearchArgs() []string {
	s := b.server
	return []string{"-x", "-H", s.URL, "-D", s.ReaderDN, "-w", s.ReaderPassword, "-b", s.BaseDN,
		"-E", fmt.Sprintf("pr=%d/noprompt", b.opts.pageSize)}
}

// countLDAPSearch runs ldapsearch once for the DNs of the people and
// counts them: proof that it reads the whole directory.
func (b *bench) countLDAPSearch(ctx context.Context) (int, error) {
	args := append(b.ldapsearchArgs(), "-LLL", peopleFilter, "1.1")
	cmd := exec.CommandContext(ctx, "ldapsearch", args...)
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("ldapsearch: %w: %s", err, stderrOf(err))
	}
	n := 0
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(line, "dn:") {
			n++
		}
	}
	return n, nil
}

// ldapsearch times ldapsearch reading every person to /dev/null.
func (b *bench) ldapsearch(ctx context.Context) (readResult, error) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return readResult{}, err
	}
	defer null.Close()
	cmd := exec.CommandContext(ctx, "ldapsearch", append(b.ldapsearchArgs(), peopleFilter)...)
	cmd.Stdout = null
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	busy := startBusy()
	start := time.Now()
	err = cmd.Run()
	r := readResult{wall: time.Since(start), busy: busy()}
	if err != nil {
		return r, fmt.Errorf("ldapsearch: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

// read times dirbook reading every person.
func (b *bench) read(ctx context.Context) (readResult, error) {
	src, err := b.spec.source(b.attributes)
	if err != nil {
		return readResult{}, err
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0, err := processCPU()
	if err != nil {
		return readResult{}, err
	}
	busy := startBusy()
	start := time.Now()
	n := 0
	err = src.Read(ctx, func(e *dirbook.Entry) error {
		if e.Invalid == "" && len(e.Groups) == 2 {
			n++
		}
		return nil
	})
	r := readResult{wall: time.Since(start), busy: busy()}
	if err != nil {
		return r, err
	}
	cpu1, err := processCPU()
	if err != nil {
		return r, err
	}
	runtime.ReadMemStats(&m1)
	r.cpu = cpu1 - cpu0
	r.mallocs, r.bytes = m1.Mallocs-m0.Mallocs, m1.TotalAlloc-m0.TotalAlloc
	if n != b.opts.people {
		return r, fmt.Errorf("dirbook read %d usable people in their department and cn=employees, want %d", n, b.opts.people)
	}
	return r, nil
}

// benchRules returns the mapping rules of the benchmark, those of
// testdata/demo/dirbook.yaml for the generated directory: everyone in
// cn=employees (through the departments) is a colleague, managers have a
// book of their own.
func benchRules(employees string) string {
	return strings.ReplaceAll(`phone_region: DE
exclude:
  has: [pwdAccountLockedTime]
fields:
`+benchmark.Fields("  ", true)+`books:
  - id: colleagues
    name: Colleagues
    include:
      member_of: ["EMPLOYEES"]
    readers:
      member_of: ["EMPLOYEES"]
    fields: [fn, n, org, title, email, work_phone, mobile, photo]
  - id: managers
    name: Managers
    include:
      equals: {title: Manager}
    readers:
      member_of: ["EMPLOYEES"]
    fields: [fn, n, title, email, work_phone]
`, "EMPLOYEES", employees)
}

// attributes returns the attributes dirbook asks for with the mapping m,
// as cmd/dirbook does: every user attribute, those the rules read
// (operational ones are only returned when named), the login attribute.
func attributes(m *mapping.Mapper) []string {
	return append(append([]string{"*"}, m.Attributes()...), "uid")
}

// compileRules compiles the YAML mapping rules text.
func compileRules(text string) (*mapping.Mapper, error) {
	var r mapping.Rules
	if err := yaml.Unmarshal([]byte(text), &r); err != nil {
		return nil, fmt.Errorf("mapping rules: %w", err)
	}
	m, problems := mapping.Compile(&r)
	if len(problems) > 0 {
		return nil, fmt.Errorf("mapping rules: %w", problems[0])
	}
	return m, nil
}

// versions returns the versions of slapd and ldapsearch.
func versions(ctx context.Context) (string, error) {
	var out []string
	for _, prog := range []string{"/usr/sbin/slapd", "ldapsearch"} {
		// Both print their version on stderr and exit with status 0
		// or 1, whatever their version.
		b, err := exec.CommandContext(ctx, prog, "-VV").CombinedOutput()
		if len(b) == 0 {
			return "", fmt.Errorf("%s -VV: %w", prog, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		out = append(out, versionOf(line))
	}
	return strings.Join(out, ", "), nil
}

// versionOf shortens the first line of an OpenLDAP program's -VV output,
// "@(#) $OpenLDAP: slapd 2.5.13+dfsg-5 (Feb  8 2023 01:54:12) $", to
// "slapd 2.5.13+dfsg-5".
func versionOf(line string) string {
	line = strings.TrimSpace(line)
	if _, rest, ok := strings.Cut(line, "$OpenLDAP: "); ok {
		line = rest
	}
	if i := strings.Index(line, " ("); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(strings.TrimSuffix(line, "$"))
}

func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// processCPU returns the CPU time this process has used, user and
// system, from /proc/self/stat (in clock ticks of 10 ms).
func processCPU() (time.Duration, error) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/self/stat: no command name")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/self/stat: %d fields", len(f))
	}
	// utime and stime are fields 14 and 15 of the whole line; f starts
	// at field 3.
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// startBusy starts measuring how busy the machine's CPUs are; the function
// it returns gives the busy share of the CPU time since (0 to 1, -1 when
// /proc/stat cannot be read).
func startBusy() func() float64 {
	busy0, total0, err := cpuTimes()
	return func() float64 {
		busy1, total1, err1 := cpuTimes()
		if err != nil || err1 != nil || total1 <= total0 {
			return -1
		}
		return float64(busy1-busy0) / float64(total1-total0)
	}
}

// cpuTimes returns the busy and the total CPU time of the machine, in
// clock ticks, from the first line of /proc/stat.
func cpuTimes() (busy, total int64, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	return parseCPULine(line)
}

// parseCPULine parses "cpu  user nice system idle iowait irq softirq
// steal ...": idle and iowait are not busy.
func parseCPULine(line string) (busy, total int64, err error) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected line %q", line)
	}
	var idle int64
	for i, s := range f[1:] {
		if i >= 8 { // guest times are counted in user already
			break
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return total - idle, total, nil
}
