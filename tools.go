//go:build tools

package tools

import (
	_ "github.com/adhocore/gronx"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/goccy/go-yaml"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/uuid"
	_ "github.com/gorilla/websocket"
	_ "github.com/julienschmidt/httprouter"
	_ "github.com/nikolalohinski/gonja/v2"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/crypto/argon2"
)
