package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultMemoryLimit is the Go runtime's soft memory limit when neither
// memory_limit nor GOMEMLIMIT sets one. Without a limit, the collector
// lets the heap grow to twice what is live: a sync of 100,000 people
// holds about 200 MB at its peak and would take 500 MB and more. With
// it, the collector runs more often near the limit instead; when more
// than the limit is live (a much larger directory), the runtime caps
// the collector's share of the CPU, so syncs get slower, never fail.
const defaultMemoryLimit = 256 << 20

// parseMemoryLimit reads a size as GOMEMLIMIT writes it: a number of bytes
// with an optional unit B, KiB, MiB, GiB or TiB, or "off" for no limit
// (-1).
func parseMemoryLimit(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return -1, nil
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	shift := uint(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil || n == 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("want a size such as 256MiB or 1GiB, or off")
	}
	return int64(n << shift), nil
}

// applyMemoryLimit sets the runtime's soft memory limit from the config's
// memory_limit, or to defaultMemoryLimit, unless the environment sets
// GOMEMLIMIT, which the runtime has applied already and which wins. It
// returns the limit in force, -1 for none.
func applyMemoryLimit(cfg *Config) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1) // reads it
	}
	limit := int64(defaultMemoryLimit)
	if cfg.MemoryLimit != "" {
		limit, _ = parseMemoryLimit(cfg.MemoryLimit) // validated by LoadConfig
	}
	if limit < 0 {
		limit = math.MaxInt64 // the runtime's "no limit"
	}
	debug.SetMemoryLimit(limit)
	if limit == math.MaxInt64 {
		return -1
	}
	return limit
}
