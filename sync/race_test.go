//go:build race

package sync

// raceEnabled reports a build with the race detector, which slows the
// crash test's processes down several times.
const raceEnabled = true
