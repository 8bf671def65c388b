//go:build unix

package sync

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	bolt "go.etcd.io/bbolt"
)

// crashStoreEnv names the store TestCrashChild publishes into; it is set
// only in the child processes TestCrashPublish starts.
const crashStoreEnv = "DIRBOOK_TEST_CRASH_STORE"

// crashStagedEnv, when set in a child, makes it stage its publish in
// chunks of 500 cards (see stage).
const crashStagedEnv = "DIRBOOK_TEST_CRASH_STAGED"

// crashEntries is the directory of the crash test in three versions:
// version 0 is published first; version 1 removes 500 people, adds 500
// and changes the photo of everyone else, so that publishing it rewrites
// every card; version 2 changes a few mobile numbers.
func crashEntries(version int) []*dirbook.Entry {
	const n = 4000
	first := 0
	if version == 1 {
		first = 500
	}
	photo := make([]byte, 2000)
	var es []*dirbook.Entry
	for i := first; i < n+first; i++ {
		for j := range photo {
			photo[j] = byte(i*31 + j*7 + min(version, 1)*13)
		}
		photo[0], photo[1] = 0xff, 0xd8
		mobile := fmt.Sprintf("+49170%07d", i)
		if version == 2 && i%1000 == 0 {
			mobile = fmt.Sprintf("+49171%07d", i)
		}
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		es = append(es, entry(id, fmt.Sprintf("user%05d", i),
			"displayName", fmt.Sprintf("User %05d", i), "mail", fmt.Sprintf("user%05d@example.com", i),
			"mobile", mobile, "jpegPhoto", string(photo), "group", staffGroup))
	}
	return es
}

// syncVersion publishes a version of the crash directory into s, forced.
func syncVersion(tb testing.TB, s *Store, version int) *dirbook.Revision {
	tb.Helper()
	ctx := context.Background()
	eng := NewEngine(s, []Source{&fakeSource{entries: crashEntries(version)}}, newFakeMapper(), &EngineOptions{Users: users})
	p, err := eng.Plan(ctx)
	if err != nil {
		tb.Fatalf("Plan(version %d) = %v", version, err)
	}
	rev, err := eng.ApplyWith(ctx, p, &ApplyOptions{Force: true})
	if err != nil {
		tb.Fatalf("Apply(version %d) = %v", version, err)
	}
	return rev
}

// TestCrashChild is the child process of TestCrashPublish: it plans
// version 1 of the crash directory against the store, prints "apply", and
// publishes it.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashStoreEnv)
	if path == "" {
		t.Skip("run by TestCrashPublish in a child process")
	}
	if os.Getenv(crashStagedEnv) != "" {
		stageMin, stageChunk = 1000, 500
	}
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng := NewEngine(s, []Source{&fakeSource{entries: crashEntries(1)}}, newFakeMapper(), &EngineOptions{Users: users})
	p, err := eng.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("apply")
	if _, err := eng.ApplyWith(context.Background(), p, &ApplyOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("done")
}

// tokens is digest without the publish time, which differs between two
// processes publishing the same revision.
func tokens(rev *dirbook.Revision) []string {
	d := digest(rev)
	d[0] = fmt.Sprintf("revision %d store %s", rev.Number, rev.StoreID)
	return d
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// startChild starts TestCrashChild on the store at path and waits until it
// is about to publish.
func startChild(t *testing.T, path string, env ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), crashStoreEnv+"="+path), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child process ended before publishing: %v (output %q)", err, line)
		}
		if strings.TrimSpace(line) == "apply" {
			return cmd, r
		}
	}
}

// checkFile checks the consistency of the bbolt file at path with bbolt's
// own checker, without changing it.
func checkFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open(%s) after a crash = %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("store file inconsistent after a crash: %v", err)
	}
}

