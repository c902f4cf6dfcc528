package starter

import (
	"fmt"
	"strings"
	"time"

	// Zone names in --window-start resolve on hosts without
	// /usr/share/zoneinfo (minimal containers) too.
	_ "time/tzdata"
)

// windowTime reads a window time: RFC 3339 with its offset, "now", "+2h"
// (from now), "2006-01-02 15:04 ZONE" with an IANA zone name or UTC, or
// "2006-01-02 15:04" in local, the zone an approver's machine is in (TZ):
// an approver in another zone than the cluster writes the zone out.
func windowTime(s string, now time.Time, local *time.Location) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, nil
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "+"):
		d, err := time.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %w", s, err)
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04", s, local); err == nil {
		return t, nil
	}
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		if _, err := time.Parse("2006-01-02 15:04", s[:i]); err == nil {
			zone := s[i+1:]
			loc, err := time.LoadLocation(zone)
			if err != nil || zone == "" || zone == "Local" {
				return time.Time{}, fmt.Errorf("%q: no time zone %q: use an IANA name such as Europe/Berlin, or UTC", s, zone)
			}
			return time.ParseInLocation("2006-01-02 15:04", s[:i], loc)
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-12-03T20:00:00+01:00), \"2026-12-03 20:00 Europe/Berlin\", \"2026-12-03 20:00 UTC\", \"2026-12-03 20:00\" (local zone %s), \"now\" or \"+2h\"", s, local)
}

// windowText shows a window time in UTC and, when it differs, in local.
func windowText(t time.Time, local *time.Location) string {
	utc := t.UTC().Format("2006-01-02 15:04 MST")
	if l := t.In(local); l.Format("-0700 MST") != t.UTC().Format("-0700 MST") {
		return utc + " (" + l.Format("2006-01-02 15:04 MST") + ")"
	}
	return utc
}
