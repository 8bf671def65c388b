// Command benchldap measures dirbook reading and publishing a large
// directory from OpenLDAP's slapd on loopback, side by side in one run with
// ldapsearch reading the same people (the benchmark of issue 3).
//
// It writes a directory of -people people with internal/slapdtest's
// deterministic generator (thirteen attributes each, memberOf, departments
// as groupOfNames nested in cn=employees), loads it with slapadd into a
// private slapd on 127.0.0.1 whose size limit for the reading account is
// 500 entries, so only paged searches read it all, and then
//
//   - times ldapsearch -x -E pr=1000/noprompt reading every person to
//     /dev/null, and dirbook reading the same people (ldap.Source.Read: the
//     same filter, pages of 1000, the attributes cmd/dirbook asks for, the
//     groups read first to resolve memberships), alternately, -runs times
//     each, and takes the best time of each;
//   - runs dirbook's read, mapping and first publish into a new bbolt
//     store through the sync engine, wired as cmd/dirbook wires it, in a
//     child process of its own, and reports its time and peak RSS (VmHWM).
//
// It prints a Markdown section with the figures, the targets and whether
// each is met. It needs slapd, slapadd and ldapsearch (Debian packages
// slapd and ldap-utils); with 100,000 people it takes about a minute.
//
// Usage, from the repository:
//
//	go run ./internal/benchldap [-people 100000] [-runs 3] [-out FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"time"

	"github.com/dirbook/dirbook/internal/benchmark"
)

func main() { benchmark.Main("benchldap", run) }

// options are the command's flags.
type options struct {
	people      int
	departments int
	runs        int
	pageSize    int
	out         string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if spec := os.Getenv(childEnv); spec != "" {
		return runChild(ctx, spec, stdout)
	}
	fs := flag.NewFlagSet("benchldap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.people, "people", 100000, "people in the directory")
	fs.IntVar(&o.departments, "departments", 50, "departments (groups of people, nested in cn=employees)")
	fs.IntVar(&o.runs, "runs", 3, "timed reads of ldapsearch and of dirbook each; the best counts")
	fs.IntVar(&o.pageSize, "page", 1000, "page size of both readers")
	fs.StringVar(&o.out, "out", "", "also write the Markdown section to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.people < 1 || o.departments < 1 || o.runs < 1 || o.pageSize < 1 {
		return errors.New("-people, -departments, -runs and -page must be at least 1")
	}

	b := &bench{opts: o, log: stderr, started: time.Now()}
	if err := b.run(ctx); err != nil {
		return err
	}
	return benchmark.WriteReport(stdout, b.report(), o.out)
}
