package limp

import "testing"

func TestListenAddr(t *testing.T) {
	secure := Config{AdminPassword: "s3cret!", AnonToken: "a-long-random-anon-token"}
	cases := []struct {
		name   string
		cfg    Config
		flag   string
		port   int
		want   string
		logged bool
	}{
		{"defaults: loopback only", Config{}, "", 8081, "127.0.0.1:8081", true},
		{"default anon token alone", Config{AdminPassword: "s3cret!"}, "", 9000, "127.0.0.1:9000", true},
		{"default admin password alone", Config{AnonToken: "a-long-random-anon-token"}, "", 9000, "127.0.0.1:9000", true},
		{"defaults, --listen names an address", Config{}, "0.0.0.0:8081", 8081, "0.0.0.0:8081", true},
		{"defaults, Config.Listen names one", Config{Listen: "[::]:80"}, "", 8081, "[::]:80", true},
		{"defaults, loopback named", Config{}, "127.0.0.1:7000", 8081, "127.0.0.1:7000", false},
		{"secure: every interface", secure, "", 8081, ":8081", false},
		{"secure: Config.Listen", withListen(secure, "10.0.0.1:80"), "", 8081, "10.0.0.1:80", false},
		{"secure: --listen over Config.Listen", withListen(secure, "10.0.0.1:80"), "127.0.0.1:1", 8081, "127.0.0.1:1", false},
	}
	for _, tc := range cases {
		cfg := tc.cfg
		cfg.setDefaults()
		var logs countHandler
		cfg.Logger = newCountLogger(&logs)
		a := &App{cfg: cfg, log: cfg.Logger}
		if got := a.listenAddr(tc.flag, tc.port); got != tc.want {
			t.Errorf("%s: listenAddr = %q, want %q", tc.name, got, tc.want)
		}
		if (logs.n > 0) != tc.logged {
			t.Errorf("%s: logged %d warnings, want logged=%v", tc.name, logs.n, tc.logged)
		}
	}
}

func withListen(c Config, addr string) Config {
	c.Listen = addr
	return c
}
