package benchmark

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    map[string]int64
		wantErr bool
	}{
		{"figures", "Name:\tbenchldap\nVmPeak:\t  900 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 1000 kB\nThreads:\t4\n",
			map[string]int64{"VmPeak": 900, "VmHWM": 123456, "VmRSS": 1000}, false},
		{"no VmHWM", "Name:\tbenchldap\nVmRSS:\t 1000 kB\n", nil, true},
		{"not in kB", "VmHWM:\t12 MB\nVmRSS:\t 1000 kB\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus("/proc/1/status", tt.status)
			if !maps.Equal(got, tt.want) || (err != nil) != tt.wantErr {
				t.Errorf("parseStatus(%q) = %v, %v, want %v, error %v", tt.status, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProcStatus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	got, err := ProcStatus(os.Getpid())
	if err != nil {
		t.Fatalf("ProcStatus(self) error = %v", err)
	}
	if got["VmHWM"] <= 0 || got["VmHWM"] < got["VmRSS"] {
		t.Errorf("ProcStatus(self) = VmHWM %d kB, VmRSS %d kB, want a peak at least the current size", got["VmHWM"], got["VmRSS"])
	}
}

func TestFields(t *testing.T) {
	for _, photo := range []bool{false, true} {
		text := "fields:\n" + Fields("  ", photo)
		var doc struct {
			Fields []struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatalf("Fields(%v): %v", photo, err)
		}
		var names []string
		for _, f := range doc.Fields {
			names = append(names, f.Name)
		}
		want := "fn n org title email work_phone mobile"
		if photo {
			want += " photo"
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("Fields(%v) names = %s, want %s", photo, got, want)
		}
	}
}

func TestWriteReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docs", "report.md")
	var out bytes.Buffer
	if err := WriteReport(&out, "## Figures\n", path); err != nil {
		t.Fatalf("WriteReport() error = %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "## Figures\n" || string(b) != "## Figures\n" {
		t.Errorf("WriteReport() wrote %q and the file %q, want the report in both", out.String(), b)
	}
}
