package notify

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// smtpServer is a loopback mail server that follows RFC 5321 (commands,
// reply codes, dot-stuffing), RFC 3207 (STARTTLS) and RFC 4954 (AUTH
// PLAIN) closely enough to check what the client sends and when.
type smtpServer struct {
	t         *testing.T
	ln        net.Listener
	cert      tls.Certificate
	implicit  bool   // TLS from the first byte
	startTLS  string // "offer", "refuse" (454), or "" (not offered)
	authPlain bool   // offer AUTH PLAIN, even on a plain link (a careless server)
	users     map[string]string
	rcpt      map[string]string // address -> reply refusing it
	silent    bool              // accept and never greet
	accepted  chan struct{}     // gets a value for each connection

	mu    sync.Mutex
	cmds  []string // verbs received, with "TLS" when a link became TLS
	mails []received
}

type received struct {
	from string
	to   []string
	data string
}

func newSMTPServer(t *testing.T, cert tls.Certificate, setup func(*smtpServer)) *smtpServer {
	s := &smtpServer{t: t, cert: cert, startTLS: "offer", authPlain: true, users: map[string]string{"osflow": "pw"}}
	setup(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if s.implicit {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	s.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpServer) record(cmd string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds = append(s.cmds, cmd)
}

func (s *smtpServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	if s.accepted != nil {
		s.accepted <- struct{}{}
	}
	if s.silent {
		_, _ = io.Copy(io.Discard, conn)
		return
	}
	r, w := bufio.NewReader(conn), conn
	reply := func(lines ...string) { _, _ = io.WriteString(w, strings.Join(lines, "\r\n")+"\r\n") }
	_, isTLS := conn.(*tls.Conn)
	if isTLS {
		s.record("TLS")
	}
	reply("220 mail.test ESMTP ready")
	var greeted, authed bool
	var cur *received
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.record(verb)
		switch {
		case verb == "EHLO" || verb == "HELO":
			greeted, authed, cur = true, false, nil
			lines := []string{"250-mail.test greets " + arg, "250-8BITMIME"}
			if s.startTLS != "" && !isTLS {
				lines = append(lines, "250-STARTTLS")
			}
			if s.authPlain {
				lines = append(lines, "250-AUTH PLAIN")
			}
			reply(append(lines, "250 SIZE 10240000")...)
		case verb == "QUIT":
			reply("221 2.0.0 Bye")
			return
		case verb == "NOOP" || verb == "RSET":
			cur = nil
			reply("250 2.0.0 Ok")
		case !greeted:
			reply("503 5.5.1 Error: send HELO/EHLO first")
		case verb == "STARTTLS" && s.startTLS == "refuse":
			reply("454 4.7.0 TLS not available due to temporary reason")
		case verb == "STARTTLS" && s.startTLS == "offer" && !isTLS:
			reply("220 2.0.0 Ready to start TLS")
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if tc.Handshake() != nil {
				return
			}
			s.record("TLS")
			conn, isTLS, greeted = tc, true, false // RFC 3207: forget everything, expect EHLO
			r, w = bufio.NewReader(tc), tc
		case verb == "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			switch {
			case !strings.EqualFold(mech, "PLAIN"):
				reply("504 5.5.4 Unrecognized authentication type")
			case err != nil || len(parts) != 3:
				reply("501 5.5.2 Cannot decode response")
			case s.users[parts[1]] != "" && s.users[parts[1]] == parts[2]:
				authed = true
				reply("235 2.7.0 Authentication successful")
			default:
				reply("535 5.7.8 Authentication credentials invalid")
			}
		case verb == "MAIL":
			if len(s.users) > 0 && !authed {
				reply("530 5.7.0 Authentication required")
				continue
			}
			cur = &received{from: addrOf(arg)}
			reply("250 2.1.0 Ok")
		case verb == "RCPT":
			if cur == nil {
				reply("503 5.5.1 Error: need MAIL command")
				continue
			}
			to := addrOf(arg)
			if refusal, ok := s.rcpt[to]; ok {
				reply(refusal)
				continue
			}
			cur.to = append(cur.to, to)
			reply("250 2.1.5 Ok")
		case verb == "DATA":
			if cur == nil || len(cur.to) == 0 {
				reply("503 5.5.1 Error: need RCPT command")
				continue
			}
			reply("354 End data with <CR><LF>.<CR><LF>")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, ".")) // RFC 5321 4.5.2
			}
			cur.data = data.String()
			s.mu.Lock()
			s.mails = append(s.mails, *cur)
			n := len(s.mails)
			s.mu.Unlock()
			cur = nil
			reply("250 2.0.0 Ok: queued as " + strconv.Itoa(n))
		default:
			reply("500 5.5.2 Error: command not recognized")
		}
	}
}

