package rpmmd

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Data is one <data> element of repomd.xml: one metadata file.
type Data struct {
	Type         string
	Href         string    // checked with CheckHref
	Checksum     Checksum  // of the file as stored (compressed)
	OpenChecksum *Checksum // of the decompressed file; nil when absent
	Size         int64     // of the file as stored; required
	OpenSize     int64     // decompressed; 0 when absent
	Timestamp    int64     // 0 when absent
}

// Repomd is a parsed repomd.xml.
type Repomd struct {
	Revision string
	Data     []Data
}

// Find returns the <data> of type typ, such as "primary".
func (m Repomd) Find(typ string) (Data, bool) {
	for _, d := range m.Data {
		if d.Type == typ {
			return d, true
		}
	}
	return Data{}, false
}

type repomdXML struct {
	XMLName  xml.Name  `xml:"http://linux.duke.edu/metadata/repo repomd"`
	Revision []string  `xml:"http://linux.duke.edu/metadata/repo revision"`
	Data     []dataXML `xml:"http://linux.duke.edu/metadata/repo data"`
}

// The child elements are slices so that a repeated one is seen and refused:
// clients could read the first where we read the last.
type dataXML struct {
	Type         string        `xml:"type,attr"`
	Checksum     []checksumXML `xml:"http://linux.duke.edu/metadata/repo checksum"`
	OpenChecksum []checksumXML `xml:"http://linux.duke.edu/metadata/repo open-checksum"`
	Location     []locationXML `xml:"http://linux.duke.edu/metadata/repo location"`
	Timestamp    []string      `xml:"http://linux.duke.edu/metadata/repo timestamp"`
	Size         []string      `xml:"http://linux.duke.edu/metadata/repo size"`
	OpenSize     []string      `xml:"http://linux.duke.edu/metadata/repo open-size"`
}

type checksumXML struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

type locationXML struct {
	Href string `xml:"href,attr"`
	Base string `xml:"http://www.w3.org/XML/1998/namespace base,attr"`
}

// ParseRepomd reads and validates repomd.xml: the rpm-md namespace, and for
// every <data> a unique, plain type, a safe location, a strong checksum and
// sizes within lim (zero fields of lim mean the defaults). Input larger
// than lim.RepomdBytes is refused.
func ParseRepomd(r io.Reader, lim Limits) (Repomd, error) {
	lim = lim.withDefaults()
	src := &sourceReader{r: LimitReader(r, lim.RepomdBytes, "repomd.xml")}
	d := newXMLDecoder(src)
	var doc repomdXML
	if err := d.Decode(&doc); err != nil {
		return Repomd{}, src.classify("repomd.xml", err)
	}
	if err := expectEOF(d); err != nil {
		return Repomd{}, src.classify("repomd.xml", err)
	}
	m, err := doc.validate(lim)
	if err != nil {
		return Repomd{}, fmt.Errorf("repomd.xml: %w", err)
	}
	return m, nil
}

func (doc repomdXML) validate(lim Limits) (Repomd, error) {
	rev, _, err := atMostOne("revision", doc.Revision)
	if err != nil {
		return Repomd{}, err
	}
	m := Repomd{Revision: strings.TrimSpace(rev), Data: make([]Data, 0, len(doc.Data))}
	seen := make(map[string]bool, len(doc.Data))
	for i, x := range doc.Data {
		if !plainType(x.Type) {
			return Repomd{}, fmt.Errorf("%w: data #%d: bad type %s", ErrMalformed, i+1, show(x.Type))
		}
		if seen[x.Type] {
			return Repomd{}, fmt.Errorf("%w: data %s: listed twice", ErrMalformed, x.Type)
		}
		seen[x.Type] = true
		data, err := x.validate(lim)
		if err != nil {
			return Repomd{}, fmt.Errorf("data %s: %w", x.Type, err)
		}
		m.Data = append(m.Data, data)
	}
	return m, nil
}

func (x dataXML) validate(lim Limits) (Data, error) {
	data := Data{Type: x.Type}
	location, err := exactlyOne("location", x.Location)
	if err != nil {
		return Data{}, err
	}
	// repomd.xml has no base URL to compare with: metadata lives in the
	// repository or nowhere.
	if location.Base != "" {
		return Data{}, fmt.Errorf("%w: <location> has xml:base %s", ErrMalformed, show(location.Base))
	}
	data.Href = location.Href
	if err := CheckHref(data.Href); err != nil {
		return Data{}, fmt.Errorf("location: %w", err)
	}

	sum, err := exactlyOne("checksum", x.Checksum)
	if err != nil {
		return Data{}, err
	}
	if data.Checksum, err = parseChecksum(sum.Type, sum.Value); err != nil {
		return Data{}, fmt.Errorf("checksum: %w", err)
	}
	openSum, ok, err := atMostOne("open-checksum", x.OpenChecksum)
	if err != nil {
		return Data{}, err
	}
	if ok {
		c, err := parseChecksum(openSum.Type, openSum.Value)
		if err != nil {
			return Data{}, fmt.Errorf("open-checksum: %w", err)
		}
		data.OpenChecksum = &c
	}

	// A mirror reads exactly Size bytes, so it must be known.
	size, err := exactlyOne("size", x.Size)
	if err != nil {
		return Data{}, err
	}
	if data.Size, err = parseSize("size", size, lim.MetadataBytes); err != nil {
		return Data{}, err
	}
	if openSize, ok, err := atMostOne("open-size", x.OpenSize); err != nil {
		return Data{}, err
	} else if ok {
		if data.OpenSize, err = parseSize("open-size", openSize, lim.OpenBytes); err != nil {
			return Data{}, err
		}
	}
	if ts, ok, err := atMostOne("timestamp", x.Timestamp); err != nil {
		return Data{}, err
	} else if ok {
		if data.Timestamp, err = parseTimestamp(ts); err != nil {
			return Data{}, err
		}
	}
	return data, nil
}

func atMostOne[T any](name string, vals []T) (v T, ok bool, err error) {
	switch len(vals) {
	case 0:
		return v, false, nil
	case 1:
		return vals[0], true, nil
	}
	return v, false, fmt.Errorf("%w: more than one <%s>", ErrMalformed, name)
}

func exactlyOne[T any](name string, vals []T) (T, error) {
	v, ok, err := atMostOne(name, vals)
	if err == nil && !ok {
		err = fmt.Errorf("%w: no <%s>", ErrMalformed, name)
	}
	return v, err
}

func parseSize(name, s string, max int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	switch {
	case err != nil || n < 0:
		return 0, fmt.Errorf("%w: %s %s is not a non-negative integer", ErrMalformed, name, show(s))
	case n > max:
		return 0, fmt.Errorf("%w: %s %d exceeds the limit of %d bytes", ErrMalformed, name, n, max)
	}
	return n, nil
}

// parseTimestamp also accepts the fractional seconds that some generators
// write; the timestamp is informational.
func parseTimestamp(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f >= math.MaxInt64 || math.IsNaN(f) {
		return 0, fmt.Errorf("%w: timestamp %s is not a non-negative number", ErrMalformed, show(s))
	}
	return int64(f), nil
}

// plainType keeps data types to the characters real ones use ("primary",
// "group_gz", "appdata-icons"), because callers use them in file and log
// names.
func plainType(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
