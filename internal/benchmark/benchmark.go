// Package benchmark holds what the benchmark commands benchldap and
// benchpoll share: their main function, the description of the machine
// and the writing of their Markdown report, the memory figures of a
// process, and the mapping fields of the dirbook configurations they
// measure.
package benchmark

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
)

// Main is the main function of the command name: it calls run with a
// context that an interrupt cancels, the command's arguments, standard
// output and standard error, and when run fails prints the error after the
// command's name and exits with status 1.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// WriteReport writes the report to w and, if path is not empty, to the
// file at path too, making its folder.
func WriteReport(w io.Writer, report, path string) error {
	fmt.Fprint(w, report)
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(report), 0o644)
}

// Machine describes where the figures were taken: the number of CPUs, the
// CPU model (from /proc/cpuinfo, empty elsewhere), the system and the Go
// version.
func Machine() string {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
