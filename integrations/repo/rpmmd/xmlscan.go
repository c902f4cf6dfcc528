package rpmmd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// xmlScanner is a strict, streaming XML tokenizer for the metadata files
// that are too big for encoding/xml's pace (primary.xml runs to hundreds of
// MiB). It accepts exactly the documents that encoding/xml's strict
// Decoder, behind tokenGuard, accepts, with two exceptions that only
// refuse more: an attribute given twice in one element (which XML forbids
// and encoding/xml lets through), and open elements whose names add up to
// more than maxNames bytes. Its tokens carry the same
// names, namespaces and decoded text, and its errors are the same kind:
// *xml.SyntaxError with the same messages, and tokenGuard's ErrMalformed
// for over-long tokens and directives. The differential tests and fuzz
// targets hold it to that.
//
// It is fast because it does not allocate per token: names, attribute
// values and text are slices of its read buffer, valid until the next call
// of next, decoded only when the caller asks. Memory is bounded by the
// longest token (max bytes), as with encoding/xml behind tokenGuard.
type xmlScanner struct {
	r   io.Reader
	buf []byte
	pos int // next unread byte
	end int // end of the bytes read into buf
	// lim is where the current markup token must end: max bytes after its
	// start or the end of buf. tokenGuard lets no more of it through, so
	// the scanner looks no further either: what encoding/xml would find
	// past it is an over-long token, not an error of its own.
	lim  int
	rerr error // the reader's first error, io.EOF included: nothing more comes
	max  int   // longest token, in bytes
	// lines counts the newlines in bytes already dropped from buf, for
	// errors' line numbers.
	lines int

	// Open elements: their qualified names concatenated in names, and the
	// namespace bindings they made, to undo at their end.
	names []byte
	open  []openElem
	ns    map[string]string
	undo  []nsUndo
	// closeNext is set after a self-closing tag: the next token is its end.
	closeNext bool
	// dropBlank makes next pass over text of spaces, tabs and newlines
	// only, for callers to whom it means nothing.
	dropBlank bool

	// The current token. The slices point into buf or scratch.
	kind          tokKind
	prefix, local []byte    // tokStart, tokEnd
	attrs         []xmlAttr // tokStart
	hasBase       bool      // some attribute is a prefixed "base": maybe xml:base
	hasXmlns      bool      // some attribute is named or prefixed "xmlns"
	text          []byte    // tokText: raw character data or CDATA content
	textMode      textMode  // how text is to be decoded
	textDecode    bool      // text holds entities or carriage returns
	target        []byte    // tokOther: a processing instruction's target, else nil
	scratch       []byte    // decoded values
}

type tokKind uint8

const (
	tokEOF   tokKind = iota
	tokStart         // start tag; a self-closing tag gives tokStart then tokEnd
	tokEnd
	tokText  // character data or a CDATA section
	tokOther // comment or processing instruction
)

type openElem struct {
	name   int // start of the element's qualified name in names
	prefix int // length of its prefix, colon excluded; -1 without one
	undo   int // len(undo) before its bindings
}

type nsUndo struct {
	prefix, url string
	had         bool
}

// xmlAttr is one attribute of the current start tag, as offsets into buf
// (small, so that collecting attributes costs little).
type xmlAttr struct {
	prefix, local span // prefix is empty without one
	value         span // raw, between the quotes
	decode        bool // value holds entities or carriage returns
}

type span struct{ start, end int32 }

func (s *xmlScanner) bytes(sp span) []byte { return s.buf[sp.start:sp.end] }

// prefixOf is an attribute's prefix, nil without one.
func (s *xmlScanner) prefixOf(a xmlAttr) []byte {
	if a.prefix.start == a.prefix.end {
		return nil
	}
	return s.bytes(a.prefix)
}

type textMode uint8

const (
	modeText textMode = iota
	modeAttr
	modeCDATA
)

// errMore says a token runs past the bytes read so far.
var errMore = errors.New("need more input")

const (
	scanBufStart = 64 << 10
	// maxNames bounds the stacked names of open elements. Depth is bounded
	// by the caller, names by the token limit; this keeps a deep stack of
	// long names from adding up.
	maxNames = 64 << 10
)

// newXMLScanner reads r with a buffer of size bytes at first (tests make
// it tiny, to cut every token), grown as long tokens need up to
// longest+1: longest is the longest token accepted, in bytes.
func newXMLScanner(r io.Reader, longest, size int) *xmlScanner {
	return &xmlScanner{r: r, max: longest, buf: make([]byte, max(1, min(size, longest+1))), ns: map[string]string{}}
}

