package mongotest

import "testing"

func TestWithDatabase(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017/t1"},
		{"mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/t1"},
		{"mongodb://u:p@h1:1,h2:2/blog?replicaSet=rs0", "mongodb://u:p@h1:1,h2:2/t1?replicaSet=rs0"},
		{"mongodb://h/?directConnection=true", "mongodb://h/t1?directConnection=true"},
	}
	for _, tt := range tests {
		got, err := WithDatabase(tt.uri, "t1")
		if err != nil || got != tt.want {
			t.Errorf("WithDatabase(%q) = %q, %v; want %q", tt.uri, got, err, tt.want)
		}
	}
	if _, err := WithDatabase("http://x", "t1"); err == nil {
		t.Error("WithDatabase accepted an http URI")
	}
}
