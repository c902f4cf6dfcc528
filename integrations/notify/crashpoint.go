package notify

// A crash point is the moment right after one durable step of a Send: a
// channel took the message ("notify/<channel>/sent"), or its delivery was
// journaled ("notify/<channel>/recorded"). The crash-point harness
// (crashpoint_test.go) fails or "kills" the first attempt at each point
// and checks that the retry sends each channel the message once, the one
// exception being a death at "sent" (see the package comment).
func pointSent(name string) string     { return "notify/" + name + "/sent" }
func pointRecorded(name string) string { return "notify/" + name + "/recorded" }

// reached is called right after a durable step; outside tests it does
// nothing.
func (m *Multi) reached(point string) error {
	if m.crash == nil {
		return nil
	}
	return m.crash(point)
}
