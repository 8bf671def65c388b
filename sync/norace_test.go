//go:build !race

package sync

// raceEnabled reports a build with the race detector.
const raceEnabled = false
