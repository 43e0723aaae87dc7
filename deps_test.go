// Package runnel_test holds repository-wide checks; it has no code of its own.
package runnel_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

type goPackage struct {
	ImportPath string
	Imports    []string
}

// listPackages returns every non-test package of the module with its direct
// imports.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// layer names the top-level runnel package of an import path ("" for
// others).
func layer(path string) string {
	if path != "runnel" && !strings.HasPrefix(path, "runnel/") {
		return ""
	}
	parts := strings.Split(path, "/")
	if len(parts) == 1 {
		return "runnel"
	}
	return parts[1]
}

// TestImportRules enforces STYLE.md: dependencies point one way
// (cmd → httpd → jobs → workspace, logstore; gitsync feeds workspace via
// cmd), leaves import no other runnel package, and each third-party library
// has one owner.
func TestImportRules(t *testing.T) {
	allowed := map[string][]string{
		"cmd":       {"httpd", "jobs", "workspace", "logstore", "gitsync", "examples"},
		"httpd":     {"jobs", "workspace", "logstore"},
		"jobs":      {"workspace", "logstore"},
		"workspace": {},
		"logstore":  {},
		"gitsync":   {},
		"examples":  {},
		"e2e":       {"httpd"}, // black-box tests of the real binaries
	}
	owners := map[string][]string{
		"github.com/go-git/go-git/v5":         {"gitsync"},
		"go.etcd.io/bbolt":                    {"jobs"},
		"github.com/julienschmidt/httprouter": {"httpd"},
		"github.com/gorilla/websocket":        {"httpd"},
		"github.com/fsnotify/fsnotify":        {"workspace"},
		"github.com/nikolalohinski/gonja/v2":  {"workspace"},
		"github.com/adhocore/gronx":           {"workspace"},
		"github.com/goccy/go-yaml":            {"workspace", "cmd"},
		"github.com/golang-jwt/jwt/v5":        {"httpd"},
		"golang.org/x/crypto/argon2":          {"httpd"},
		"github.com/aymanbagabas/go-udiff":    {"httpd"},
	}
	for _, p := range listPackages(t) {
		from := layer(p.ImportPath)
		if from == "runnel" {
			continue // this test-only package
		}
		ok, known := allowed[from]
		if !known {
			t.Errorf("package %s is outside the known layers; add it to the rules", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if to := layer(imp); to != "" && to != from {
				if !contains(ok, to) {
					t.Errorf("%s imports %s: %s may not depend on %s", p.ImportPath, imp, from, to)
				}
			}
			for lib, libOwners := range owners {
				if (imp == lib || strings.HasPrefix(imp, lib+"/")) && !contains(libOwners, from) {
					t.Errorf("%s imports %s, owned by %v", p.ImportPath, imp, libOwners)
				}
			}
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