// next reads the next token. At the end of the input it returns tokEOF
// outside any element and an "unexpected EOF" syntax error inside one.
func (s *xmlScanner) next() (tokKind, error) {
	if s.closeNext {
		s.closeNext = false
		s.prefix, s.local = s.topName()
		s.kind = tokEnd
		s.pop()
		return tokEnd, nil
	}
	for {
		err := s.scan()
		if err != errMore {
			if err != nil {
				return tokEOF, err
			}
			return s.kind, nil
		}
		// The buffer grows to max+1 bytes: a token longer than max is
		// seen to be so.
		if err := s.fill(); err != nil {
			return tokEOF, err
		}
	}
}

func (s *xmlScanner) tooLong() error {
	return fmt.Errorf("%w: an XML token is longer than %d bytes", ErrMalformed, s.max)
}

// eof says whether the reader has nothing more to give.
func (s *xmlScanner) eof() bool { return s.rerr != nil }

// fill moves the unread bytes to the front of buf, grows it when they fill
// it, and reads until it is full or the reader fails.
func (s *xmlScanner) fill() error {
	if s.rerr != nil {
		return s.rerr
	}
	if s.pos > 0 {
		s.lines += bytes.Count(s.buf[:s.pos], []byte{'\n'})
		s.end = copy(s.buf, s.buf[s.pos:s.end])
		s.pos = 0
	}
	if s.end == len(s.buf) {
		// Never needed beyond max+1 bytes: next refuses a token by then.
		grown := make([]byte, min(2*len(s.buf), s.max+1))
		copy(grown, s.buf[:s.end])
		s.buf = grown
	}
	for empty := 0; s.end < len(s.buf); {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.rerr = err
			return nil
		}
		if n == 0 {
			if empty++; empty >= 100 {
				s.rerr = io.ErrNoProgress
				return nil
			}
		}
	}
	return nil
}

// syntaxError is encoding/xml's error for malformed XML at buf[at].
func (s *xmlScanner) syntaxError(at int, msg string) error {
	at = min(max(at, 0), s.end)
	return &xml.SyntaxError{Msg: msg, Line: 1 + s.lines + bytes.Count(s.buf[:at], []byte{'\n'})}
}

// unexpectedEOF is the error for input that ends inside a token or element,
// or the reader's own error if it failed.
func (s *xmlScanner) unexpectedEOF(msg string) error {
	if s.rerr != io.EOF {
		return s.rerr
	}
	return s.syntaxError(s.end, msg)
}

// scan reads one token from buf[pos:end], or returns errMore without
// changing anything when the token is not complete there.
func (s *xmlScanner) scan() error {
	if s.pos == s.end {
		switch {
		case !s.eof():
			return errMore
		case s.rerr != io.EOF:
			return s.rerr
		case len(s.open) > 0:
			return s.unexpectedEOF("unexpected EOF")
		}
		s.kind = tokEOF
		return nil
	}
	if s.buf[s.pos] != '<' {
		if !s.dropBlank {
			return s.scanText()
		}
		// White space between tags, most of a file's text tokens, is
		// passed over here, in one step with the tag after it.
		buf, p := s.buf[:s.end], s.pos
		for p < len(buf) && (buf[p] == ' ' || buf[p] == '\n' || buf[p] == '\t') {
			p++
		}
		if p == len(buf) || buf[p] != '<' || p-s.pos > s.max {
			return s.scanText()
		}
		s.pos = p
	}
	s.lim = min(s.end, s.pos+s.max)
	if s.pos+1 == s.lim {
		return s.more()
	}
	switch s.buf[s.pos+1] {
	case '/':
		return s.scanEnd()
	case '?':
		return s.scanPI()
	case '!':
		return s.scanBang()
	}
	return s.scanStart()
}

// more is what to do when a markup token runs to lim: read more, or
// refuse it as over-long if more is there, or "unexpected EOF".
func (s *xmlScanner) more() error {
	if s.lim < s.end {
		return s.tooLong()
	}
	if s.eof() {
		return s.unexpectedEOF("unexpected EOF")
	}
	return errMore
}

