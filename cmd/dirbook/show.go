package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/mapping"
)

// errFound stops a source's read early: show has found the person, or
// check has read its sample.
var errFound = errors.New("found")

func runShow(ctx context.Context, env *cmdEnv, args []string) error {
	fs := flagSet(env, "show", "--config FILE <id|uid|dn|mail>", `Previews one person: which books they land in and why (which rule matched
or excluded them), which books they may read, and the exact vCard each
book's audience receives. Reads the directory; writes nothing.

The person is found by directory ID, DN, login attribute (auth.login_attribute)
or mail.`)
	version := fs.String("vcard-version", "3.0", "vCard version to show: 3.0 or 4.0")
	common := addCommonFlags(fs, env)
	if err := parseArgs(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(env, fs, "show needs exactly one person: an id, uid, DN or mail")
	}
	who := fs.Arg(0)
	if *version != "3.0" && *version != "4.0" {
		return usageError(env, fs, fmt.Sprintf("--vcard-version %q: want 3.0 or 4.0", *version))
	}
	if *common.config == "" {
		return usageError(env, fs, "--config is required")
	}
	cfg, err := LoadConfig(*common.config)
	if err != nil {
		return err
	}
	srcs, err := cfg.sources()
	if err != nil {
		return err
	}
	var found *dirbook.Entry
	for i, src := range srcs {
		err := src.Read(ctx, func(e *dirbook.Entry) error {
			if matchesPerson(e, who, cfg.Auth.LoginAttribute) {
				found = e
				return errFound
			}
			return nil
		})
		if err != nil && !errors.Is(err, errFound) {
			return fmt.Errorf("source %s: %w", cfg.Sources[i].Name, err)
		}
		if found != nil {
			break
		}
	}
	if found == nil {
		return fmt.Errorf("no person matches %q in any source", who)
	}
	return writeShow(env.stdout, cfg.mapper, found, *version)
}

// matchesPerson reports whether e is the person named by who.
func matchesPerson(e *dirbook.Entry, who, loginAttr string) bool {
	if e.ID == who || strings.EqualFold(e.First(loginAttr), who) {
		return true
	}
	if strings.Contains(who, "=") && dirbook.NormalizeDN(e.DN) == dirbook.NormalizeDN(who) {
		return true
	}
	for _, mail := range e.Values("mail") {
		if strings.EqualFold(mail, who) {
			return true
		}
	}
	return false
}

func writeShow(w io.Writer, m *mapping.Mapper, e *dirbook.Entry, version string) error {
	fmt.Fprintf(w, "person: %s\n", e.DN)
	fmt.Fprintf(w, "  id: %s\n  source: %s\n", orNone(e.ID), orNone(e.Source))
	if e.Kind != "" {
		fmt.Fprintf(w, "  kind: %s\n", e.Kind)
	}
	if e.Invalid != "" {
		fmt.Fprintf(w, "  unusable: %s\n", e.Invalid)
	}
	fmt.Fprintf(w, "  groups: %d\n", len(e.Groups))
	for _, g := range e.Groups {
		fmt.Fprintf(w, "    %s\n", g)
	}
	res := m.Map(e)
	books := map[string]dirbook.Book{}
	for _, b := range m.Books() {
		books[b.ID] = b
	}
	fmt.Fprintln(w, "\nbooks:")
	for _, d := range m.Explain(e) {
		in := "not in"
		if d.In {
			in = "in"
		}
		fmt.Fprintf(w, "  %s (%s): %s\n    why: %s\n", d.Book, books[d.Book].Name, in, d.Why)
		read := "may not read"
		if d.Readable {
			read = "may read"
		}
		fmt.Fprintf(w, "    as a reader: %s: %s\n", read, d.ReadWhy)
	}
	if len(res.Warnings) > 0 {
		fmt.Fprintln(w, "\nwarnings:")
		for _, warn := range res.Warnings {
			fmt.Fprintf(w, "  %s: %s\n", warn.Field, warn.Message)
		}
	}
	for _, b := range m.Books() {
		card := res.Cards[b.ID]
		if card == nil {
			continue
		}
		data, err := mapping.Encode(card, version)
		if err != nil {
			return fmt.Errorf("rendering the card of book %s: %w", b.ID, err)
		}
		fmt.Fprintf(w, "\nvCard %s for the audience of %s (%s):\n", version, b.ID, b.Name)
		w.Write([]byte(strings.ReplaceAll(string(data), "\r\n", "\n")))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
