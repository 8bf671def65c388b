package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dirbook/dirbook/internal/benchmark"
	"golang.org/x/crypto/bcrypt"
)

// The login and book of every server.
const (
	benchUser = "bench"
	benchBook = "people"
)

// benchPassword is the app password of benchUser, new for every run.
var benchPassword = func() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// process is a server the run started.
type process struct {
	name string
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	out  bytes.Buffer // stderr, and stdout after the ready line
	done chan struct{}
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out.Len() < 1<<20 {
		p.out.Write(b)
	}
	return len(b), nil
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop kills the process and waits for it.
func (p *process) stop() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// start starts cmd and waits until ready finds the server's base URL in a
// line of its stdout (or, when ready is nil, until probe answers).
func (b *bench) start(ctx context.Context, name string, cmd *exec.Cmd, ready func(line string) (string, bool), probe string) (*process, error) {
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = p
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	b.procs = append(b.procs, p)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if !found && ready != nil {
				if u, ok := ready(sc.Text()); ok {
					found = true
					urls <- u
					continue
				}
			}
			p.Write(append(sc.Bytes(), '\n'))
		}
		io.Copy(p, stdout)
		cmd.Wait()
		close(p.done)
	}()
	if ready == nil {
		// The server is ready when it answers HTTP at all. The probing
		// ends with the process or ctx at the latest.
		go func() {
			for {
				if resp, err := http.Get(probe); err == nil {
					resp.Body.Close()
					urls <- probe
					return
				}
				select {
				case <-p.done:
					return
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
	}
	select {
	case p.url = <-urls:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s ended before serving:\n%s", name, p.output())
	case <-time.After(5 * time.Minute):
		return nil, fmt.Errorf("%s did not serve within 5 minutes:\n%s", name, p.output())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// buildDirbook builds cmd/dirbook into dir and returns its path and the
// commit it was built from.
func buildDirbook(ctx context.Context, dir string) (string, string, error) {
	bin := filepath.Join(dir, "dirbook")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/dirbook/dirbook/cmd/dirbook")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	ver := "unknown"
	if out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output(); err == nil {
		ver = strings.TrimSpace(string(out))
	}
	return bin, ver, nil
}

func (b *bench) startDirbook(ctx context.Context, dir string) (*process, error) {
	cmd := exec.CommandContext(ctx, b.dirbookBin, "serve", "--config", filepath.Join(dir, "dirbook.yaml"), "--listen", "127.0.0.1:0", "--log-level", "warn")
	return b.start(ctx, "dirbook serve", cmd, func(line string) (string, bool) {
		return strings.CutPrefix(line, "dirbook: serving CardDAV at ")
	}, "")
}

func lookRadicale(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not installed (Debian package radicale): %w", name, err)
	}
	return p, nil
}

func radicaleVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// startRadicale fills a Radicale storage folder with the cards (file name
// → vCard) as one address book of benchUser and serves it on a free
// loopback port, with plain htpasswd authentication.
func (b *bench) startRadicale(ctx context.Context, dir string, cards map[string]string) (*process, error) {
	book := filepath.Join(dir, "collections", "collection-root", benchUser, benchBook)
	if err := os.MkdirAll(book, 0o755); err != nil {
		return nil, err
	}
	props := `{"tag": "VADDRESSBOOK", "D:displayname": "People"}`
	if err := os.WriteFile(filepath.Join(book, ".Radicale.props"), []byte(props), 0o644); err != nil {
		return nil, err
	}
	for name, card := range cards {
		if err := os.WriteFile(filepath.Join(book, name), []byte(card), 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(benchUser+":"+benchPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// max_connections 32 lets every client of the poll measurements in
	// at once (the default is 8).
	config := fmt.Sprintf(`[server]
hosts = 127.0.0.1:%d
max_connections = 32

[auth]
type = htpasswd
htpasswd_filename = %s
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = %s

[web]
type = none

[logging]
level = warning
mask_passwords = True
`, port, filepath.Join(dir, "users"), filepath.Join(dir, "collections"))
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, b.opts.radicale, "--config", cfg)
	return b.start(ctx, "radicale", cmd, nil, "http://127.0.0.1:"+strconv.Itoa(port)+"/")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startBare runs this program again as the bare handler, in a process of
// its own like the other servers.
func (b *bench) startBare(ctx context.Context, bodies map[pollKind][]byte) (*process, error) {
	dir := filepath.Join(b.dir, "bare")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for k, body := range bodies {
		if err := os.WriteFile(filepath.Join(dir, string(k)+".xml"), body, 0o644); err != nil {
			return nil, err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-bare-serve", dir)
	return b.start(ctx, "bare handler", cmd, func(line string) (string, bool) {
		return strings.CutPrefix(line, "serving ")
	}, "")
}

// serveBare answers every request with the fixed 207 body of its kind:
// REPORT gets the sync-collection answer, anything else the PROPFIND one.
func serveBare(ctx context.Context, dir string, stdout io.Writer) error {
	propfind, err := os.ReadFile(filepath.Join(dir, string(pollCTag)+".xml"))
	if err != nil {
		return err
	}
	report, err := os.ReadFile(filepath.Join(dir, string(pollSync)+".xml"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			body := propfind
			if r.Method == "REPORT" {
				body = report
			}
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusMultiStatus)
			w.Write(body)
		}),
	}
	fmt.Fprintf(stdout, "serving http://%s/\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writeDirectory writes an LDIF directory of n people, all in one book,
// and the dirbook configuration serving it to benchUser, with its
// Prometheus metrics on metrics (host:port).
func writeDirectory(dir string, n int, photos bool, metrics string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcrypt.MinCost)
	if err != nil {
		return err
	}
	photoRef := ""
	if photos {
		photoRef = ", photo"
	}
	config := fmt.Sprintf(`listen: 127.0.0.1:0
metrics_listen: %s
store:
  path: dirbook.db
sources:
  - name: bench
    ldif: people.ldif
    base: dc=bench,dc=example
    filter: (objectClass=inetOrgPerson)
    id_attribute: entryUUID
sync:
  interval: 24h
auth:
  login_attribute: uid
  app_passwords:
    - user: %s
      person: p0000000
      hash: %q
mapping:
  phone_region: DE
  fields:
%s  books:
    - id: %s
      name: People
      description: Everyone
      include:
        has: [mail]
      readers:
        has: [uid]
      fields: [fn, n, org, title, email, work_phone, mobile%s]
`, metrics, benchUser, hash, benchmark.Fields("    ", photos), benchBook, photoRef)
	if err := os.WriteFile(filepath.Join(dir, "dirbook.yaml"), []byte(config), 0o644); err != nil {
		return err
	}

	f, err := os.Create(filepath.Join(dir, "people.ldif"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var pics []string
	if photos {
		pics = benchmark.Photos(256)
	}
	for i := range n {
		writePerson(w, i, pics)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var (
	givenNames = []string{"Anna", "Jürgen", "Zoë", "Øyvind", "Maria", "Paul", "Fatma", "Lukas", "Sofia", "Mehmet", "Léa", "Jan", "Emma", "Noah", "Mia", "Ben"}
	surnames   = []string{"Schmidt", "Müller", "Lefèvre", "Hansen", "Yılmaz", "Weber", "Nowak", "García", "Fischer", "Becker", "Dubois", "Rossi", "Kowalski", "Jensen", "Wagner", "Öztürk"}
	units      = []string{"Engineering", "Sales", "Finance", "Support", "Research", "Legal", "Marketing", "Operations"}
	titles     = []string{"Engineer", "Senior Engineer", "Account Manager", "Controller", "Support Specialist", "Scientist", "Counsel", "Team Lead"}
)

func writePerson(w *bufio.Writer, i int, pics []string) {
	given := givenNames[i%len(givenNames)]
	sur := surnames[(i/len(givenNames))%len(surnames)]
	attr := func(name, value string) {
		if safeLDIF(value) {
			fmt.Fprintf(w, "%s: %s\n", name, value)
		} else {
			fmt.Fprintf(w, "%s:: %s\n", name, base64.StdEncoding.EncodeToString([]byte(value)))
		}
	}
	uid := fmt.Sprintf("p%07d", i)
	fmt.Fprintf(w, "dn: uid=%s,ou=people,dc=bench,dc=example\n", uid)
	attr("objectClass", "inetOrgPerson")
	attr("uid", uid)
	attr("cn", given+" "+sur)
	attr("sn", sur)
	attr("givenName", given)
	attr("o", "Nordlicht GmbH")
	attr("ou", units[i%len(units)])
	attr("title", titles[(i/3)%len(titles)])
	attr("mail", fmt.Sprintf("%s.%s.%d@nordlicht.example", asciiLower(given), asciiLower(sur), i))
	attr("telephoneNumber", fmt.Sprintf("030 %08d", 20000000+i))
	attr("mobile", fmt.Sprintf("0151 %08d", 10000000+i))
	attr("entryUUID", fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i, i%0xffff, i%0xfff, (i*7)%0xfff, i*2654435761%(1<<48)))
	if pics != nil {
		fmt.Fprintf(w, "jpegPhoto:: %s\n", pics[i%len(pics)])
	}
	w.WriteString("\n")
}

// safeLDIF reports whether v may be written as an LDIF SAFE-STRING.
func safeLDIF(v string) bool {
	if v == "" || v[0] == ' ' || v[0] == ':' || v[0] == '<' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= utf8.RuneSelf || c == 0 || c == '\n' || c == '\r' {
			return false
		}
	}
	return true
}

// asciiLower spells a name in lower-case ASCII, for mail addresses.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r
		}
		return -1
	}, mailSpelling.Replace(strings.ToLower(s)))
}

var mailSpelling = strings.NewReplacer("ü", "ue", "ö", "oe", "ø", "oe", "ë", "e", "è", "e", "é", "e", "ı", "i", "í", "i", "ç", "c", "á", "a")

// unescapeName returns the file name a card's href ends in.
func unescapeName(href string) string {
	name := href[strings.LastIndexByte(href, '/')+1:]
	if u, err := url.PathUnescape(name); err == nil {
		return u
	}
	return name
}