func (s *xmlScanner) scanText() error {
	data := s.buf[s.pos:s.end]
	// Most text is short and plain: white space between tags, a name.
	n := plainRun(data, &textClass)
	if n < len(data) && data[n] == '<' && n <= s.max {
		s.kind, s.text, s.textMode, s.textDecode = tokText, data[:n], modeText, false
		s.pos += n
		return nil
	}
	// tokenGuard lets max bytes of text through, and the '<' after them.
	n = bytes.IndexByte(data[:min(len(data), s.max+1)], '<')
	end := endDelim
	switch {
	case n < 0 && len(data) > s.max:
		// encoding/xml reports what it finds wrong before the cut.
		if _, err := s.checkText(data[:s.max], modeText, endCut, s.pos); err != nil {
			return err
		}
		return s.tooLong()
	case n < 0 && !s.eof():
		return errMore
	case n < 0 && s.rerr != io.EOF:
		return s.rerr
	case n < 0:
		n, end = len(data), endEOF
	}
	text := data[:n]
	decode, err := s.checkText(text, modeText, end, s.pos)
	if err != nil {
		return err
	}
	s.kind, s.text, s.textMode, s.textDecode = tokText, text, modeText, decode
	s.pos += n
	return nil
}

// name reads an XML name at buf[p:] the way encoding/xml does (name
// bytes and any non-ASCII byte, checked afterwards) and splits it at its
// colon: a name with two colons is refused with msg, and a leading or
// trailing colon is part of the local name. ok is false when buf[p] cannot
// start a name, which the caller reports.
func (s *xmlScanner) name(p int, msg string) (prefix, local span, ok bool, err error) {
	buf := s.buf[:s.lim]
	if p >= len(buf) {
		return span{}, span{}, false, s.more()
	}
	first := nameClass[buf[p]]
	if first == ncNone {
		return span{}, span{}, false, nil
	}
	all, colon, colons := first, -1, 0
	if first&ncColon != 0 {
		colon, colons = p, 1
	}
	i := p + 1
	for ; i < len(buf); i++ {
		c := nameClass[buf[i]]
		if c == ncNone {
			break
		}
		all |= c
		if c&ncColon != 0 {
			colon, colons = i, colons+1
		}
	}
	if i == len(buf) {
		return span{}, span{}, false, s.more()
	}
	name := buf[p:i]
	if all&ncHigh == 0 && first&ncStart == 0 || all&ncHigh != 0 && !isXMLName(name) {
		return span{}, span{}, false, s.syntaxError(i, "invalid XML name: "+string(name))
	}
	if colons > 1 {
		return span{}, span{}, false, s.syntaxError(i, msg)
	}
	if colon < 0 || colon == p || colon == i-1 {
		return span{int32(p), int32(p)}, span{int32(p), int32(i)}, true, nil
	}
	return span{int32(p), int32(colon)}, span{int32(colon + 1), int32(i)}, true, nil
}

// space skips XML white space from buf[p].
func (s *xmlScanner) space(p int) int {
	buf := s.buf[:s.lim]
	for p < len(buf) && buf[p] <= ' ' && (buf[p] == ' ' || buf[p] == '\r' || buf[p] == '\n' || buf[p] == '\t') {
		p++
	}
	return p
}

func (s *xmlScanner) scanStart() error {
	const noName = "expected element name after <"
	p := s.pos + 1
	prefix, local, ok, err := s.name(p, noName)
	switch {
	case err != nil:
		return err
	case !ok:
		return s.syntaxError(p, noName)
	}
	s.attrs, s.hasBase, s.hasXmlns = s.attrs[:0], false, false
	self := false
	for p = int(local.end); ; {
		if p = s.space(p); p == s.lim {
			return s.more()
		}
		c := s.buf[p]
		if c == '/' {
			if p+1 == s.lim {
				return s.more()
			}
			if s.buf[p+1] != '>' {
				return s.syntaxError(p+1, "expected /> in element")
			}
			p, self = p+2, true
			break
		}
		if c == '>' {
			p++
			break
		}
		if p, err = s.scanAttr(p); err != nil {
			return err
		}
	}
	return s.startElement(prefix, local, p, self)
}