// addrOf takes the address out of "FROM:<a@b> SIZE=1" or "TO:<a@b>".
func addrOf(arg string) string {
	i, j := strings.IndexByte(arg, '<'), strings.IndexByte(arg, '>')
	if i < 0 || j < i {
		return ""
	}
	return arg[i+1 : j]
}

// testCert makes a self-signed certificate for 127.0.0.1 and writes it as
// a CA file, as a site with a private CA would.
func testCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mail.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

func smtpConfig(s *smtpServer, caFile string, edit func(*config.SMTP)) config.SMTP {
	c := config.SMTP{
		Host: "127.0.0.1", Port: s.port(), TLS: config.SMTPStartTLS, CAFile: caFile,
		From: "osflow <osflow@hpc.example.org>", To: []string{"ops@hpc.example.org", "mgmt@hpc.example.org"},
		User: "osflow", PasswordEnv: "TEST_SMTP_PASSWORD", Helo: "worker.test",
		Timeout: config.Duration{Duration: 10 * time.Second},
	}
	if edit != nil {
		edit(&c)
	}
	return c
}

func TestSMTPDelivers(t *testing.T) {
	cert, caFile := testCert(t)
	t.Setenv("TEST_SMTP_PASSWORD", "pw")
	m := Message{Key: "promotion-r1/outcome", Subject: "Outage of r1: done ✓",
		Text: "Production serves r1.\n.\nA line with a leading dot and a long tail: " + strings.Repeat("x", 1200)}
	for _, mode := range []string{config.SMTPStartTLS, config.SMTPImplicit} {
		t.Run(mode, func(t *testing.T) {
			s := newSMTPServer(t, cert, func(s *smtpServer) { s.implicit = mode == config.SMTPImplicit })
			n, err := NewSMTP(smtpConfig(s, caFile, func(c *config.SMTP) { c.TLS = mode }))
			require.NoError(t, err)
			require.NoError(t, n.Send(context.Background(), m))
			require.NoError(t, n.Send(context.Background(), m)) // a retry of the same key

			cmds := s.commands()
			require.Equal(t, "TLS", firstOf(cmds, "TLS", "AUTH", "MAIL"), "TLS comes before any credential or mail: %v", cmds)
			require.Len(t, s.mails, 2)
			got := s.mails[0]
			require.Equal(t, "osflow@hpc.example.org", got.from)
			require.Equal(t, []string{"ops@hpc.example.org", "mgmt@hpc.example.org"}, got.to)
			parsed, err := mail.ReadMessage(strings.NewReader(got.data))
			require.NoError(t, err)
			subject, err := new(mimeDecoder).DecodeHeader(parsed.Header.Get("Subject"))
			require.NoError(t, err)
			require.Equal(t, m.Subject, subject)
			require.Equal(t, "auto-generated", parsed.Header.Get("Auto-Submitted"))
			id := parsed.Header.Get("Message-ID")
			require.Regexp(t, `^<osflow\.[0-9a-f]{32}@hpc\.example\.org>$`, id)
			again, err := mail.ReadMessage(strings.NewReader(s.mails[1].data))
			require.NoError(t, err)
			require.Equal(t, id, again.Header.Get("Message-ID"), "the same key gives the same Message-ID")
			body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
			require.NoError(t, err)
			require.Equal(t, strings.ReplaceAll(m.Text, "\n", "\r\n")+"\r\n", string(body))
			for _, l := range strings.Split(got.data, "\r\n") {
				require.LessOrEqual(t, len(l), 998, "RFC 5322 line length")
			}
		})
	}
}

func firstOf(cmds []string, verbs ...string) string {
	for _, c := range cmds {
		for _, v := range verbs {
			if c == v {
				return c
			}
		}
	}
	return ""
}

