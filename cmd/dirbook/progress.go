package main

import (
	"fmt"
	"io"
	"os"
	"time"

	dirsync "github.com/dirbook/dirbook/sync"
)

// isTerminal reports whether w is a terminal, where progress is shown.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// terminalProgress returns a progress callback that keeps one status line
// on w up to date: entries read, mapped and published, with a rate.
func terminalProgress(w io.Writer) func(dirsync.Progress) {
	start := time.Now()
	return func(p dirsync.Progress) {
		secs := time.Since(start).Seconds()
		rate := 0.0
		if secs > 0 {
			rate = float64(p.Read) / secs
		}
		fmt.Fprintf(w, "\r\033[K%s: %d read, %d mapped, %d published (%.0f entries/s)", p.Stage, p.Read, p.Mapped, p.Published, rate)
		if p.Done {
			fmt.Fprintln(w)
		}
	}
}