// scanAttr reads one name="value" at buf[p:] into s.attrs and returns the
// position after it.
func (s *xmlScanner) scanAttr(p int) (int, error) {
	// The common case, name="plain value" with an ASCII name and no
	// prefix, in one pass; anything else takes the general way below.
	if buf := s.buf[:s.lim]; nameClass[buf[p]] == ncStart {
		q := p + 1
		for q < len(buf) && nameClass[buf[q]]-ncStart <= ncFollow-ncStart {
			q++
		}
		if q+1 < len(buf) && buf[q] == '=' && (buf[q+1] == '"' || buf[q+1] == '\'') {
			v := q + 2
			n := plainRun(buf[v:], &attrClass)
			if v+n < len(buf) && buf[v+n] == buf[q+1] {
				if q-p == 5 && string(buf[p:q]) == "xmlns" {
					s.hasXmlns = true
				}
				s.attrs = append(s.attrs, xmlAttr{prefix: span{int32(p), int32(p)}, local: span{int32(p), int32(q)},
					value: span{int32(v), int32(v + n)}})
				return v + n + 1, nil
			}
		}
	}
	const noName = "expected attribute name in element"
	prefix, local, ok, err := s.name(p, noName)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, s.syntaxError(p, noName)
	}
	if p = s.space(int(local.end)); p == s.lim {
		return 0, s.more()
	}
	if s.buf[p] != '=' {
		return 0, s.syntaxError(p, "attribute name without = in element")
	}
	if p = s.space(p + 1); p == s.lim {
		return 0, s.more()
	}
	quote := s.buf[p]
	if quote != '"' && quote != '\'' {
		return 0, s.syntaxError(p, "unquoted or missing attribute value in element")
	}
	p++
	n := plainRun(s.buf[p:s.lim], &attrClass)
	decode := false
	if p+n == s.lim || s.buf[p+n] != quote {
		if n, decode, err = s.attrValue(p, quote); err != nil {
			return 0, err
		}
	}
	if prefix.start != prefix.end && local.end-local.start == 4 && string(s.bytes(local)) == "base" {
		s.hasBase = true
	}
	if prefix.end-prefix.start == 5 && string(s.bytes(prefix)) == "xmlns" ||
		local.end-local.start == 5 && string(s.bytes(local)) == "xmlns" {
		s.hasXmlns = true
	}
	s.attrs = append(s.attrs, xmlAttr{prefix: prefix, local: local, value: span{int32(p), int32(p + n)}, decode: decode})
	return p + n + 1, nil
}

// attrValue finds and checks an attribute value that starts at buf[p] and
// is not plain, returning its length.
func (s *xmlScanner) attrValue(p int, quote byte) (n int, decode bool, err error) {
	n = bytes.IndexByte(s.buf[p:s.lim], quote)
	if n >= 0 {
		decode, err = s.checkText(s.buf[p:p+n], modeAttr, endDelim, p)
		return n, decode, err
	}
	// No end in sight: the value is cut by lim, or by the end of what was
	// read, or of the input. What encoding/xml finds wrong in it before
	// that comes first (a '<' is wrong wherever the value ends).
	end := endCut
	if s.lim == s.end && s.eof() {
		end = endEOF
	}
	if s.lim == s.end && !s.eof() && bytes.IndexByte(s.buf[p:s.lim], '<') < 0 {
		return 0, false, errMore
	}
	if _, err := s.checkText(s.buf[p:s.lim], modeAttr, end, p); err != nil {
		return 0, false, err
	}
	return 0, false, s.more()
}

// startElement commits a start tag that ends before buf[p]: the element is
// opened, its namespace bindings made.
func (s *xmlScanner) startElement(prefixSpan, localSpan span, p int, self bool) error {
	var prefix []byte
	if prefixSpan.start != prefixSpan.end {
		prefix = s.bytes(prefixSpan)
	}
	local := s.bytes(localSpan)
	if len(s.names)+len(prefix)+1+len(local) > maxNames {
		return fmt.Errorf("%w: element names nested more than %d bytes deep", ErrMalformed, maxNames)
	}
	e := openElem{name: len(s.names), prefix: -1, undo: len(s.undo)}
	if prefix != nil {
		e.prefix = len(prefix)
		s.names = append(append(s.names, prefix...), ':')
	}
	s.names = append(s.names, local...)
	s.open = append(s.open, e)
	for _, a := range s.attrs {
		if !s.hasXmlns {
			break
		}
		switch prefix, local := s.prefixOf(a), s.bytes(a.local); {
		case string(prefix) == "xmlns":
			s.bind(string(local), string(s.value(a)))
		case prefix == nil && string(local) == "xmlns":
			s.bind("", string(s.value(a)))
		}
	}
	if err := s.checkUniqueAttrs(p); err != nil {
		return err
	}
	s.kind, s.prefix, s.local, s.closeNext = tokStart, prefix, local, self
	s.pos = p
	return nil
}

