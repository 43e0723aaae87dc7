package auth_test

import (
	"fmt"
	"testing"
	"time"

	"runnel/httpd/auth"
)

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := auth.HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	s, err := auth.NewSigner(secret)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok, err := s.Sign("6f1c8b8e-51a4-4d52-9f5a-0f6f0b0f7c11", "ada@example.com", false, now)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Verify(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := auth.NewLimiter(10, 3*time.Second, 0)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
	}
	now := time.Now()
	i := 0
	for b.Loop() {
		l.Allow(keys[i%len(keys)], now)
		i++
	}
}
