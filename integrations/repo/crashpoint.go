package repo

// A crash point is the moment right after one durable step of a store
// operation: the state a process killed there leaves on disk. Each
// operation calls s.reached(point) after every such step, and the
// crash-point harness (crashpoint_test.go) fails or "kills" the first
// attempt at each point in turn and checks that the retry ends where a run
// without failure ends, recorded once and reported truly.
//
// To cover a new operation: name its points here, call s.reached after
// each durable step (an error it returns must fail the operation as any
// I/O error would), list them in crashPoints under the operation's name,
// and add a case to the harness that runs the operation and states the
// expected end.
type crashPoint string

const (
	// A switch (Switch, Rollback and the switches of ApplyBypass).
	atSwitchIntent  crashPoint = "switch/intent"  // intent line appended to the channel log
	atSwitchPrev    crashPoint = "switch/prev"    // <channel>.prev renamed
	atSwitchLink    crashPoint = "switch/link"    // <channel> renamed
	atSwitchDirSync crashPoint = "switch/dirsync" // channels/ fsynced
	atSwitchFreeze  crashPoint = "switch/freeze"  // freeze record moved along (through a freeze only)
	atSwitchLog     crashPoint = "switch/log"     // outcome appended to the channel log

	// A freeze or unfreeze (SetFreeze).
	atFreezeIntent crashPoint = "freeze/intent" // intent line appended
	atFreezeRecord crashPoint = "freeze/record" // <channel>.freeze written or removed
	atFreezeLog    crashPoint = "freeze/log"    // outcome appended

	// Release creation (CreateRelease, and the release part of PublishRelease).
	atReleaseRecord  crashPoint = "release/record"  // releases/<id>.json written
	atReleaseDir     crashPoint = "release/dir"     // releases/<id>/ renamed into place
	atReleaseDirSync crashPoint = "release/dirsync" // releases/ fsynced
)

// crashPoints lists, per operation, its points in the order a run passes
// them: the one place the harness enumerates.
func crashPoints(op string) []crashPoint {
	switch op {
	case "switch":
		return []crashPoint{atSwitchIntent, atSwitchPrev, atSwitchLink, atSwitchDirSync, atSwitchFreeze, atSwitchLog}
	case "freeze":
		return []crashPoint{atFreezeIntent, atFreezeRecord, atFreezeLog}
	case "release":
		return []crashPoint{atReleaseRecord, atReleaseDir, atReleaseDirSync}
	}
	return nil
}

// reached is called right after a durable step; outside tests it does
// nothing.
func (s *Store) reached(p crashPoint) error {
	if s.crash == nil {
		return nil
	}
	return s.crash(p)
}