func (s *xmlScanner) bind(prefix, url string) {
	old, had := s.ns[prefix]
	s.undo = append(s.undo, nsUndo{prefix: prefix, url: old, had: had})
	s.ns[prefix] = url
}

// checkUniqueAttrs refuses an attribute given twice, by name or by
// namespace and local name: XML forbids it, and a client could read the
// other one.
func (s *xmlScanner) checkUniqueAttrs(p int) error {
	if len(s.attrs) < 2 {
		return nil
	}
	// Attributes whose local names differ in length, first or last byte
	// differ: a 64-bit mask of those answers for most tags (every one of
	// createrepo_c's) without comparing names.
	var mask uint64
	clash := false
	for _, a := range s.attrs {
		n := uint(a.local.end - a.local.start)
		bit := uint64(1) << ((n*31 + uint(s.buf[a.local.start])*7 + uint(s.buf[a.local.end-1])) & 63)
		clash = clash || mask&bit != 0
		mask |= bit
	}
	if !clash {
		return nil
	}
	if len(s.attrs) <= 8 {
		for i, a := range s.attrs {
			for _, b := range s.attrs[:i] {
				if string(s.bytes(b.local)) == string(s.bytes(a.local)) && s.attrSpace(s.prefixOf(b)) == s.attrSpace(s.prefixOf(a)) {
					return s.duplicateAttr(p, a)
				}
			}
		}
		return nil
	}
	seen := make(map[string]bool, len(s.attrs))
	for _, a := range s.attrs {
		key := s.attrSpace(s.prefixOf(a)) + " " + string(s.bytes(a.local))
		if seen[key] {
			return s.duplicateAttr(p, a)
		}
		seen[key] = true
	}
	return nil
}

func (s *xmlScanner) duplicateAttr(p int, a xmlAttr) error {
	name := string(s.bytes(a.local))
	if prefix := s.prefixOf(a); prefix != nil {
		name = string(prefix) + ":" + name
	}
	return fmt.Errorf("%w: %w", ErrMalformed, s.syntaxError(p, "attribute "+name+" given more than once in element <"+
		string(s.local)+">"))
}

// elemSpace is the namespace of the current element name, resolved as
// encoding/xml's Token does.
func (s *xmlScanner) elemSpace() string {
	if s.prefix == nil {
		if string(s.local) == "xmlns" {
			return ""
		}
		return s.ns[""]
	}
	return s.attrSpace(s.prefix)
}

// attrSpace is the namespace of a prefixed name: an unknown prefix stands
// for itself, as in encoding/xml; no prefix is no namespace.
func (s *xmlScanner) attrSpace(prefix []byte) string {
	switch string(prefix) {
	case "":
		return ""
	case "xmlns":
		return "xmlns"
	case "xml":
		return nsXML
	}
	if url, ok := s.ns[string(prefix)]; ok {
		return url
	}
	return string(prefix)
}

// attr returns the decoded value of the current element's attribute in
// no namespace named local.
func (s *xmlScanner) attr(local string) (string, bool) {
	for _, a := range s.attrs {
		if string(s.bytes(a.local)) == local && s.attrSpace(s.prefixOf(a)) == "" {
			return intern(s.value(a)), true
		}
	}
	return "", false
}

// xmlBase returns the current element's xml:base attribute, if any.
func (s *xmlScanner) xmlBase() (string, bool) {
	if !s.hasBase {
		return "", false
	}
	for _, a := range s.attrs {
		if prefix := s.prefixOf(a); prefix != nil && string(s.bytes(a.local)) == "base" {
			if space := s.attrSpace(prefix); space == nsXML || space == "xml" {
				return string(s.value(a)), true
			}
		}
	}
	return "", false
}

// value is an attribute's decoded value; it is valid until the next call.
func (s *xmlScanner) value(a xmlAttr) []byte {
	if !a.decode {
		return s.bytes(a.value)
	}
	s.scratch = decodeText(s.scratch[:0], s.bytes(a.value), modeAttr)
	return s.scratch
}

// appendText appends the current text token, decoded, to dst.
func (s *xmlScanner) appendText(dst []byte) []byte {
	if !s.textDecode {
		return append(dst, s.text...)
	}
	return decodeText(dst, s.text, s.textMode)
}

// textLen is the length of the current text token once decoded.
func (s *xmlScanner) textLen() int {
	if !s.textDecode {
		return len(s.text)
	}
	s.scratch = decodeText(s.scratch[:0], s.text, s.textMode)
	return len(s.scratch)
}