func TestSMTPRefusals(t *testing.T) {
	cert, caFile := testCert(t)
	t.Setenv("TEST_SMTP_PASSWORD", "pw")
	tests := []struct {
		name   string
		server func(*smtpServer)
		cfg    func(*config.SMTP)
		class  error // nil: retryable
		want   string
		never  []string // commands the server must not see
	}{
		{"STARTTLS not offered", func(s *smtpServer) { s.startTLS = "" }, nil,
			failure.ErrInvalid, "does not offer STARTTLS", []string{"AUTH", "MAIL", "STARTTLS"}},
		{"STARTTLS refused", func(s *smtpServer) { s.startTLS = "refuse" }, nil,
			nil, "STARTTLS: server answered 454 4.7.0 TLS not available", []string{"AUTH", "MAIL"}},
		{"untrusted certificate", func(*smtpServer) {}, func(c *config.SMTP) { c.CAFile = "" },
			failure.ErrInvalid, "set notify.smtp.caFile", []string{"AUTH", "MAIL"}},
		{"wrong password", func(s *smtpServer) { s.users["osflow"] = "other" }, nil,
			failure.ErrAuth, "535 5.7.8 Authentication credentials invalid", []string{"MAIL"}},
		{"no password", func(*smtpServer) {}, func(c *config.SMTP) { c.PasswordEnv = "TEST_SMTP_UNSET" },
			failure.ErrAuth, "no password for osflow in $TEST_SMTP_UNSET", []string{"AUTH", "MAIL"}},
		{"recipient unknown", func(s *smtpServer) {
			s.rcpt = map[string]string{"mgmt@hpc.example.org": "550 5.1.1 <mgmt@hpc.example.org>: Recipient address rejected: User unknown"}
		}, nil,
			failure.ErrInvalid, "RCPT TO mgmt@hpc.example.org: server answered 550 5.1.1", []string{"DATA"}},
		{"mailbox busy", func(s *smtpServer) {
			s.rcpt = map[string]string{"ops@hpc.example.org": "450 4.2.1 Mailbox busy, try again"}
		}, nil,
			nil, "450 4.2.1", []string{"DATA"}},
		{"server never greets", func(s *smtpServer) { s.silent = true }, func(c *config.SMTP) { c.Timeout.Duration = 300 * time.Millisecond },
			nil, "the session took longer than 300ms", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSMTPServer(t, cert, tt.server)
			n, err := NewSMTP(smtpConfig(s, caFile, tt.cfg))
			require.NoError(t, err)
			err = n.Send(context.Background(), msg)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), "pw\x00")
			if tt.class != nil {
				require.ErrorIs(t, err, tt.class)
				require.False(t, failure.IsRetryable(err))
			} else {
				require.True(t, failure.IsRetryable(err), "%v", err)
			}
			for _, c := range tt.never {
				require.NotContains(t, s.commands(), c)
			}
			require.Empty(t, s.mails)
		})
	}
}

func TestSMTPPlainLink(t *testing.T) {
	cert, _ := testCert(t)
	t.Run("without a password it delivers", func(t *testing.T) {
		s := newSMTPServer(t, cert, func(s *smtpServer) { s.startTLS, s.users = "", nil })
		n, err := NewSMTP(smtpConfig(s, "", func(c *config.SMTP) { c.TLS, c.User = config.SMTPNone, "" }))
		require.NoError(t, err)
		require.NoError(t, n.Send(context.Background(), msg))
		require.Len(t, s.mails, 1)
		require.NotContains(t, s.commands(), "AUTH")
	})
	t.Run("with a password it is refused", func(t *testing.T) {
		_, err := NewSMTP(config.SMTP{Host: "127.0.0.1", Port: 25, TLS: config.SMTPNone, User: "osflow", From: "a@b.c", To: []string{"d@e.f"}})
		require.ErrorIs(t, err, failure.ErrInvalid)
		require.Contains(t, err.Error(), "in the clear")
	})
}

// mimeDecoder decodes RFC 2047 words in a header.
type mimeDecoder = mimeWordDecoder

func TestSMTPCancelled(t *testing.T) {
	cert, caFile := testCert(t)
	accepted := make(chan struct{}, 1)
	s := newSMTPServer(t, cert, func(s *smtpServer) { s.silent, s.accepted = true, accepted })
	n, err := NewSMTP(smtpConfig(s, caFile, nil))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-accepted // the client is connected and waits for the greeting
		cancel()
	}()
	err = n.Send(ctx, msg)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, failure.IsRetryable(err))
}
