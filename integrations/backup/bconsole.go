package backup

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/osflow/osflow/integrations/failure"
)

// This file reads bconsole's output. bconsole has no machine format in
// Bacula 9.6 that covers every command, so osflow reads the same text an
// operator does, strictly: a value it cannot read is an error, never a
// default.

var (
	queuedRE = regexp.MustCompile(`(?m)^Job (?:queued|started)\. JobId=([0-9]+)\s*$`)
	fieldRE  = regexp.MustCompile(`^\s*([A-Za-z]+): ?(.*)$`)
)

// parseRun reads the JobId from the answer to "run job=... yes".
func parseRun(out string) (int, error) {
	if err := consoleError(out); err != nil {
		return 0, err
	}
	m := queuedRE.FindAllStringSubmatch(out, -1)
	if len(m) != 1 {
		return 0, fmt.Errorf("bconsole run: no JobId in its answer: %s", tail(out))
	}
	id, err := strconv.Atoi(m[0][1])
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("bconsole run: bad JobId %q", m[0][1])
	}
	return id, nil
}

// parseLlist reads the jobs of an "llist jobid=N" or "llist job=NAME":
// blocks of "Key: value" lines, each starting with JobId.
func parseLlist(out string) ([]Job, error) {
	if err := consoleError(out); err != nil {
		return nil, err
	}
	var jobs []Job
	var cur *Job
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		m := fieldRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue // banner, echoed command, "Using Catalog", blank lines
		}
		key, val := m[1], strings.TrimSpace(m[2])
		if key == "JobId" {
			id, err := strconv.Atoi(val)
			if err != nil || id <= 0 {
				return nil, fmt.Errorf("bconsole llist: bad JobId %q", val)
			}
			jobs = append(jobs, Job{ID: id})
			cur = &jobs[len(jobs)-1]
			continue
		}
		if cur == nil {
			continue // "Automatically selected Catalog: MyCatalog" and the like
		}
		if err := cur.set(key, val); err != nil {
			return nil, fmt.Errorf("bconsole llist: JobId %d: %w", cur.ID, err)
		}
	}
	for _, j := range jobs {
		if j.Status == "" {
			return nil, fmt.Errorf("bconsole llist: JobId %d has no JobStatus", j.ID)
		}
	}
	return jobs, nil
}

func (j *Job) set(key, val string) error {
	num := func(dst *int64) error {
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return fmt.Errorf("%s %q is not a number", key, val)
		}
		*dst = n
		return nil
	}
	switch key {
	case "Name":
		j.Name = val
	case "Level":
		j.Level = val
	case "Comment":
		j.Comment = val
	case "JobStatus":
		if !succeeded[val] && !failed[val] && !running[val] {
			return fmt.Errorf("%w: JobStatus %q is not one osflow knows", failure.ErrInvalid, val)
		}
		j.Status = val
	case "JobFiles":
		return num(&j.Files)
	case "JobBytes":
		return num(&j.Bytes)
	case "JobErrors":
		var n int64
		if err := num(&n); err != nil {
			return err
		}
		j.Errors = int(n)
	}
	return nil
}

// consoleError recognises the answers that mean the command was not done.
func consoleError(out string) error {
	switch {
	case strings.Contains(out, "Director authorization problem"), strings.Contains(out, "Authorization problem"):
		return fmt.Errorf("%w: the Director refused bconsole's password: %s", failure.ErrAuth, tail(out))
	case regexp.MustCompile(`Job "[^"]*" not found`).MatchString(out):
		m := regexp.MustCompile(`Job "[^"]*" not found`).FindString(out)
		return fmt.Errorf("%w: the Director says %s (backup.bacula.job names a Job resource of bacula-dir.conf)", failure.ErrNotFound, m)
	case strings.Contains(out, "Select Job resource"), strings.Contains(out, "Expected a positive integer"):
		return fmt.Errorf("%w: bconsole asked a question instead of running the command: %s", failure.ErrInvalid, tail(out))
	}
	return nil
}

// tail is the end of an output, for error messages.
func tail(out string) string {
	out = strings.TrimSpace(out)
	lines := strings.Split(out, "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, " | ")
}