// topName is the name of the innermost open element.
func (s *xmlScanner) topName() (prefix, local []byte) {
	e := s.open[len(s.open)-1]
	name := s.names[e.name:]
	if e.prefix < 0 {
		return nil, name
	}
	return name[:e.prefix], name[e.prefix+1:]
}

// pop closes the top element and undoes its namespace bindings.
func (s *xmlScanner) pop() {
	e := s.open[len(s.open)-1]
	s.open = s.open[:len(s.open)-1]
	s.names = s.names[:e.name]
	for i := len(s.undo) - 1; i >= e.undo; i-- {
		u := s.undo[i]
		if u.had {
			s.ns[u.prefix] = u.url
		} else {
			delete(s.ns, u.prefix)
		}
	}
	s.undo = s.undo[:e.undo]
}

func (s *xmlScanner) scanEnd() error {
	const noName = "expected element name after </"
	p := s.pos + 2
	prefixSpan, localSpan, ok, err := s.name(p, noName)
	switch {
	case err != nil:
		return err
	case !ok:
		return s.syntaxError(p, noName)
	}
	var prefix []byte
	if prefixSpan.start != prefixSpan.end {
		prefix = s.bytes(prefixSpan)
	}
	local := s.bytes(localSpan)
	if p = s.space(int(localSpan.end)); p == s.lim {
		return s.more()
	}
	if s.buf[p] != '>' {
		return s.syntaxError(p, "invalid characters between </"+string(local)+" and >")
	}
	if len(s.open) == 0 {
		return s.syntaxError(p, "unexpected end element </"+string(local)+">")
	}
	openPrefix, openLocal := s.topName()
	switch {
	case !bytes.Equal(openLocal, local):
		return s.syntaxError(p, "element <"+string(openLocal)+"> closed by </"+string(local)+">")
	case !bytes.Equal(openPrefix, prefix):
		space := string(prefix)
		if space == "" {
			space = `""`
		}
		return s.syntaxError(p, "element <"+string(openLocal)+"> in space "+string(openPrefix)+
			" closed by </"+string(local)+"> in space "+space)
	}
	s.kind, s.prefix, s.local = tokEnd, prefix, local
	s.pos = p + 1
	s.pop()
	return nil
}

func (s *xmlScanner) scanPI() error {
	p := s.pos + 2
	if p == s.lim {
		return s.more()
	}
	if nameClass[s.buf[p]] == ncNone {
		return s.syntaxError(p, "expected target name after <?")
	}
	end := p + 1
	for end < s.lim && nameClass[s.buf[end]] != ncNone {
		end++
	}
	if end == s.lim {
		return s.more()
	}
	target := s.buf[p:end]
	if !isXMLName(target) {
		return s.syntaxError(end, "invalid XML name: "+string(target))
	}
	p = s.space(end)
	n := bytes.Index(s.buf[p:s.lim], []byte("?>"))
	if n < 0 {
		return s.more()
	}
	p += n + 2
	if string(target) == "xml" {
		// The declaration's version and encoding: rare enough to let
		// encoding/xml judge it.
		if _, err := xml.NewDecoder(bytes.NewReader(s.buf[s.pos:p])).RawToken(); err != nil {
			var syn *xml.SyntaxError
			if errors.As(err, &syn) {
				return s.syntaxError(p, syn.Msg)
			}
			return err
		}
	}
	s.kind, s.target = tokOther, target
	s.pos = p
	return nil
}

// scanBang reads a comment or CDATA section. Anything else after "<!" is a
// directive, refused as tokenGuard refuses it.
func (s *xmlScanner) scanBang() error {
	p := s.pos + 2
	for _, lead := range []string{"--", "[CDATA["} {
		if p == s.lim {
			return s.more()
		}
		if s.buf[p] != lead[0] {
			continue
		}
		for i := 1; i < len(lead); i++ {
			switch {
			case p+i == s.lim:
				return s.more()
			case s.buf[p+i] != lead[i]:
				return fmt.Errorf("%w: XML directives such as DOCTYPE are not allowed", ErrMalformed)
			}
		}
		if lead == "--" {
			return s.scanComment(p + 2)
		}
		return s.scanCDATA(p + len(lead))
	}
	return fmt.Errorf("%w: XML directives such as DOCTYPE are not allowed", ErrMalformed)
}

