package limp_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

// fakeSMTP is an SMTPS server on loopback for tests: it accepts AUTH
// PLAIN and records each message's DATA.
type fakeSMTP struct {
	ln       net.Listener
	roots    *x509.CertPool
	mu       sync.Mutex
	msgs     []string
	failNext int // refuse this many DATA commands (451)
	wg       sync.WaitGroup
	got      chan struct{}
}

func startFakeSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSMTP{ln: ln, roots: roots, got: make(chan struct{}, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	w := func(l string) { _, _ = c.Write([]byte(l + "\r\n")) }
	w("220 fake ESMTP")
	for n := 0; n < 100; n++ {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			w("250-fake")
			w("250 AUTH PLAIN")
		case strings.HasPrefix(cmd, "AUTH PLAIN"):
			w("235 ok")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), strings.HasPrefix(cmd, "RSET"), strings.HasPrefix(cmd, "NOOP"):
			w("250 ok")
		case cmd == "DATA":
			s.mu.Lock()
			fail := s.failNext > 0
			if fail {
				s.failNext--
			}
			s.mu.Unlock()
			if fail {
				w("451 try later")
				continue
			}
			w("354 go")
			var b strings.Builder
			for k := 0; k < 100000; k++ {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.mu.Unlock()
			w("250 queued")
			s.got <- struct{}{}
		case cmd == "QUIT":
			w("221 bye")
			return
		default:
			w("502 no")
		}
	}
}

func TestEmailGateway(t *testing.T) {
	smtp := startFakeSMTP(t)
	smtp.failNext = 1 // the first delivery fails: retried
	app := limp.New(limptest.Config(t, limp.Config{Name: "mail", Locale: "en_AE", EmailAuth: &limp.EmailAuth{
		Server: smtp.ln.Addr().String(), Username: "app@example.com", Password: "pw",
		TLSConfig: &tls.Config{RootCAs: smtp.roots, ServerName: "127.0.0.1"},
	}}))
	limp.SetGatewayBackoff(app, 10*time.Millisecond)
	var got []limp.M
	var mu sync.Mutex
	app.Gateway("sms", func(ctx context.Context, msg limp.M) error {
		mu.Lock()
		got = append(got, msg)
		mu.Unlock()
		return nil
	})
	// A method that sends from a call: the reply does not wait for SMTP.
	mailer := limp.NewService("mailer", limp.Methods{"send": {Permissions: limp.Perms("*"),
		Handler: func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
			err := c.App().Send(ctx, "email", limp.M{"subject": "Hi", "addr_to": []any{"a@example.com", "b@example.com"},
				"content": "<b>hello</b>", "content_format": "html",
				"files": []any{limp.M{"name": "note.txt", "content": "attached text"}}})
			if err != nil {
				return nil, err
			}
			return limp.OK("Sent.", nil), c.App().Send(ctx, "sms", limp.M{"to": "+971", "text": "hi"})
		}}})
	app.Register("test", mailer)
	s := limptest.Start(t, app)
	c := s.Client(t, nil)
	call(t, c, "mailer/send", nil, nil)
	select {
	case <-smtp.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no email delivered")
	}
	smtp.mu.Lock()
	msg := smtp.msgs[0]
	smtp.mu.Unlock()
	for _, want := range []string{"Subject: Hi", "text/html", "a@example.com", "b@example.com", `filename="note.txt"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	// Bad input is refused at Send with its code.
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		msg  limp.M
		code string
	}{
		{"email", limp.M{"subject": "x"}, "CORE_GATEWAY_INVALID_EMAIL"},
		{"email", limp.M{"addr_to": "not an address"}, "CORE_GATEWAY_INVALID_EMAIL"},
		{"email", limp.M{"addr_to": "a@example.com", "content_format": "rtf"}, "CORE_GATEWAY_INVALID_EMAIL"},
		{"fax", limp.M{}, "CORE_GATEWAY_UNKNOWN"},
	} {
		err := s.App.Send(ctx, tt.name, tt.msg)
		var le *limp.Error
		if !errorsAs(err, &le) || le.Code != tt.code {
			t.Errorf("Send(%s, %v) = %v, want %s", tt.name, tt.msg, err, tt.code)
		}
	}
	// Shutdown drains the queue: the app gateway got its message.
	if err := s.App.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var le *limp.Error
	if err := s.App.Send(ctx, "sms", limp.M{}); !errorsAs(err, &le) || le.Code != "CORE_GATEWAY_STOPPED" {
		t.Errorf("Send after Shutdown = %v, want CORE_GATEWAY_STOPPED", err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "auth", *s.App.Config().EmailAuth)
	if strings.Contains(logged.String(), "pw") {
		t.Errorf("EmailAuth logged its password: %s", logged.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0]["text"] != "hi" {
		t.Errorf("sms gateway got %v", got)
	}
}

func errorsAs(err error, target **limp.Error) bool {
	e, ok := err.(*limp.Error)
	if ok {
		*target = e
	}
	return ok
}
