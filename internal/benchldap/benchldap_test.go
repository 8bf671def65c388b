package main

import (
	"slices"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
)

func TestBenchRules(t *testing.T) {
	const employees = "cn=employees,ou=groups,dc=example,dc=com"
	m, err := compileRules(benchRules(employees))
	if err != nil {
		t.Fatalf("compileRules(benchRules) error = %v", err)
	}
	tests := []struct {
		name  string
		entry *dirbook.Entry
		books []string
	}{
		{"employee", &dirbook.Entry{ID: "1", DN: "uid=a", Attrs: map[string][]string{"cn": {"A"}, "title": {"Engineer"}}, Groups: []string{employees}}, []string{"colleagues"}},
		{"manager", &dirbook.Entry{ID: "2", DN: "uid=b", Attrs: map[string][]string{"cn": {"B"}, "title": {"Manager"}}, Groups: []string{employees}}, []string{"colleagues", "managers"}},
		{"outsider", &dirbook.Entry{ID: "3", DN: "uid=c", Attrs: map[string][]string{"cn": {"C"}, "title": {"Engineer"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for id := range m.Map(tt.entry).Cards {
				got = append(got, id)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.books) {
				t.Errorf("Map(%s) books = %q, want %q", tt.name, got, tt.books)
			}
		})
	}
	if attrs := m.Attributes(); !slices.Contains(attrs, "telephoneNumber") || !slices.Contains(attrs, "pwdAccountLockedTime") {
		t.Errorf("Attributes() = %q, want telephoneNumber and pwdAccountLockedTime among them", attrs)
	}
}

func TestParseCPULine(t *testing.T) {
	busy, total, err := parseCPULine("cpu  100 5 50 800 40 3 2 0 7 0\n")
	if err != nil || busy != 160 || total != 1000 {
		t.Errorf("parseCPULine = %d, %d, %v, want 160, 1000, nil", busy, total, err)
	}
	if _, _, err := parseCPULine("cpu0 1 2 3 4 5"); err == nil {
		t.Error("parseCPULine of a line of one CPU: no error")
	}
}

func TestVersionOf(t *testing.T) {
	tests := []struct{ line, want string }{
		{"@(#) $OpenLDAP: slapd 2.5.13+dfsg-5 (Feb  8 2023 01:54:12) $", "slapd 2.5.13+dfsg-5"},
		{"ldapsearch: @(#) $OpenLDAP: ldapsearch 2.5.13+dfsg-5 (Feb  8 2023 01:54:12) $", "ldapsearch 2.5.13+dfsg-5"},
		{"something else", "something else"},
	}
	for _, tt := range tests {
		if got := versionOf(tt.line); got != tt.want {
			t.Errorf("versionOf(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {100000, "100,000"}, {1234567, "1,234,567"}, {-4500, "-4,500"}}
	for _, tt := range tests {
		if got := thousands(tt.n); got != tt.want {
			t.Errorf("thousands(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestBest(t *testing.T) {
	runs := []readResult{{wall: 3 * time.Second}, {wall: time.Second, cpu: 7}, {wall: 2 * time.Second}}
	if got := best(runs); got.wall != time.Second || got.cpu != 7 {
		t.Errorf("best = %+v, want the run of 1s", got)
	}
}
