package gitdelivery

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// A git server that accepts connections and never answers (a hung remote,
// a black-holed network): a publish in progress returns promptly once its
// context is cancelled, so a hub that stops is not held by git. (git's
// remote helper, which holds git's output, is killed with it: it used to
// outlive it, and Run waited out its WaitDelay, 5 s.)
func TestPublishReturnsPromptlyWhenCancelled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	p := testPublisher(t)
	tg := Target{URL: "http://" + l.Addr().String() + "/fleet.git", Branch: "main", Path: "clusters/a"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Publish(ctx, "a", tg, nil, map[string][]byte{"clusters/a/x.yaml": []byte("x: 1\n")}, "test\n")
		done <- err
	}()
	time.Sleep(time.Second) // git is waiting for the server by now
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		t.Logf("returned %s after the cancel: %v", time.Since(cancelled).Round(time.Millisecond), err)
		if err == nil {
			t.Error("a cancelled publish to a server that never answered succeeded")
		}
		if took := time.Since(cancelled); took > 2*time.Second {
			t.Errorf("returned %s after the cancel, want promptly", took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("publish still running 30s after its context was cancelled")
	}
}
