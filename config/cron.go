package config

import (
	"fmt"
	"strconv"
	"strings"
)

// cronField is one field of a five-field cron expression.
type cronField struct {
	name   string
	lo, hi int
	names  []string // names[i] stands for lo+i
}

var cronFields = [5]cronField{
	{name: "minute", lo: 0, hi: 59},
	{name: "hour", lo: 0, hi: 23},
	{name: "day of month", lo: 1, hi: 31},
	{name: "month", lo: 1, hi: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	// 7 is Sunday too, as in Vixie cron and Temporal's cron strings.
	{name: "day of week", lo: 0, hi: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// checkCron validates a standard five-field cron expression
// (minute hour day-of-month month day-of-week), where each field is a comma
// list of "*", "N" or "N-M", each optionally followed by "/STEP". Months and
// weekdays may be given by their three-letter English names.
func checkCron(expr string) error {
	fields := strings.Fields(expr)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("cron %q has %d fields, want 5 (minute hour day-of-month month day-of-week)", expr, len(fields))
	}
	for i, f := range fields {
		if err := cronFields[i].check(f); err != nil {
			return fmt.Errorf("cron %q: %s field %q: %w", expr, cronFields[i].name, f, err)
		}
	}
	return nil
}

func (cf cronField) check(field string) error {
	for item := range strings.SplitSeq(field, ",") {
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 {
				return fmt.Errorf("step %q is not a positive number", step)
			}
		}
		if rng == "*" {
			continue
		}
		a, b, isRange := strings.Cut(rng, "-")
		lo, err := cf.value(a)
		if err != nil {
			return err
		}
		if !isRange {
			continue
		}
		hi, err := cf.value(b)
		if err != nil {
			return err
		}
		if lo > hi {
			return fmt.Errorf("range %s runs backwards", rng)
		}
	}
	return nil
}

func (cf cronField) value(s string) (int, error) {
	for i, n := range cf.names {
		if strings.EqualFold(s, n) {
			return cf.lo + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < cf.lo || n > cf.hi {
		return 0, fmt.Errorf("%d is out of range %d-%d", n, cf.lo, cf.hi)
	}
	return n, nil
}