// TestCrashPublish kills a process with SIGKILL at random points while it
// publishes a revision that rewrites every card, and checks that the
// store then opens without repair, serves either the old or the new
// revision in full, and takes the next sync.
func TestCrashPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts processes")
	}
	// At most 20 kills, within about 15 s in all (fewer under the race
	// detector).
	crashTest(t, 20, 15*time.Second, func(s *Store) *dirbook.Revision { return syncVersion(t, s, 0) })
}

// crashTest prepares the old state of a store with setup, then runs at
// most kills crash rounds (3 under the race detector) within about
// budget, the child processes getting env.
func crashTest(t *testing.T, kills int, budget time.Duration, setup func(*Store) *dirbook.Revision, env ...string) {
	t.Helper()
	testStart := time.Now()
	if raceEnabled {
		kills = 3
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	s, err := Open(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantOld := tokens(setup(s))
	s.Close()
	crashRounds(t, dir, base, wantOld, kills, testStart, budget, env...)
}

// TestCrashStagedPublish is TestCrashPublish for a first publish, whose
// cards are staged in chunks before the publishing transaction.
func TestCrashStagedPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts processes")
	}
	crashTest(t, 12, 6*time.Second, (*Store).Current, crashStagedEnv+"=1")
}

// crashRounds has a child publish version 1 of the crash directory into a
// copy of the store base (revision wantOld) once uninterrupted, then kills
// children at random points of their publish, and checks after each kill
// that the store opens, serves wantOld or the new revision, and takes
// the next sync.
func crashRounds(t *testing.T, dir, base string, wantOld []string, kills int, testStart time.Time, budget time.Duration, env ...string) {
	t.Helper()
	// The new revision, as an uninterrupted child publishes it, and how
	// long its publish takes.
	path := filepath.Join(dir, "dirbook.db")
	copyFile(t, base, path)
	cmd, r := startChild(t, path, env...)
	start := time.Now()
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil || !strings.Contains(string(rest), "done") {
		t.Fatalf("child process = %v, output %q, want done", err, rest)
	}
	publish := time.Since(start)
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantNew := tokens(s.Current())
	s.Close()
	if wantNew[0] == wantOld[0] || len(wantNew) < 4000 {
		t.Fatalf("child published %s with %d lines, want the next revision", wantNew[0], len(wantNew))
	}
	t.Logf("a publish takes %v", publish)

	outcomes := map[string]int{}
	for i := 0; i < kills && (i < 3 || time.Since(testStart) < budget); i++ {
		copyFile(t, base, path)
		cmd, _ := startChild(t, path, env...)
		time.Sleep(time.Duration(rand.Int64N(int64(publish)*5/4 + 1)))
		cmd.Process.Kill()
		cmd.Wait()

		checkFile(t, path)
		s, err := Open(path, nil)
		if err != nil {
			t.Fatalf("kill %d: Open = %v", i, err)
		}
		got := tokens(s.Current())
		switch {
		case slices.Equal(got, wantOld):
			outcomes["old"]++
		case slices.Equal(got, wantNew):
			outcomes["new"]++
		default:
			s.Close()
			t.Fatalf("kill %d: the store serves neither the old nor the new revision: %s with %d lines", i, got[0], len(got))
		}
		// The next sync starts cleanly, and what it publishes stays.
		rev := syncVersion(t, s, 2)
		want := tokens(rev)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(path, nil)
		if err != nil {
			t.Fatalf("kill %d: Open after the next sync = %v", i, err)
		}
		if got := tokens(s.Current()); !slices.Equal(got, want) {
			t.Errorf("kill %d: after the next sync and reopening: %s, want %s", i, got[0], want[0])
		}
		s.Close()
		if hasStaging(t, path) {
			t.Errorf("kill %d: staged cards left after the next sync", i)
		}
	}
	t.Logf("after SIGKILL the store served: %v", outcomes)
}

// hasStaging reports whether the store file at path has a staging bucket.
func hasStaging(t *testing.T, path string) bool {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	found := false
	db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketStaging) != nil
		return nil
	})
	return found
}
