package monitoring

// Crash points are the moments right after one durable step of a silence
// or its end: Alertmanager took a silence or expired one, a batch of
// commands is in Nagios's command FIFO. Each silencer calls its crash hook
// (nil outside tests) there; the harness (crashpoint_test.go) fails or
// "kills" the first attempt at each point and checks that the retry ends
// with one silence per target, or none left, as a run without failure.
const (
	atAMCreate      = "silence/alertmanager/create" // POST /api/v2/silences answered
	atAMExpire      = "silence/alertmanager/expire" // DELETE /api/v2/silence/{id} answered
	atNagiosWritten = "silence/nagios/written"      // SCHEDULE_* commands written
	atNagiosDeleted = "silence/nagios/deleted"      // DEL_* commands written
)

type crashHook func(point string) error

func (h crashHook) reached(point string) error {
	if h == nil {
		return nil
	}
	return h(point)
}
