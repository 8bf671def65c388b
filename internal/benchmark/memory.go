package benchmark

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcStatus reads the memory figures of /proc/PID/status, in kB, by name:
// VmRSS, VmHWM (the peak resident set size), RssAnon, RssFile and every
// other line given in kB. It fails when VmRSS or VmHWM is missing.
func ProcStatus(pid int) (map[string]int64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseStatus(path, string(data))
}

// parseStatus reads the lines in kB of status, the text of the file path.
func parseStatus(path, status string) (map[string]int64, error) {
	out := map[string]int64{}
	for line := range strings.SplitSeq(status, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(value, " kB") {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(value, " kB")), 10, 64)
		if err == nil {
			out[key] = v
		}
	}
	for _, k := range []string{"VmRSS", "VmHWM"} {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("%s has no %s", path, k)
		}
	}
	return out, nil
}
