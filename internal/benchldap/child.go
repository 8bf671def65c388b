package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/dirbook/dirbook/internal/benchmark"
	"github.com/dirbook/dirbook/ldap"
	dirsync "github.com/dirbook/dirbook/sync"
)

// childEnv holds the JSON childSpec of a child process; the command runs
// as the child when it is set.
const childEnv = "BENCHLDAP_CHILD"

// childMemoryLimit is the soft memory limit of the child, cmd/dirbook's
// default memory_limit.
const childMemoryLimit = "256MiB"

// childSpec tells the child what to read and where to publish.
type childSpec struct {
	URL, BindDN, Password, Base, Filter string
	PageSize                            int
	Rules                               string // YAML mapping rules
	Store                               string // path of the new bbolt store
}

// source returns the source that reads the people sp names, asking for
// attrs.
func (sp *childSpec) source(attrs []string) (*ldap.Source, error) {
	return ldap.New(&ldap.Options{
		Name:              "bench",
		URL:               sp.URL,
		AllowInsecureBind: true,
		BindDN:            sp.BindDN,
		BindPassword:      ldap.Secret(sp.Password),
		Base:              sp.Base,
		Filter:            sp.Filter,
		Attributes:        attrs,
		PageSize:          sp.PageSize,
	})
}

// childResult is what the child measured.
type childResult struct {
	Entries     int            // people read
	Cards       map[string]int // cards per book
	Plan, Apply float64        // seconds
	// VmHWM is the peak resident set size of the child, in bytes.
	VmHWM int64
}

// runChild reads, maps and publishes as cmd/dirbook's sync does, and
// writes a childResult as JSON to stdout.
func runChild(ctx context.Context, spec string, stdout io.Writer) error {
	var sp childSpec
	if err := json.Unmarshal([]byte(spec), &sp); err != nil {
		return fmt.Errorf("%s: %w", childEnv, err)
	}
	m, err := compileRules(sp.Rules)
	if err != nil {
		return err
	}
	src, err := sp.source(attributes(m))
	if err != nil {
		return err
	}
	st, err := dirsync.Open(sp.Store, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	eng := dirsync.NewEngine(st, []dirsync.Source{src}, m, &dirsync.EngineOptions{
		LoginAttribute:  "uid",
		DirectoryLogins: true,
		Logger:          slog.New(slog.DiscardHandler),
	})
	start := time.Now()
	plan, err := eng.Plan(ctx)
	if err != nil {
		return err
	}
	defer plan.Close()
	planned := time.Now()
	rev, err := eng.Apply(ctx, plan)
	if err != nil {
		return err
	}
	res := childResult{
		Entries: plan.Entries,
		Cards:   map[string]int{},
		Plan:    planned.Sub(start).Seconds(),
		Apply:   time.Since(planned).Seconds(),
	}
	for _, b := range rev.Books {
		res.Cards[b.ID] = len(b.Cards)
	}
	status, err := benchmark.ProcStatus(os.Getpid())
	if err != nil {
		return err
	}
	res.VmHWM = status["VmHWM"] * 1024
	return json.NewEncoder(stdout).Encode(res)
}

// runChild runs this program as a child that publishes as sp says, and
// returns what it measured.
func (b *bench) runChild(ctx context.Context, sp *childSpec) (*childResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	if os.Getenv("GOMEMLIMIT") == "" {
		// What cmd/dirbook sets when neither its config nor the
		// environment says otherwise (memory_limit).
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+childMemoryLimit)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("publish: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res childResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("publish: output %q: %w", stdout.String(), err)
	}
	return &res, nil
}
