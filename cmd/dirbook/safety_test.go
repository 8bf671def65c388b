package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestRemovalLimit removes the engineering department from a copy of the
// demo directory: more than 10 % of the Colleagues book. The sync is
// refused (exit 3) and publishes nothing; the dry run names the plan; the
// approved plan then goes through.
func TestRemovalLimit(t *testing.T) {
	config := demoCopy(t)
	if res := runDirbook(t, "sync", "--config", config); res.code != codeChanges {
		t.Fatalf("first sync: exit code %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	dropEngineering(t, config)

	res := runDirbook(t, "sync", "--config", config)
	if res.code != codeRefused {
		t.Fatalf("sync removing engineering: exit code %d, want %d\n%s%s", res.code, codeRefused, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "no longer matches") || !strings.Contains(res.stderr, "--approve") {
		t.Errorf("refusal does not name the cause and the way out:\n%s", res.stderr)
	}
	if rev := storeRevision(t, config); rev != 1 {
		t.Errorf("revision after a refused sync = %d, want 1", rev)
	}

	res = runDirbook(t, "sync", "--config", config, "--dry-run", "--format", "json")
	if res.code != codeRefused {
		t.Fatalf("dry run: exit code %d, want %d\n%s", res.code, codeRefused, res.stderr)
	}
	var doc struct {
		ID      string `json:"id"`
		Refusal *struct {
			Removals int `json:"removals"`
		} `json:"refusal"`
		Totals struct {
			Removed int `json:"removed"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("dry run JSON: %v\n%s", err, res.stdout)
	}
	if doc.ID == "" || doc.Refusal == nil || doc.Totals.Removed == 0 {
		t.Fatalf("dry run JSON: id %q, refusal %v, removed %d; want an ID, a refusal and removals", doc.ID, doc.Refusal, doc.Totals.Removed)
	}

	res = runDirbook(t, "sync", "--config", config, "--approve", "0000000000000000")
	if res.code != codeRefused {
		t.Errorf("sync approving another plan: exit code %d, want %d", res.code, codeRefused)
	}
	res = runDirbook(t, "sync", "--config", config, "--approve", doc.ID)
	if res.code != codeChanges {
		t.Fatalf("sync --approve %s: exit code %d, want %d\n%s%s", doc.ID, res.code, codeChanges, res.stdout, res.stderr)
	}
	if !regexp.MustCompile(`published revision 2`).MatchString(res.stdout) {
		t.Errorf("approved sync printed %q, want revision 2 published", res.stdout)
	}
}
