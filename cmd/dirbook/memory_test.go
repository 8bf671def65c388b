package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"256MiB", 256 << 20, false},
		{"1GiB", 1 << 30, false},
		{"4096", 4096, false},
		{"512KiB", 512 << 10, false},
		{"100B", 100, false},
		{" 2TiB ", 2 << 40, false},
		{"off", -1, false},
		{"", 0, true},
		{"0", 0, true},
		{"256MB", 0, true},
		{"-1MiB", 0, true},
		{"1.5GiB", 0, true},
		{"99999999999TiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseMemoryLimit(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseMemoryLimit(%q) = %d, %v, want %d (error: %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestMemoryLimitConfig(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	cfg := &Config{}
	if got := applyMemoryLimit(cfg); got != defaultMemoryLimit {
		t.Errorf("applyMemoryLimit(no memory_limit) = %d, want %d", got, defaultMemoryLimit)
	}
	cfg.MemoryLimit = "1GiB"
	if got := applyMemoryLimit(cfg); got != 1<<30 {
		t.Errorf("applyMemoryLimit(1GiB) = %d, want %d", got, 1<<30)
	}
	cfg.MemoryLimit = "off"
	if got := applyMemoryLimit(cfg); got != -1 {
		t.Errorf("applyMemoryLimit(off) = %d, want -1", got)
	}
	// GOMEMLIMIT is applied by the runtime at start; the config must not
	// override it.
	debug.SetMemoryLimit(300 << 20)
	t.Setenv("GOMEMLIMIT", "300MiB")
	cfg.MemoryLimit = "1GiB"
	if got := applyMemoryLimit(cfg); got != 300<<20 {
		t.Errorf("applyMemoryLimit(1GiB) with GOMEMLIMIT=300MiB = %d, want %d", got, 300<<20)
	}
	t.Setenv("GOMEMLIMIT", "")
	applyMemoryLimit(&Config{}) // leave the default for the other tests

	path := filepath.Join(t.TempDir(), "dirbook.yaml")
	if err := os.WriteFile(path, []byte("store: {path: s.db}\nsources: [{name: demo, ldif: x.ldif}]\nmemory_limit: 12 apples\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), "memory_limit") {
		t.Errorf("LoadConfig with memory_limit: 12 apples = %v, want an error naming memory_limit", err)
	}
}
