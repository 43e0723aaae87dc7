package workspace

import (
	"container/list"
	"sync"
)

// recentSnapshots bounds the snapshots of pinned loads kept in memory.
const recentSnapshots = 16

// snapCache holds snapshots of revisions that are not serving: those that
// served earlier in this process while their trees are retained, and the
// last recentSnapshots loaded for pinned lookups.
type snapCache struct {
	// mu guards the fields below.
	mu       sync.Mutex
	retained map[snapKey]*Snapshot
	recent   map[snapKey]*list.Element // of *recentEntry
	order    *list.List                // front = most recently used
}

type snapKey struct{ ws, rev string }

type recentEntry struct {
	key  snapKey
	snap *Snapshot
}

func (c *snapCache) init() {
	c.retained = map[snapKey]*Snapshot{}
	c.recent = map[snapKey]*list.Element{}
	c.order = list.New()
}

func (c *snapCache) get(ws, rev string) *Snapshot {
	k := snapKey{ws, rev}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.retained[k]; s != nil {
		return s
	}
	if e := c.recent[k]; e != nil {
		c.order.MoveToFront(e)
		return e.Value.(*recentEntry).snap
	}
	return nil
}

// keep remembers a snapshot that stopped serving: until its revision is
// pruned when retained (pruning runs), else as a recent one.
func (c *snapCache) keep(ws, rev string, s *Snapshot, retained bool) {
	if !retained {
		c.add(ws, rev, s)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retained[snapKey{ws, rev}] = s
}

// add remembers a pinned load, evicting the least recently used.
func (c *snapCache) add(ws, rev string, s *Snapshot) {
	k := snapKey{ws, rev}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.recent[k]; e != nil {
		e.Value.(*recentEntry).snap = s
		c.order.MoveToFront(e)
		return
	}
	c.recent[k] = c.order.PushFront(&recentEntry{key: k, snap: s})
	for c.order.Len() > recentSnapshots {
		e := c.order.Back()
		c.order.Remove(e)
		delete(c.recent, e.Value.(*recentEntry).key)
	}
}

// retainOnly forgets the snapshots of ws whose revision is not in keep
// (their trees were pruned).
func (c *snapCache) retainOnly(ws string, keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.retained {
		if k.ws == ws && !keep[k.rev] {
			delete(c.retained, k)
		}
	}
	for k, e := range c.recent {
		if k.ws == ws && !keep[k.rev] {
			c.order.Remove(e)
			delete(c.recent, k)
		}
	}
}
