package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promcollectors "github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/carddav"
	dirsync "github.com/dirbook/dirbook/sync"
)

// The store is what the CardDAV side reads.
var _ carddav.Store = (*dirsync.Store)(nil)

// app is the wired program for one configuration.
type app struct {
	cfg    *Config
	store  *dirsync.Store
	engine *dirsync.Engine
}

// openApp loads the configuration and opens the store; readOnly opens it
// shared, for dry runs beside a running server.
func openApp(path string, readOnly bool, log *slog.Logger, progress func(dirsync.Progress)) (*app, error) {
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	applyMemoryLimit(cfg)
	srcs, err := cfg.sources()
	if err != nil {
		return nil, err
	}
	var st *dirsync.Store
	if readOnly {
		st, err = dirsync.OpenReadOnly(cfg.resolve(cfg.Store.Path), nil)
	} else {
		st, err = dirsync.Open(cfg.resolve(cfg.Store.Path), &dirsync.StoreOptions{HistoryRetention: cfg.Sync.HistoryRetention})
	}
	if err != nil {
		return nil, err
	}
	users := make([]dirsync.User, len(cfg.Auth.AppPasswords))
	for i, ap := range cfg.Auth.AppPasswords {
		users[i] = dirsync.User{Login: ap.User, Person: ap.Person}
	}
	eng := dirsync.NewEngine(st, srcs, cfg.mapper, &dirsync.EngineOptions{
		Users:            users,
		LoginAttribute:   cfg.Auth.LoginAttribute,
		DirectoryLogins:  cfg.Auth.LDAP != nil,
		Logger:           log,
		MaxRemovals:      cfg.Sync.MaxRemovals,
		MaxRemovalShare:  cfg.Sync.MaxRemovalShare,
		Progress:         progress,
		RulesFingerprint: cfg.rulesFingerprint(),
	})
	return &app{cfg: cfg, store: st, engine: eng}, nil
}

func runCheck(ctx context.Context, env *cmdEnv, args []string) error {
	fs := flagSet(env, "check", "--config FILE [--probe[=N]]", `Validates the configuration (every problem at once, with file, line and key)
and reads the directory once, warning about rules that match nobody and
attributes the rules read that no entry has. With --probe=N, only the first
N entries of each source are read: a quick look at a large directory.
Exit status 0 when the configuration is valid and the directory readable
(warnings included), 1 otherwise.`)
	configPath := fs.StringP("config", "c", "", "configuration file (required)")
	probe := fs.Int("probe", 0, "read only a sample of N entries per source (--probe alone: 1000)")
	fs.Lookup("probe").NoOptDefVal = "1000"
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if *configPath == "" {
		return usageError(env, fs, "--config is required")
	}
	if *probe < 0 {
		return usageError(env, fs, "--probe wants a positive number of entries")
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintln(env.stdout, p)
			}
			fmt.Fprintf(env.stdout, "%d problem(s)\n", len(ce.Problems))
			return &exitError{codeError}
		}
		return err
	}
	m := cfg.mapper
	srcs, err := cfg.sources()
	if err != nil {
		return err
	}
	var people, invalid int
	inBook := map[string]int{}
	readers := map[string]int{}
	seen := map[string]bool{}
	for i, src := range srcs {
		n := 0
		err := src.Read(ctx, func(e *dirbook.Entry) error {
			if e.Invalid != "" {
				invalid++
				fmt.Fprintf(env.stdout, "warning: source %s: %s: %s\n", cfg.Sources[i].Name, e.DN, e.Invalid)
				return nil
			}
			people++
			for name := range e.Attrs {
				seen[name] = true
			}
			for id := range m.Map(e).Cards {
				inBook[id]++
			}
			for _, id := range m.Readable(e) {
				readers[id]++
			}
			if n++; *probe > 0 && n >= *probe {
				return errFound
			}
			return nil
		})
		if err != nil && !errors.Is(err, errFound) {
			fmt.Fprintf(env.stdout, "source %s: %v\n", cfg.Sources[i].Name, err)
			return &exitError{codeError}
		}
	}
	sample := ""
	if *probe > 0 {
		sample = " in the sample"
	}
	for _, attr := range m.Attributes() {
		if !seen[strings.ToLower(attr)] {
			fmt.Fprintf(env.stdout, "warning: no entry%s has the attribute %s that the rules read\n", sample, attr)
		}
	}
	for _, b := range m.Books() {
		if inBook[b.ID] == 0 {
			fmt.Fprintf(env.stdout, "warning: book %s: include matches nobody%s\n", b.ID, sample)
		}
		if readers[b.ID] == 0 {
			fmt.Fprintf(env.stdout, "warning: book %s: readers matches nobody%s (app-password logins see it only if their person matches)\n", b.ID, sample)
		}
	}
	fmt.Fprintf(env.stdout, "OK: %d source(s), %d book(s), %d people read", len(srcs), len(m.Books()), people)
	if invalid > 0 {
		fmt.Fprintf(env.stdout, ", %d unusable", invalid)
	}
	fmt.Fprintln(env.stdout)
	return nil
}