func (s *xmlScanner) scanComment(p int) error {
	n := bytes.Index(s.buf[p:s.lim], []byte("--"))
	switch {
	case n < 0 || p+n+2 == s.lim:
		return s.more()
	case s.buf[p+n+2] != '>':
		return s.syntaxError(p+n+2, `invalid sequence "--" not allowed in comments`)
	}
	s.kind, s.target = tokOther, nil
	s.pos = p + n + 3
	return nil
}

func (s *xmlScanner) scanCDATA(p int) error {
	n := bytes.Index(s.buf[p:s.lim], []byte("]]>"))
	if n < 0 {
		if s.lim == s.end && s.eof() {
			return s.unexpectedEOF("unexpected EOF in CDATA section")
		}
		return s.more()
	}
	text := s.buf[p : p+n]
	decode, err := s.checkText(text, modeCDATA, endDelim, p)
	if err != nil {
		return err
	}
	s.kind, s.text, s.textMode, s.textDecode = tokText, text, modeCDATA, decode
	s.pos = p + n + 3
	return nil
}

// Byte classes for checkText: plain bytes need nothing.
const (
	clPlain = iota
	clSpecial
)

var textClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= utf8.RuneSelf, c < 0x20 && c != '\t' && c != '\n', c == '&', c == ']', c == '<':
			t[c] = clSpecial
		}
	}
	return t
}()

// attrClass is textClass with the quotes added, to find the end of a plain
// attribute value in the same pass.
var attrClass = func() [256]uint8 {
	t := textClass
	t['"'], t['\''] = clSpecial, clSpecial
	return t
}()

// plainRun is the length of the prefix of b whose bytes are plain in class.
func plainRun(b []byte, class *[256]uint8) int {
	for i, c := range b {
		if class[c] != clPlain {
			return i
		}
	}
	return len(b)
}

// textEnd says what follows the text checkText is given.
type textEnd uint8

const (
	endDelim textEnd = iota // its delimiter: '<', a quote, "]]>"
	endEOF                  // the end of the input
	endCut                  // more of it, beyond the token limit
)

// checkText validates raw character data, an attribute value or CDATA
// content as encoding/xml does (entities, "]]>" outside CDATA, UTF-8, the
// XML character range) and says whether it needs decoding. at is raw's
// offset in buf. Cut text is checked as encoding/xml checks what
// tokenGuard let through of it, unless a reference runs into the cut: then
// the cut is what encoding/xml reports.
func (s *xmlScanner) checkText(raw []byte, mode textMode, end textEnd, at int) (decode bool, err error) {
	// encoding/xml checks characters once it has the whole text, after
	// the references: the first bad one is reported only if no bad
	// reference follows it.
	badChar := -1
	var badRune rune
	for i := 0; i < len(raw); {
		c := raw[i]
		if textClass[c] == clPlain {
			i++
			continue
		}
		switch {
		case c == '\r':
			decode = true
			i++
		case c == '<':
			if mode == modeAttr {
				return false, s.syntaxError(at+i, "unescaped < inside quoted string")
			}
			i++
		case c == ']':
			if mode == modeText && i+2 < len(raw) && raw[i+1] == ']' && raw[i+2] == '>' {
				return false, s.syntaxError(at+i, "unescaped ]]> not in CDATA section")
			}
			i++
		case c == '&' && mode != modeCDATA:
			n, r, msg := parseEntity(raw[i:])
			if msg != "" {
				if msg == entityEOF {
					switch end {
					case endEOF:
						return false, s.unexpectedEOF("unexpected EOF")
					case endCut:
						return false, nil
					}
					msg = entityNoSemicolon(raw[i:])
				}
				return false, s.syntaxError(at+i, "invalid character entity "+msg)
			}
			if !isInCharacterRange(r) && badChar < 0 {
				badChar, badRune = i, r
			}
			decode = true
			i += n
		case c == '&':
			i++
		case c < utf8.RuneSelf:
			if badChar < 0 {
				badChar, badRune = i, rune(c)
			}
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if (r == utf8.RuneError && size == 1 || !isInCharacterRange(r)) && badChar < 0 {
				badChar, badRune = i, r
			}
			i += size
		}
	}
	switch {
	case badChar < 0:
		return decode, nil
	case badRune == utf8.RuneError && raw[badChar] != '&':
		return false, s.syntaxError(at+badChar, "invalid UTF-8")
	}
	return false, s.syntaxError(at+badChar, fmt.Sprintf("illegal character code %U", badRune))
}

