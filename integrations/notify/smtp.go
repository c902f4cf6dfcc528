package notify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// SMTP sends mail through a submission server (RFC 5321, 6409).
//
//   - The whole session, connection included, is bounded by the configured
//     timeout and by the context.
//   - With tls: starttls the server must offer STARTTLS and the upgrade
//     must succeed before anything else is sent: a server (or a man in the
//     middle) that does not offer it gets no mail and no password.
//   - A password is only ever sent over TLS. net/smtp's PlainAuth would
//     also send it in the clear to localhost; osflow does not.
//   - The Message-ID is derived from the message's key, so that a message
//     sent again after a lost reply is the same message to mail clients.
type SMTP struct {
	cfg   config.SMTP
	from  *mail.Address
	to    []*mail.Address
	roots *x509.CertPool // nil: the system's
	now   func() time.Time
}

// NewSMTP returns a notifier that mails cfg.To.
func NewSMTP(cfg config.SMTP) (*SMTP, error) {
	s := &SMTP{cfg: cfg, now: time.Now}
	if cfg.TLS == "" {
		s.cfg.TLS = config.SMTPStartTLS
	}
	if s.cfg.TLS == config.SMTPNone && cfg.User != "" {
		return nil, fmt.Errorf("%w: smtp: a user with tls: none would send the password in the clear", failure.ErrInvalid)
	}
	var err error
	if s.from, err = mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("%w: smtp from %q: %v", failure.ErrInvalid, cfg.From, err)
	}
	if s.to, err = mail.ParseAddressList(strings.Join(cfg.To, ", ")); err != nil || len(cfg.To) == 0 {
		return nil, fmt.Errorf("%w: smtp to %q: %v", failure.ErrInvalid, cfg.To, err)
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: smtp: CA file: %w", failure.ErrInvalid, err)
		}
		s.roots = x509.NewCertPool()
		if !s.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: smtp: CA file %s holds no PEM certificate", failure.ErrInvalid, cfg.CAFile)
		}
	}
	if s.cfg.Timeout.Duration <= 0 {
		s.cfg.Timeout.Duration = 30 * time.Second
	}
	return s, nil
}

func (s *SMTP) addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)) }

func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.cfg.Host, RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

// Send mails the message to every recipient.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	data, err := s.compose(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout.Duration)
	defer cancel()
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	// The deadline bounds every read and write; closing on cancel
	// interrupts one in progress.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	err = s.session(conn, m, data)
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("smtp %s: %w (%w)", s.addr(), ctx.Err(), err)
	case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
		// The connection's deadline and the context's end together.
		return fmt.Errorf("smtp %s: the session took longer than %s (notify.smtp.timeout): %w", s.addr(), s.cfg.Timeout.Duration, err)
	}
	return err
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return nil, fmt.Errorf("smtp: connect to %s: %w", s.addr(), err)
	}
	if s.cfg.TLS != config.SMTPImplicit {
		return conn, nil
	}
	tc := tls.Client(conn, s.tlsConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, s.tlsError("TLS handshake", err)
	}
	return tc, nil
}

// tlsError classifies a failed handshake: an untrusted or mismatched
// certificate will not fix itself, a broken connection may.
func (s *SMTP) tlsError(what string, err error) error {
	err = fmt.Errorf("smtp %s: %s: %w", s.addr(), what, err)
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return fmt.Errorf("%w: %w (set notify.smtp.caFile to trust a private CA)", failure.ErrInvalid, err)
	}
	return err
}

func (s *SMTP) session(conn net.Conn, m Message, data []byte) error {
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return s.reply("greeting", err)
	}
	helo := s.cfg.Helo
	if helo == "" {
		helo, _ = os.Hostname()
	}
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return s.reply("EHLO", err)
	}
	if s.cfg.TLS == config.SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%w: smtp %s does not offer STARTTLS: osflow sends nothing over a plain link with tls: starttls (use tls: implicit for port 465)",
				failure.ErrInvalid, s.addr())
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			var te *textproto.Error
			if errors.As(err, &te) {
				return s.reply("STARTTLS", err)
			}
			return s.tlsError("STARTTLS", err)
		}
	}
	if s.cfg.User != "" {
		if err := s.auth(c); err != nil {
			return err
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return s.reply("MAIL FROM "+s.from.Address, err)
	}
	for _, to := range s.to {
		if err := c.Rcpt(to.Address); err != nil {
			return s.reply("RCPT TO "+to.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return s.reply("DATA", err)
	}
	if _, err := w.Write(data); err != nil {
		return s.reply("message", err)
	}
	if err := w.Close(); err != nil {
		return s.reply("end of message "+m.Key, err)
	}
	// The server has taken the message; a failed QUIT does not undo that.
	_ = c.Quit()
	return nil
}

func (s *SMTP) auth(c *smtp.Client) error {
	if _, isTLS := c.TLSConnectionState(); !isTLS {
		return fmt.Errorf("%w: smtp %s: refusing to send the password of %s over a link without TLS", failure.ErrInvalid, s.addr(), s.cfg.User)
	}
	ok, mechs := c.Extension("AUTH")
	if !ok || !hasWord(mechs, "PLAIN") {
		return fmt.Errorf("%w: smtp %s offers no AUTH PLAIN (offers %q)", failure.ErrInvalid, s.addr(), mechs)
	}
	pw, err := s.cfg.Password()
	if err != nil || pw == "" {
		return fmt.Errorf("%w: smtp: no password for %s in %s: %v", failure.ErrAuth, s.cfg.User, s.cfg.SecretName(), err)
	}
	if err := c.Auth(smtp.PlainAuth("", s.cfg.User, pw, s.cfg.Host)); err != nil {
		return s.reply("AUTH as "+s.cfg.User, err)
	}
	return nil
}

func hasWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if strings.EqualFold(w, word) {
			return true
		}
	}
	return false
}

// reply classifies the server's answer to a command (RFC 5321 4.2.1):
// 4yz is transient and retried; 530, 534 and 535 refuse the credentials;
// other 5yz refuse the message or an address for good.
func (s *SMTP) reply(cmd string, err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("smtp %s: %s: %w", s.addr(), cmd, err) // transport: retryable
	}
	err = fmt.Errorf("smtp %s: %s: server answered %d %s", s.addr(), cmd, te.Code, te.Msg)
	switch {
	case te.Code >= 400 && te.Code < 500:
		return err
	case te.Code == 530 || te.Code == 534 || te.Code == 535:
		return fmt.Errorf("%w: %w (check notify.smtp.user and %s)", failure.ErrAuth, err, s.cfg.SecretName())
	default:
		return fmt.Errorf("%w: %w", failure.ErrInvalid, err)
	}
}

// compose writes the message: headers, then the text as quoted-printable
// UTF-8, so that any text keeps within SMTP's line length.
func (s *SMTP) compose(m Message) ([]byte, error) {
	from := s.from
	var to []string
	for _, a := range s.to {
		to = append(to, a.String())
	}
	sum := sha256.Sum256([]byte(m.Key))
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from.String())
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", s.now().Format(time.RFC1123Z))
	h("Message-ID", "<osflow."+hex.EncodeToString(sum[:16])+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	if _, err := qp.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return []byte(b.String()), nil
}
