package httpd

import (
	"fmt"
	"testing"
)

func TestHubOverflowDropsOnlyTheSlowSubscriber(t *testing.T) {
	h := newHub()
	slow := &subscriber{}
	fast := &subscriber{types: map[string]bool{eventJob: true}}
	h.subscribe(slow)
	h.subscribe(fast)
	got := 0
	for i := 0; i < eventBuffer+10; i++ {
		e, err := encodeEvent(eventJob, "", map[string]int{"n": i})
		if err != nil {
			t.Fatal(err)
		}
		h.publish([]event{e})
		<-fast.ch // the fast one keeps up
		got++
	}
	n := 0
	for range slow.ch {
		n++
	}
	if n != eventBuffer || !slow.overflow {
		t.Errorf("slow subscriber: %d buffered, overflow %v; want %d, true", n, slow.overflow, eventBuffer)
	}
	if fast.overflow || got != eventBuffer+10 {
		t.Errorf("fast subscriber dropped (overflow %v) after %d", fast.overflow, got)
	}
	if h.active() != true {
		t.Error("fast subscriber unsubscribed")
	}
	h.unsubscribe(fast)
	h.unsubscribe(slow) // already gone: no double close
	if h.active() {
		t.Error("subscribers left")
	}
	// A filtered-out type never reaches the subscriber.
	only := &subscriber{types: map[string]bool{eventStep: true}, jobID: "a"}
	h.subscribe(only)
	for _, c := range []struct{ typ, job string }{{eventJob, "a"}, {eventStep, "b"}, {eventStep, "a"}} {
		e, _ := encodeEvent(c.typ, c.job, nil)
		h.publish([]event{e})
	}
	if len(only.ch) != 1 {
		t.Errorf("filtered subscriber got %d events, want 1", len(only.ch))
	}
	if f := string(<-only.ch); f != fmt.Sprintf("event: %s\ndata: null\n\n", eventStep) {
		t.Errorf("frame %q", f)
	}
}

func TestPublicURLStripsCredentials(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://x-access-token:ghp_secret@github.com/acme/ops.git", "https://github.com/acme/ops.git"},
		{"https://ghp_secret@github.com/acme/ops.git", "https://github.com/acme/ops.git"},
		{"ssh://git:pw@example.com/ops.git", "ssh://git@example.com/ops.git"},
		{"ssh://git@example.com/ops.git", "ssh://git@example.com/ops.git"},
		{"git@github.com:acme/ops.git", "git@github.com:acme/ops.git"},
		{"/srv/git/ops", "/srv/git/ops"},
		{"file:///srv/git/ops", "file:///srv/git/ops"},
	} {
		if got := publicURL(c.in); got != c.want {
			t.Errorf("publicURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