func usageError(env *cmdEnv, fs *pflag.FlagSet, msg string) error {
	fmt.Fprintf(env.stderr, "dirbook: %s\n", msg)
	fs.Usage()
	return &exitError{codeUsage}
}

func runSync(ctx context.Context, env *cmdEnv, args []string) error {
	fs := flagSet(env, "sync", "--config FILE [--dry-run] [--verbose] [--format text|json] [--force | --approve PLAN-ID]", `Reads the directory once, maps it, and publishes the changes as a new
revision. With --dry-run it prints what would change, per book and person
(with --verbose: per field), and writes nothing; it works beside a running
"dirbook serve". --format json prints the plan as JSON (schema in
docs/sync.md).

A plan that removes more than sync.max_removal_share of a book (default
10 %) or more than sync.max_removals people is refused as a whole and
nothing is published. Review it with --dry-run, then let exactly that plan
through with --approve PLAN-ID, or any plan with --force.

Exit status: 0 nothing to change, 2 changes applied (or, with --dry-run,
found), 3 refused by a safety rule, 1 error.`)
	dryRun := fs.BoolP("dry-run", "n", false, "show what would change and write nothing")
	verbose := fs.BoolP("verbose", "v", false, "show field-level changes (old and new values)")
	format := fs.String("format", "text", "output format: text or json")
	force := fs.Bool("force", false, "publish even if a safety rule refuses the plan")
	approve := fs.String("approve", "", "publish the refused plan with this ID (from a dry run)")
	common := addCommonFlags(fs, env)
	log, err := common.parse(env, fs, args)
	if err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usageError(env, fs, fmt.Sprintf("--format %q: want text or json", *format))
	}
	if *force && *approve != "" {
		return usageError(env, fs, "--force and --approve exclude each other")
	}
	var progress func(dirsync.Progress)
	if isTerminal(env.stderr) && *format == "text" {
		progress = terminalProgress(env.stderr)
	}
	a, err := openApp(*common.config, *dryRun, log, progress)
	if err != nil {
		return err
	}
	defer a.store.Close()
	plan, err := a.engine.Plan(ctx)
	if plan != nil {
		defer plan.Close()
	}
	if err != nil {
		if errors.Is(err, dirbook.ErrRefused) {
			fmt.Fprintf(env.stderr, "dirbook: %v\n", err)
			return &exitError{codeRefused}
		}
		return err
	}
	if *format == "json" {
		err = plan.WriteJSON(env.stdout)
	} else {
		err = plan.WriteTextWith(env.stdout, &dirsync.WriteTextOptions{Verbose: *verbose})
	}
	if err != nil {
		return err
	}
	if plan.Empty() {
		return nil
	}
	if *dryRun {
		if *format == "text" {
			fmt.Fprintln(env.stdout, "dry run: nothing was written")
		}
		if plan.Refusal() != nil {
			return &exitError{codeRefused}
		}
		return &exitError{codeChanges}
	}
	rev, err := a.engine.ApplyWith(ctx, plan, &dirsync.ApplyOptions{Force: *force, ApprovedID: *approve})
	if errors.Is(err, dirbook.ErrRefused) {
		fmt.Fprintf(env.stderr, "dirbook: %v\nReview the plan with --dry-run, then publish it with --approve %s (or --force).\n", err, plan.ID())
		return &exitError{codeRefused}
	}
	if err != nil {
		return err
	}
	if *format == "text" {
		fmt.Fprintf(env.stdout, "published revision %d\n", rev.Number)
	}
	return &exitError{codeChanges}
}

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	fs := flagSet(env, "serve", "--config FILE [--listen ADDR]", `Syncs the directory at start and then every sync.interval, and serves the
published address books over read-only CardDAV meanwhile. A failed sync
leaves the last published revision serving. Stops cleanly on SIGINT or
SIGTERM.`)
	listen := fs.String("listen", "", "address to listen on, overriding the config's listen (port 0 picks a free port)")
	common := addCommonFlags(fs, env)
	log, err := common.parse(env, fs, args)
	if err != nil {
		return err
	}
	a, err := openApp(*common.config, false, log, nil)
	if err != nil {
		return err
	}
	defer a.store.Close()

	auth, err := newLogins(a.cfg)
	if err != nil {
		return err
	}
	addr := a.cfg.Listen
	if *listen != "" {
		addr = *listen
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	handler := carddav.NewHandler(a.store, auth, &carddav.Options{Logger: log})
	if a.cfg.MetricsListen != "" {
		stopMetrics, err := serveMetrics(a.cfg.MetricsListen, handler.Collectors(), log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics()
	}

	// The first sync runs before serving starts, so a client never sees an
	// empty book on a fresh store; a failure keeps the last revision.
	// After each publish the changed cards are rendered ahead of the
	// phones that will ask for them.
	warm := make(chan *dirbook.Revision, 1)
	sched := dirsync.NewScheduler(a.engine, &dirsync.SchedulerOptions{
		Interval:          a.cfg.Sync.Interval,
		Watch:             a.cfg.Sync.Mode != "poll",
		ReconcileInterval: a.cfg.Sync.ReconcileInterval,
		Logger:            log,
		OnPublish:         func(rev *dirbook.Revision) { offer(warm, rev) },
	})
	// The admin endpoint shares the listener and the logins with CardDAV:
	// its callers are people with a login, and the rate limit of failed
	// logins covers both.
	admin := newAdminHandler(a.cfg, auth, sched, a.store, log)
	// No WriteTimeout: a whole-book multiget streams tens of megabytes to
	// a slow phone; the handler bounds what it reads instead.
	srv := &http.Server{
		Handler:           withAdmin(admin, handler),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	sched.Once(ctx) // logs its own outcome
	// The cards the cache can hold are rendered before serving starts
	// (bounded by the cache's budget: about a second), so that the first
	// phones are not slowed down by that rendering.
	handler.Warm(ctx, a.store.Current())
	warmDone := make(chan struct{})
	go func() {
		defer close(warmDone)
		for {
			select {
			case <-ctx.Done():
				return
			case rev := <-warm:
				handler.Warm(ctx, rev)
			}
		}
	}()

	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(env.stdout, "dirbook: serving CardDAV at %s\n", url)
	if logins := loginNames(a.cfg); logins != "" {
		fmt.Fprintf(env.stdout, "dirbook: logins: %s (the demo's passwords are in README.md)\n", logins)
	}
	if env.ready != nil {
		env.ready(url)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// SIGHUP asks for a sync now, e.g. after an HR change.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: syncing now")
				sched.Trigger()
			}
		}
	}()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		sched.Run(ctx) // ends with ctx; errors are logged by the scheduler
	}()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	<-loopDone
	<-runDone
	<-warmDone
	log.Info("stopped")
	return err
}

// serveMetrics serves /metrics on addr until the returned function is called.
func serveMetrics(addr string, collectors []prometheus.Collector, log *slog.Logger) (func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors...)
	reg.MustRegister(promcollectors.NewGoCollector(), promcollectors.NewProcessCollector(promcollectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return func() { srv.Close() }, nil
}

// offer puts rev in the one-slot channel c, replacing an older revision
// still waiting there: only the newest revision is worth warming.
func offer(c chan *dirbook.Revision, rev *dirbook.Revision) {
	for {
		select {
		case c <- rev:
			return
		default:
		}
		select {
		case <-c:
		default:
		}
	}
}

func loginNames(cfg *Config) string {
	var names []string
	seen := map[string]bool{}
	for _, ap := range cfg.Auth.AppPasswords {
		if !seen[ap.User] {
			names = append(names, ap.User)
			seen[ap.User] = true
		}
	}
	return strings.Join(names, ", ")
}
