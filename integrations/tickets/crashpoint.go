package tickets

// Crash points are the moments right after one durable step of a tracker
// mutation: the ticket written (or the issue created), a comment added,
// the ticket closed. A tracker calls its Crash hook there; the crash-point
// harness of the ticket round (activities/crash_test.go) fails or "kills"
// the first attempt at each point and checks that the retry ends with the
// tickets and comments of a run without failure, each once.
const (
	AtCreate  = "ticket/create"  // the new ticket written, or the issue created
	AtComment = "ticket/comment" // a comment added (a close's comment too)
	AtClose   = "ticket/close"   // the ticket marked closed
)

// CrashHook is the type of the trackers' Crash field: nil outside tests;
// an error it returns fails the mutation as a write error would.
type CrashHook func(point string) error

func (h CrashHook) reached(point string) error {
	if h == nil {
		return nil
	}
	return h(point)
}