// entityEOF is parseEntity's answer for a reference that runs to the end
// of raw: a syntax error if more text follows, "unexpected EOF" if not.
const entityEOF = "\x00eof"

// parseEntity reads the character reference at raw[0] == '&' as
// encoding/xml does: the five predefined entities and decimal or "x"
// hexadecimal character references. It returns the reference's length and
// rune, or encoding/xml's rendering of a bad reference.
func parseEntity(raw []byte) (n int, r rune, bad string) {
	i := 1
	if i < len(raw) && raw[i] == '#' {
		i++
		base := 10
		if i < len(raw) && raw[i] == 'x' {
			base = 16
			i++
		}
		start := i
		for i < len(raw) && (raw[i] >= '0' && raw[i] <= '9' ||
			base == 16 && (raw[i] >= 'a' && raw[i] <= 'f' || raw[i] >= 'A' && raw[i] <= 'F')) {
			i++
		}
		if i == len(raw) {
			return 0, 0, entityEOF
		}
		if raw[i] != ';' {
			return 0, 0, string(raw[:i]) + " (no semicolon)"
		}
		v, err := strconv.ParseUint(string(raw[start:i]), base, 64)
		if err != nil || v > unicode.MaxRune {
			return 0, 0, string(raw[:i+1])
		}
		// encoding/xml converts with string(rune(v)): a surrogate becomes U+FFFD.
		r, _ = utf8.DecodeRuneInString(string(rune(v)))
		return i + 1, r, ""
	}
	for i < len(raw) && nameClass[raw[i]] != ncNone {
		i++
	}
	if i == len(raw) {
		return 0, 0, entityEOF
	}
	if raw[i] != ';' {
		return 0, 0, string(raw[:i]) + " (no semicolon)"
	}
	switch string(raw[1:i]) {
	case "lt":
		return i + 1, '<', ""
	case "gt":
		return i + 1, '>', ""
	case "amp":
		return i + 1, '&', ""
	case "apos":
		return i + 1, '\'', ""
	case "quot":
		return i + 1, '"', ""
	}
	return 0, 0, string(raw[:i+1])
}

// entityNoSemicolon renders a reference cut short by the end of its text
// (by '<' or a closing quote), as encoding/xml does.
func entityNoSemicolon(raw []byte) string {
	return string(raw) + " (no semicolon)"
}

// decodeText appends raw, validated by checkText, to dst with references
// replaced and line ends normalized ("\r\n" and "\r" to "\n"), as
// encoding/xml decodes text.
func decodeText(dst, raw []byte, mode textMode) []byte {
	var prev byte
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '&' && mode != modeCDATA:
			n, r, _ := parseEntity(raw[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
			prev = 0
			continue
		case c == '\r':
			dst = append(dst, '\n')
		case c == '\n' && prev == '\r':
		default:
			dst = append(dst, c)
		}
		prev = c
		i++
	}
	return dst
}

// Name byte classes, as encoding/xml reads names: ASCII letters, '_' and
// ':' may start one; digits, '.' and '-' may follow; any non-ASCII byte is
// taken and the rune checked afterwards.
// The classes are bits, so that one OR over a name tells what it holds.
const (
	ncNone   = 0
	ncStart  = 1
	ncFollow = 2
	ncHigh   = 4
	ncColon  = 8 // with ncStart: a colon may start a name
)

var nameClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c == ':':
			t[c] = ncColon | ncStart
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_':
			t[c] = ncStart
		case '0' <= c && c <= '9' || c == '.' || c == '-':
			t[c] = ncFollow
		case c >= utf8.RuneSelf:
			t[c] = ncHigh
		}
	}
	return t
}()

// isXMLName is encoding/xml's name check. ASCII names are checked here;
// the rare others are handed to encoding/xml itself, whose Unicode tables
// are not exported (a colon, valid anywhere in a name, is swapped for an
// underscore, valid in the same places, so that it cannot split the name).
func isXMLName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	ascii := true
	for _, c := range name {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		c := name[0]
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == ':'
	}
	probe := append(append([]byte("<"), bytes.ReplaceAll(name, []byte(":"), []byte("_"))...), "/>"...)
	_, err := xml.NewDecoder(bytes.NewReader(probe)).RawToken()
	return err == nil
}

// isInCharacterRange is the Char production of XML 1.0, as encoding/xml
// checks it.
func isInCharacterRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
