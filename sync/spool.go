package sync

import (
	"fmt"
	"os"
	"runtime"
	"sync"
)

// spoolMemory is how many bytes of card JSON a plan keeps in memory; the
// rest goes to its spool file. A first sync of 100,000 people with photos
// maps about 300 MB of cards, which the plan holds until they are
// published: on disk (in the page cache, not in the process), that costs
// no resident memory.
var spoolMemory int64 = 32 << 20

// spool keeps the canonical JSON of the cards of one plan: the first
// spoolMemory bytes in memory, the rest in a temporary file that is
// removed from its folder as soon as it is created, so that nothing is
// left behind even when the process is killed. It is safe for concurrent
// use.
type spool struct {
	mu   sync.Mutex
	mem  int64 // bytes kept in memory
	f    *os.File
	size int64 // bytes written to f
	err  error // the first error writing f; later cards stay in memory
}

// hold moves the JSON of enc to the spool file once the spool's memory
// share is used up.
func (s *spool) hold(enc *encoded) {
	n := int64(len(enc.json))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mem+n <= spoolMemory || s.err != nil {
		s.mem += n
		return
	}
	if s.f == nil {
		f, err := os.CreateTemp("", "dirbook-plan-*")
		if err != nil {
			s.err = err
			s.mem += n
			return
		}
		os.Remove(f.Name()) // Linux keeps the open file; elsewhere Close removes it
		s.f = f
	}
	if _, err := s.f.WriteAt(enc.json, s.size); err != nil {
		s.err = err
		s.mem += n
		return
	}
	enc.sp, enc.off, enc.n = s, s.size, len(enc.json)
	enc.json = nil
	s.size += n
}

// read returns n bytes at off of the spool file.
func (s *spool) read(off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("sync: read the plan's spool file: %w", err)
	}
	return b, nil
}

// close closes and removes the spool file, if any.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := s.f.Close()
	os.Remove(name)
	s.f = nil
	return err
}

// adopt makes s the spool of p: Close closes it, and so does the garbage
// collector once p is unreachable, should Close never be called.
func (p *Plan) adopt(s *spool) {
	p.spool = s
	runtime.AddCleanup(p, func(s *spool) { s.close() }, s)
}

// Close releases what the plan holds outside memory: the temporary file
// its cards went to when there were many. The plan can no longer be
// applied after.
func (p *Plan) Close() error {
	if p.spool == nil {
		return nil
	}
	if err := p.spool.close(); err != nil {
		return fmt.Errorf("sync: close the plan's spool file: %w", err)
	}
	return nil
}

// canonical returns the canonical JSON of the card enc.
func (enc *encoded) canonical() ([]byte, error) {
	if enc.sp != nil {
		return enc.sp.read(enc.off, enc.n)
	}
	return enc.json, nil
}
