package tmpl

import "sync"

// Cache shares parsed templates between parses of the same text, within a
// load and across reloads (templates are immutable, so sharing is safe).
// It is safe for concurrent use and bounded: once it holds max entries it
// starts over. A nil *Cache parses without caching.
type Cache struct {
	mu  sync.Mutex
	max int
	m   map[string]cached
}

type cached struct {
	t   *Template
	err error
}

// NewCache returns a cache of at most max templates (default 20,000).
func NewCache(max int) *Cache {
	if max <= 0 {
		max = 20000
	}
	return &Cache{max: max, m: make(map[string]cached)}
}

// Parse is Parse through the cache; errors are cached too.
func (c *Cache) Parse(src string) (*Template, error) {
	if c == nil || isStatic(src) {
		return Parse(src)
	}
	c.mu.Lock()
	r, ok := c.m[src]
	c.mu.Unlock()
	if ok {
		return r.t, r.err
	}
	t, err := Parse(src)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[src] = cached{t, err}
	c.mu.Unlock()
	return t, err
}

// Compile is Compile with every string parsed through the cache.
func (c *Cache) Compile(raw any) (*Value, error) {
	return compileValue(raw, c.Parse)
}

// Len reports how many templates the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
