package sync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/slapdtest"
	"github.com/dirbook/dirbook/ldap"
	"github.com/dirbook/dirbook/mapping"
	dirsync "github.com/dirbook/dirbook/sync"
)

// feedSource adapts an ldap.Source to dirsync.Feed, as cmd/dirbook does:
// the change types have the same fields.
type feedSource struct {
	*ldap.Source
	name string
}

func (f *feedSource) Name() string { return f.name }

func (f *feedSource) Poll(ctx context.Context, state []byte, emit func(dirsync.Change) error) ([]byte, bool, error) {
	return f.Source.Poll(ctx, state, func(c ldap.Change) error { return emit(dirsync.Change(c)) })
}

func (f *feedSource) Watch(ctx context.Context, state []byte, fn func([]dirsync.Change, bool, []byte) error) error {
	return f.Source.Watch(ctx, state, func(cs []ldap.Change, full bool, next []byte) error {
		out := make([]dirsync.Change, len(cs))
		for i, c := range cs {
			out[i] = dirsync.Change(c)
		}
		return fn(out, full, next)
	})
}

var _ dirsync.Feed = (*feedSource)(nil)

// slapdRules puts employees in colleagues and the members of cn=approved
// in partners.
const slapdRules = `
fields:
  - name: fn
    property: FN
    from: [displayName, cn]
  - name: email
    property: EMAIL
    from: [mail]
    types: [work]
books:
  - id: colleagues
    name: Colleagues
    include:
      member_of: ["cn=employees,ou=groups,dc=example,dc=com"]
    readers:
      member_of: ["cn=employees,ou=groups,dc=example,dc=com"]
    fields: [fn, email]
  - id: partners
    name: Partners
    include:
      member_of: ["cn=approved,ou=groups,dc=example,dc=com"]
    readers:
      member_of: ["cn=employees,ou=groups,dc=example,dc=com"]
    fields: [fn, email]
`

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWatchSlapd follows a real slapd with the scheduler in watch mode
// (syncrepl refreshAndPersist): a modification, the approval of a partner
// (a change of a group entry only; the memberof overlay does not touch the
// person's entryCSN) and a deletion are each published.
func TestWatchSlapd(t *testing.T) {
	d := &slapdtest.Directory{People: 300, Departments: 6}
	dir := t.TempDir()
	people, groups := filepath.Join(dir, "people.ldif"), filepath.Join(dir, "groups.ldif")
	for path, write := range map[string]func(*os.File) error{
		people: func(f *os.File) error { return d.WritePeople(f, false) },
		groups: func(f *os.File) error { return d.WriteGroups(f, false) },
	} {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	const partnerDN = "uid=partner1,ou=people,dc=example,dc=com"
	extra := filepath.Join(dir, "extra.ldif")
	err := os.WriteFile(extra, []byte(fmt.Sprintf(`dn: %s
objectClass: inetOrgPerson
uid: partner1
cn: Petra Partner
sn: Partner
displayName: Petra Partner
mail: petra@partner.example

dn: cn=approved,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: approved
member: %s
`, partnerDN, d.DN(0))), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	srv := slapdtest.Start(t, &slapdtest.Options{Load: []string{people}, Add: []string{groups, extra}})

	var rules mapping.Rules
	if err := yaml.Unmarshal([]byte(slapdRules), &rules); err != nil {
		t.Fatal(err)
	}
	m, problems := mapping.Compile(&rules)
	if len(problems) > 0 {
		t.Fatalf("mapping.Compile = %v", problems)
	}
	src, err := ldap.New(&ldap.Options{
		Name:              "slapd",
		URL:               srv.URL,
		AllowInsecureBind: true,
		BindDN:            srv.ReaderDN,
		BindPassword:      ldap.Secret(srv.ReaderPassword),
		Base:              "ou=people," + srv.BaseDN,
		GroupBase:         "ou=groups," + srv.BaseDN,
		Filter:            "(objectClass=inetOrgPerson)",
		Feed:              ldap.FeedSyncrepl,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	store, err := dirsync.Open(filepath.Join(dir, "dirbook.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	eng := dirsync.NewEngine(store, []dirsync.Source{&feedSource{Source: src, name: "slapd"}}, m, &dirsync.EngineOptions{
		RulesFingerprint: "slapd rules", Logger: logger,
	})
	published := make(chan *dirbook.Revision, 64)
	sch := dirsync.NewScheduler(eng, &dirsync.SchedulerOptions{
		Interval: time.Hour, Watch: true, ReconcileInterval: -1, Logger: logger,
		OnPublish: func(r *dirbook.Revision) { published <- r },
	})
	defer func() {
		if t.Failed() {
			t.Logf("scheduler log:\n%s", logs.String())
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rev, err := sch.Once(ctx)
	if err != nil {
		t.Fatalf("Once = %v", err)
	}
	if n, p := len(rev.Book("colleagues").Cards), len(rev.Book("partners").Cards); n != d.People || p != 1 {
		t.Fatalf("first revision: %d colleagues, %d partners, want %d, 1", n, p, d.People)
	}
	if len(store.FeedState("slapd")) == 0 {
		t.Fatal("no feed state stored with the first revision")
	}
	done := make(chan error, 1)
	go func() { done <- sch.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	}()

	// await waits until a published revision satisfies ok.
	await := func(what string, ok func(*dirbook.Revision) bool) *dirbook.Revision {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			if r := store.Current(); ok(r) {
				return r
			}
			select {
			case <-published:
			case <-deadline:
				t.Fatalf("%s: not published within 30 s (revision %d)", what, store.Current().Number)
				return nil
			}
		}
	}

	// fn returns the name on the card uid of book in the store file.
	fn := func(book, uid string) string {
		c, _, err := store.Card(book, uid)
		if err != nil {
			return ""
		}
		return c.FN()
	}

	uid5 := d.EntryUUID(5)
	srv.Modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: displayName\ndisplayName: Renamed Person\n", d.DN(5)))
	await("modify", func(r *dirbook.Revision) bool {
		c := r.Book("colleagues").Cards[uid5]
		return c != nil && fn("colleagues", uid5) == "Renamed Person"
	})

	partner := func(r *dirbook.Revision) *dirbook.StoredCard {
		for _, c := range r.Book("partners").Cards {
			if fn("partners", c.UID) == "Petra Partner" {
				return c
			}
		}
		return nil
	}
	if partner(store.Current()) != nil {
		t.Fatal("partner published before the approval")
	}
	srv.Modify(t, fmt.Sprintf("dn: cn=approved,ou=groups,dc=example,dc=com\nchangetype: modify\nadd: member\nmember: %s\n", partnerDN))
	await("approval", func(r *dirbook.Revision) bool { return partner(r) != nil })

	uid7 := d.EntryUUID(7)
	srv.Modify(t, fmt.Sprintf("dn: %s\nchangetype: delete\n", d.DN(7)))
	r := await("delete", func(r *dirbook.Revision) bool { return r.Book("colleagues").Cards[uid7] == nil })
	if n := len(r.Book("colleagues").Cards); n != d.People-1 {
		t.Errorf("colleagues after the delete = %d, want %d", n, d.People-1)
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") || !strings.Contains(out, "mode=watch") {
		t.Errorf("scheduler log has errors or no publish in watch mode:\n%s", out)
	}
}
