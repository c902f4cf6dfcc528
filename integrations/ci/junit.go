package ci

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxJUnitSize bounds what ParseJUnit reads. Reports with captured
	// output reach megabytes; beyond this the producer is broken.
	maxJUnitSize = 64 << 20
	// maxMessage bounds one case's message: it goes into a ticket.
	maxMessage = 8 << 10
)

// junitSuite is <testsuite>, or the <testsuites> root: both may hold
// suites (nested suites occur, in pytest and Ant output) and cases.
type junitSuite struct {
	XMLName xml.Name
	Suites  []junitSuite `xml:"testsuite"`
	Cases   []junitCase  `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitProblem `xml:"skipped"`
}

// junitProblem is <failure>, <error> or <skipped>: a short message
// attribute and, often, a stack trace as text.
type junitProblem struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// ParseJUnit reads a JUnit XML report (<testsuites> or <testsuite> root)
// and returns its cases, attributed to suite. A case's name is
// "classname.name" when it has a classname, so that cases from different
// classes keep different fingerprints. A case with <error> is Errored,
// with <failure> Failed, with <skipped> Skipped, otherwise Passed.
func ParseJUnit(r io.Reader, suite string) ([]Case, error) {
	return parseJUnit(r, suite, maxJUnitSize)
}

// parseJUnit is ParseJUnit reading at most limit bytes.
func parseJUnit(r io.Reader, suite string, limit int64) ([]Case, error) {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	var root junitSuite
	if err := xml.NewDecoder(lr).Decode(&root); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("junit: report larger than %d bytes", limit)
		}
		if errors.Is(err, io.EOF) {
			return nil, errors.New("junit: empty report")
		}
		return nil, fmt.Errorf("junit: %w", err)
	}
	if n := root.XMLName.Local; n != "testsuites" && n != "testsuite" {
		return nil, fmt.Errorf("junit: root element <%s>, want <testsuites> or <testsuite>", n)
	}
	var cases []Case
	var walk func(s junitSuite) error
	walk = func(s junitSuite) error {
		for _, jc := range s.Cases {
			c, err := jc.toCase(suite)
			if err != nil {
				return err
			}
			cases = append(cases, c)
		}
		for _, child := range s.Suites {
			if err := walk(child); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return cases, nil
}

func (jc junitCase) toCase(suite string) (Case, error) {
	name := strings.TrimSpace(jc.Name)
	if name == "" {
		return Case{}, errors.New("junit: <testcase> without a name")
	}
	if cls := strings.TrimSpace(jc.ClassName); cls != "" {
		name = cls + "." + name
	}
	c := Case{Suite: suite, Name: name, Status: Passed, Duration: junitDuration(jc.Time)}
	switch {
	case jc.Error != nil:
		c.Status, c.Message = Errored, jc.Error.message()
	case jc.Failure != nil:
		c.Status, c.Message = Failed, jc.Failure.message()
	case jc.Skipped != nil:
		c.Status, c.Message = Skipped, jc.Skipped.message()
	}
	return c, nil
}

// message joins the short message and the text (usually a stack trace),
// dropping the text when it only repeats the message.
func (p junitProblem) message() string {
	msg, text := strings.TrimSpace(p.Message), strings.TrimSpace(p.Text)
	switch {
	case text == "" || text == msg:
	case msg == "":
		msg = text
	default:
		msg += "\n" + text
	}
	return truncate(msg, maxMessage)
}

// junitDuration parses a time attribute in seconds. Producers write
// "1.5", "1,234.5" or nothing; a value we cannot read is no reason to
// drop the results, so it counts as zero.
func junitDuration(s string) time.Duration {
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 64)
	if err != nil || !(f >= 0 && f < 1e9) { // also NaN and Inf
		return 0
	}
	return seconds(f)
}

// seconds converts a duration in seconds, as JUnit and Jenkins report it.
func seconds(f float64) time.Duration {
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond)
}

// truncate cuts s to at most max bytes (plus a marker), on a rune
// boundary, keeping the beginning: where a message says what went wrong.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " […]"
}
