package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/crypto/bcrypt"
)

// Exit codes of dirbook. They are part of the interface for scripts and
// documented in README.md.
const (
	codeOK      = 0 // success; for sync: nothing to change
	codeError   = 1 // an error, printed on stderr
	codeChanges = 2 // sync: changes were applied, or would be with --dry-run
	codeRefused = 3 // sync: a safety rule refused the plan; nothing was published
	codeUsage   = 64
)

// exitError ends the program with a code and no further message.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

const usage = `dirbook turns a company directory into read-only CardDAV address books.

Usage:
  dirbook <command> [flags]

Commands:
  serve          sync on a schedule and serve the address books over CardDAV
  sync           read the directory once and publish the changes (--dry-run: only show them)
  check          validate the configuration and read the directory once
  show           preview one person: which books, why, and the exact vCards
  hash-password  read a password on stdin and print its bcrypt hash for app_passwords

Run "dirbook <command> --help" for the flags of a command.
`

// command is one subcommand of dirbook.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what every command gets from run.
type cmdEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// ready, if set, is called by serve with the base URL once it listens.
	ready func(url string)
}

var commands = []command{
	{"serve", "sync on a schedule and serve the address books over CardDAV", runServe},
	{"sync", "read the directory once and publish the changes", runSync},
	{"check", "validate the configuration and read the directory once", runCheck},
	{"show", "preview one person: their books, why, and the vCards they get", runShow},
	{"hash-password", "print the bcrypt hash of a password read from stdin", runHashPassword},
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runEnv(ctx, &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr}, args)
}

func runEnv(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, usage)
		return &exitError{codeUsage}
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(env.stdout, usage)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.stderr, "dirbook: unknown command %q\n\n%s", args[0], usage)
	return &exitError{codeUsage}
}

// flagSet makes the flag set of a command, with --help handled and usage
// errors reported the same way everywhere.
func flagSet(env *cmdEnv, name, synopsis, description string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: dirbook %s %s\n\n%s\n\nFlags:\n%s", name, synopsis, description, fs.FlagUsages())
	}
	return fs
}

// parseFlags parses args; --help prints usage on stdout and ends with
// exit 0, a bad flag prints usage and ends with exitUsage.
func parseFlags(env *cmdEnv, fs *pflag.FlagSet, args []string) error {
	if err := parseArgs(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "dirbook %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return &exitError{codeUsage}
	}
	return nil
}

// parseArgs parses args, leaving positional arguments to the caller.
func parseArgs(env *cmdEnv, fs *pflag.FlagSet, args []string) error {
	// pflag prints the usage itself for --help, to the output set here.
	fs.SetOutput(env.stdout)
	err := fs.Parse(args)
	fs.SetOutput(env.stderr)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return &exitError{codeOK}
	case err != nil:
		fmt.Fprintf(env.stderr, "dirbook %s: %v\n", fs.Name(), err)
		fs.Usage()
		return &exitError{codeUsage}
	}
	return nil
}

// commonFlags are the flags of the commands that load a configuration.
type commonFlags struct {
	config    *string
	newLogger func() (*slog.Logger, error)
}

func addCommonFlags(fs *pflag.FlagSet, env *cmdEnv) *commonFlags {
	return &commonFlags{
		config:    fs.StringP("config", "c", "", "configuration file (required)"),
		newLogger: logFlags(fs, env),
	}
}

// parse parses args and returns the logger the flags ask for.
func (c *commonFlags) parse(env *cmdEnv, fs *pflag.FlagSet, args []string) (*slog.Logger, error) {
	if err := parseFlags(env, fs, args); err != nil {
		return nil, err
	}
	if *c.config == "" {
		return nil, usageError(env, fs, "--config is required")
	}
	log, err := c.newLogger()
	if err != nil {
		return nil, usageError(env, fs, err.Error())
	}
	return log, nil
}

// logFlags adds the logging flags and returns a function that builds the logger.
func logFlags(fs *pflag.FlagSet, env *cmdEnv) func() (*slog.Logger, error) {
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	return func() (*slog.Logger, error) {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*level)); err != nil {
			return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", *level)
		}
		opts := &slog.HandlerOptions{Level: l}
		switch *format {
		case "text":
			return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
		}
		return nil, fmt.Errorf("--log-format %q: want text or json", *format)
	}
}

func runHashPassword(ctx context.Context, env *cmdEnv, args []string) error {
	fs := flagSet(env, "hash-password", "< password", "Reads one password from the first line of stdin and prints its bcrypt hash,\nfor the hash key of an app password. Passwords are never taken as flags.")
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	line, err := bufio.NewReader(env.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return errors.New("no password on stdin")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		return fmt.Errorf("hashing: %w", err)
	}
	fmt.Fprintln(env.stdout, string(hash))
	return nil
}
