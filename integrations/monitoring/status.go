package monitoring

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// status is what osflow reads of Nagios's status.dat: when it was written
// and the scheduled downtimes.
type status struct {
	created   int64 // info.created, seconds since the epoch
	downtimes []downtime
	// services are the hosts that have at least one service.
	services map[string]bool
}

// servicesOn says whether any of the hosts has a service.
func (s *status) servicesOn(hosts []downtime) bool {
	for _, h := range hosts {
		if s.services[h.Host] {
			return true
		}
	}
	return false
}

// of returns the downtimes of key whose comment holds scope ("" for all).
func (s *status) of(key, scope string) []downtime {
	var out []downtime
	for _, d := range s.downtimes {
		if hasMarker(d.Comment, key) && strings.Contains(d.Comment, scope) {
			out = append(out, d)
		}
	}
	return out
}

// readStatus reads a status.dat. Nagios replaces the file with rename(2)
// (it writes temp_file first), so a read never sees half a file.
func readStatus(path string) (*status, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("nagios status file %s does not exist: is Nagios running? (monitoring.nagios.statusFile is status_file in nagios.cfg)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("nagios status file: %w", err)
	}
	defer f.Close()
	st, err := parseStatus(f)
	if err != nil {
		return nil, fmt.Errorf("nagios status file %s: %w", path, err)
	}
	return st, nil
}

// parseStatus reads blocks of the form
//
//	hostdowntime {
//		host_name=node1
//		downtime_id=1
//		comment=...
//		}
//
// keeping the info block's created time and every downtime.
func parseStatus(r io.Reader) (*status, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20) // plugin output can be long
	st := &status{}
	var block string
	var fields map[string]string
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case block == "" && strings.HasSuffix(l, "{"):
			block, fields = strings.TrimSpace(strings.TrimSuffix(l, "{")), map[string]string{}
		case block == "":
			return nil, fmt.Errorf("line %d: %q outside a block", line, l)
		case l == "}":
			if err := st.add(block, fields); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			block = ""
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: %q is not key=value", line, l)
			}
			fields[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if block != "" {
		return nil, fmt.Errorf("block %s is not closed", block)
	}
	return st, nil
}

func (s *status) add(block string, f map[string]string) error {
	switch block {
	case "info":
		s.created, _ = strconv.ParseInt(f["created"], 10, 64)
	case "servicestatus":
		if s.services == nil {
			s.services = map[string]bool{}
		}
		s.services[f["host_name"]] = true
	case "hostdowntime", "servicedowntime":
		id, err := strconv.Atoi(f["downtime_id"])
		if err != nil {
			return fmt.Errorf("%s with downtime_id %q", block, f["downtime_id"])
		}
		s.downtimes = append(s.downtimes, downtime{Service: block == "servicedowntime", ID: id, Host: f["host_name"], Comment: f["comment"]})
	}
	return nil
}
