// Package runnel_test holds repository-wide checks; it has no code of its own.
package runnel_test

import (
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// goPackage is what the checks read of one package from `go list -json`.
type goPackage struct {
	ImportPath   string
	Name         string
	Dir          string
	Doc          string
	GoFiles      []string
	Imports      []string // direct imports of the production code
	Deps         []string // every package the production code depends on, transitively
	TestImports  []string // direct imports of in-package (_test.go, package x) tests
	XTestImports []string // direct imports of external (package x_test) tests

	// DocFiles names the GoFiles that carry a package comment (filled by
	// listPackages with go/parser).
	DocFiles []string `json:"-"`
}

// listPackages returns every package of the module, sub-packages and
// commands included.
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
		for _, f := range p.GoFiles {
			af, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatalf("parse %s: %v", f, err)
			}
			if af.Doc != nil {
				p.DocFiles = append(p.DocFiles, f)
			}
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// importRules is runnel's import policy (STYLE.md "Layers and ownership").
//
// A package belongs to the unit named by the longest key of May that is its
// path (below "runnel/") or a parent of it: "jobs/shell" has its own rule,
// "jobs/jobstest" falls under "jobs". A unit may depend on its own subtree
// and on the subtrees listed, and the check follows the TRANSITIVE graph, so
// a list must name everything reachable (httpd reaches workspace through
// jobs).
//
// The rules, each of which TestImportCheckerRulesFire proves can fire:
//
//   - layer: a package's production code depends only on what its unit
//     may depend on;
//   - test-only: production code never depends on "testing" or on a test
//     helper (a package whose name ends in "test": jobs/jobstest,
//     httpd/httpdtest, gitsync/gittest), except the helpers themselves;
//   - test-layer: a package's tests (in-package and _test packages) reach
//     only what its production code may, plus TestMay, plus the test
//     helpers of its own top-level tree or of a tree it may depend on,
//     together with everything those helpers reach. So httpd/client's tests
//     may run the real server through httpd/httpdtest, while a leaf's tests
//     may use neither jobs/jobstest nor anything above the leaf;
//   - owner: a third-party library is imported (by production code) only
//     within its owners' subtrees. Tests may import a library directly,
//     e.g. a WebSocket or JWT client to drive the server from outside.
//   - unknown: every package belongs to a unit.
type importRules struct {
	May     map[string][]string
	TestMay map[string][]string
	Owners  map[string][]string
	// Known lists recorded violations ("kind package via") that are debts
	// to pay, with why; a listed violation that no longer occurs fails the
	// check so the list only shrinks.
	Known map[string]string
}

// runnelRules is the policy the module is held to.
var runnelRules = importRules{
	May: map[string][]string{
		"cmd":                {"httpd", "jobs", "workspace", "logstore", "gitsync", "examples"},
		"cmd/runnel/config":  {"httpd", "jobs", "workspace", "logstore"}, // httpd's defaults, workspace's suggestions
		"httpd":              {"jobs", "workspace", "logstore"},
		"httpd/client":       {"jobs/api", "jobs/worker", "jobs/shell"}, // the wire types and the worker loop it drives; never the server, nor the engine
		"httpd/accounts":     {},                                        // over the bbolt file the job store hands out (accounts.DB)
		"httpd/auth":         {},
		"httpd/metrics":      {},
		"httpd/web":          {},
		"jobs":               {"workspace", "logstore"},
		"jobs/api":           {},           // the wire types: every side of the API may use them
		"jobs/audit":         {"jobs/api"}, // over the bbolt file the job store hands out (audit.DB); never the engine
		"jobs/shell":         {},
		"jobs/worker":        {"jobs/api", "jobs/shell"}, // the remote worker: the protocol and the runner, not the engine
		"workspace":          {},
		"workspace/cron":     {},
		"workspace/tmpl":     {},
		"workspace/waittest": {}, // the tests' one deadline: a leaf test helper
		"workspace/yamlfile": {},
		"logstore":           {},
		"gitsync":            {},
		"examples":           {},
		"e2e":                {"httpd", "jobs", "workspace", "logstore"}, // black-box tests of the real binaries
	},
	TestMay: map[string][]string{
		"examples": {"workspace"},          // the examples are checked with the real loader
		"gitsync":  {"workspace/waittest"}, // the tests' one deadline (Patience), below every other tree's reach
	},
	Owners: map[string][]string{
		"github.com/go-git/go-git/v5":         {"gitsync"},
		"go.etcd.io/bbolt":                    {"jobs", "httpd/accounts"}, // jobs/audit is in jobs' subtree
		"github.com/julienschmidt/httprouter": {"httpd"},
		"github.com/gorilla/websocket":        {"httpd"},
		"github.com/fsnotify/fsnotify":        {"workspace"},
		"github.com/nikolalohinski/gonja/v2":  {"workspace/tmpl"},
		"github.com/adhocore/gronx":           {"workspace/cron"},
		"github.com/goccy/go-yaml":            {"workspace", "cmd/runnel/config"},
		"github.com/golang-jwt/jwt/v5":        {"httpd/auth"},
		"golang.org/x/crypto/argon2":          {"httpd/auth"},
		"github.com/aymanbagabas/go-udiff":    {"httpd"},
		"github.com/prometheus/client_golang": {"httpd/metrics"},
	},
	Known: map[string]string{
		"test-layer runnel/jobs runnel/httpd":         "jobs/metrics_bench_test.go serves /metrics through httpd; issue 15",
		"test-layer runnel/jobs runnel/httpd/metrics": "jobs/metrics_bench_test.go scrapes httpd/metrics; issue 15",
	},
}

// violation is one broken rule: package pkg breaks rule kind through via
// (a direct import, a file or a library).
type violation struct {
	kind, pkg, via, msg string
}

func (v violation) key() string { return v.kind + " " + v.pkg + " " + v.via }

// rel is path below the module ("" for the module root, false outside).
func rel(p string) (string, bool) {
	if p == "runnel" {
		return "", true
	}
	r, ok := strings.CutPrefix(p, "runnel/")
	return r, ok
}

// within reports whether r is one of roots or below one.
func within(r string, roots []string) bool {
	for _, root := range roots {
		if r == root || strings.HasPrefix(r, root+"/") {
			return true
		}
	}
	return false
}

// unit is the longest key of may that is r or a parent of r.
func (rs importRules) unit(r string) (string, bool) {
	best, found := "", false
	for k := range rs.May {
		if within(r, []string{k}) && len(k) >= len(best) {
			best, found = k, true
		}
	}
	return best, found
}

func isHelper(r string) bool { return strings.HasSuffix(path.Base(r), "test") }

// check returns every violation of rs in pkgs, and the Known entries that
// did not occur.
func (rs importRules) check(pkgs []goPackage) (vs []violation, stale []string) {
	byPath := map[string]goPackage{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	// reach is imp itself and, for runnel packages, everything it depends on.
	reach := func(imp string) []string { return append([]string{imp}, byPath[imp].Deps...) }
	add := func(kind, pkg, via, format string, args ...any) {
		vs = append(vs, violation{kind, pkg, via, fmt.Sprintf(format, args...)})
	}
	for _, p := range pkgs {
		r, _ := rel(p.ImportPath)
		if r == "" {
			continue // this test-only package
		}
		u, known := rs.unit(r)
		if !known {
			add("unknown", p.ImportPath, "", "package %s is outside the known units; add it to the rules", p.ImportPath)
			continue
		}
		roots := append([]string{u}, rs.May[u]...)

		for _, imp := range p.Imports {
			var bad []string
			for _, d := range reach(imp) {
				if dr, ok := rel(d); ok && !within(dr, roots) {
					bad = append(bad, d)
				}
			}
			if len(bad) > 0 {
				add("layer", p.ImportPath, imp, "%s imports %s, which brings in %v: %s may depend only on %v", p.ImportPath, imp, bad, u, roots)
			}
			for lib, owners := range rs.Owners {
				if (imp == lib || strings.HasPrefix(imp, lib+"/")) && !within(r, owners) {
					add("owner", p.ImportPath, imp, "%s imports %s, owned by %v", p.ImportPath, imp, owners)
				}
			}
		}

		if !isHelper(r) {
			for _, d := range p.Deps {
				if dr, ok := rel(d); d == "testing" || ok && isHelper(dr) {
					add("test-only", p.ImportPath, d, "production code of %s depends on %s, which is for tests only", p.ImportPath, d)
				}
			}
		}

		// What the tests may reach: the production roots, TestMay, and the
		// helpers of the own tree or an allowed one with all they reach.
		testRoots := append(append([]string{}, roots...), rs.TestMay[u]...)
		top := strings.Split(u, "/")[0]
		helperReach := map[string]bool{}
		for _, h := range pkgs {
			hr, ok := rel(h.ImportPath)
			if ok && isHelper(hr) && (within(hr, []string{top}) || within(hr, roots)) {
				for _, d := range reach(h.ImportPath) {
					helperReach[d] = true
				}
			}
		}
		seen := map[string]bool{}
		for _, imp := range slices.Concat(p.TestImports, p.XTestImports) {
			if seen[imp] {
				continue
			}
			seen[imp] = true
			var bad []string
			for _, d := range reach(imp) {
				if dr, ok := rel(d); ok && dr != "" && !within(dr, testRoots) && !helperReach[d] {
					bad = append(bad, d)
				}
			}
			if len(bad) > 0 {
				add("test-layer", p.ImportPath, imp, "tests of %s import %s, which brings in %v: they may reach only %v and the helpers of their tree", p.ImportPath, imp, bad, testRoots)
			}
		}
	}

	var kept []violation
	occurred := map[string]bool{}
	for _, v := range vs {
		if _, ok := rs.Known[v.key()]; ok {
			occurred[v.key()] = true
			continue
		}
		kept = append(kept, v)
	}
	for k := range rs.Known {
		if !occurred[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	return kept, stale
}

// checkDocs returns a violation for every package with Go files whose
// package comment is missing, does not start with "Package <name> " (or
// "Command <name> " for a main package), or is not (only) in doc.go.
func checkDocs(pkgs []goPackage) []violation {
	var vs []violation
	for _, p := range pkgs {
		if len(p.GoFiles) == 0 {
			continue // test-only directory such as the module root
		}
		want := "Package " + p.Name + " "
		if p.Name == "main" {
			want = "Command " + path.Base(p.ImportPath) + " "
		}
		switch {
		case p.Doc == "":
			vs = append(vs, violation{"doc", p.ImportPath, "", fmt.Sprintf("package %s has no doc comment; add a doc.go (STYLE.md)", p.ImportPath)})
		case !strings.HasPrefix(p.Doc, want):
			vs = append(vs, violation{"doc", p.ImportPath, "", fmt.Sprintf("doc comment of %s starts %q, want %q", p.ImportPath, p.Doc, want)})
		case !slices.Equal(p.DocFiles, []string{"doc.go"}):
			vs = append(vs, violation{"doc", p.ImportPath, "", fmt.Sprintf("package comment of %s is in %v, want only doc.go", p.ImportPath, p.DocFiles)})
		}
	}
	return vs
}

// TestImportRules enforces runnelRules on the module's real graph.
func TestImportRules(t *testing.T) {
	vs, stale := runnelRules.check(listPackages(t))
	for _, v := range vs {
		t.Errorf("%s: %s", v.kind, v.msg)
	}
	for _, k := range stale {
		t.Errorf("known violation %q (%s) no longer occurs: remove it from Known", k, runnelRules.Known[k])
	}
}

// TestPackageDocs: every package, sub-packages and commands included, has
// a doc comment in its doc.go.
func TestPackageDocs(t *testing.T) {
	for _, v := range checkDocs(listPackages(t)) {
		t.Error(v.msg)
	}
}

// graph fabricates packages: prod maps a package (below runnel/, or a
// library path with a dot) to its direct imports, tests to its test
// imports; Deps are computed transitively and every runnel package has a
// Go file.
func graph(prod, tests map[string][]string) []goPackage {
	full := func(p string) string {
		if p == "testing" || strings.Contains(strings.Split(p, "/")[0], ".") {
			return p
		}
		return "runnel/" + p
	}
	var deps func(p string, into map[string]bool)
	deps = func(p string, into map[string]bool) {
		for _, i := range prod[p] {
			if !into[full(i)] {
				into[full(i)] = true
				deps(i, into)
			}
		}
	}
	var pkgs []goPackage
	for p, imps := range prod {
		if full(p) == p {
			continue // a library or testing
		}
		gp := goPackage{ImportPath: full(p), Name: path.Base(p), GoFiles: []string{"doc.go"}, Doc: "Package " + path.Base(p) + " does.", DocFiles: []string{"doc.go"}}
		for _, i := range imps {
			gp.Imports = append(gp.Imports, full(i))
		}
		set := map[string]bool{}
		deps(p, set)
		for d := range set {
			gp.Deps = append(gp.Deps, d)
		}
		sort.Strings(gp.Deps)
		for _, i := range tests[p] {
			gp.XTestImports = append(gp.XTestImports, full(i))
		}
		pkgs = append(pkgs, gp)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].ImportPath < pkgs[j].ImportPath })
	return pkgs
}

// TestImportCheckerRulesFire runs the checker on small fabricated graphs:
// a clean one, and one per rule that only that rule rejects. A rule no case
// makes fire fails the test, so a rule that cannot fire is caught.
func TestImportCheckerRulesFire(t *testing.T) {
	rules := importRules{
		May: map[string][]string{
			"cmd":       {"httpd", "jobs", "workspace"},
			"httpd":     {"jobs", "workspace"},
			"httpd/cli": {"jobs", "workspace"},
			"jobs":      {"workspace"},
			"jobs/sh":   {},
			"workspace": {},
		},
		Owners: map[string][]string{"example.com/db": {"jobs"}, "example.com/tpl": {"workspace/tmpl"}},
	}
	// clean is a graph that keeps every rule: a sub-package importing its
	// parent's dependency, a client's tests using the server's helper, a
	// helper importing testing.
	clean := map[string][]string{
		"cmd/runnel":      {"httpd", "httpd/cli"},
		"httpd":           {"jobs"},
		"httpd/cli":       {"jobs"},
		"httpd/httpdtest": {"httpd", "testing"},
		"jobs":            {"workspace", "jobs/sh", "example.com/db"},
		"jobs/sh":         {},
		"jobs/jobstest":   {"jobs", "testing"},
		"jobs/worker":     {"jobs"},
		"workspace":       {"workspace/tmpl"},
		"workspace/tmpl":  {"example.com/tpl"},
		"example.com/db":  {},
		"example.com/tpl": {},
		"testing":         {},
	}
	cleanTests := map[string][]string{
		"httpd/cli": {"httpd/httpdtest"},
		"httpd":     {"jobs/jobstest", "example.com/db"},
		"jobs/sh":   {"jobs/jobstest"},
	}
	with := func(base map[string][]string, p string, imps ...string) map[string][]string {
		m := map[string][]string{}
		for k, v := range base {
			m[k] = v
		}
		m[p] = imps
		return m
	}
	cases := []struct {
		name        string
		prod, tests map[string][]string
		want        []string // violation keys
	}{
		{"clean", clean, cleanTests, nil},
		{"leaf imports another tree's sub-package", with(clean, "workspace", "workspace/tmpl", "jobs/sh"), cleanTests,
			[]string{"layer runnel/workspace runnel/jobs/sh"}},
		{"transitive: what a leaf imports reaches everyone above it", with(with(clean, "workspace", "workspace/tmpl", "httpd/web"), "httpd/web"), cleanTests,
			// jobs imports only workspace, which it may; the edge
			// workspace → httpd/web makes jobs, and all that import jobs
			// below httpd, depend on httpd.
			[]string{"layer runnel/workspace runnel/httpd/web", "layer runnel/jobs runnel/workspace",
				"layer runnel/httpd/cli runnel/jobs", "layer runnel/jobs/worker runnel/jobs", "layer runnel/jobs/jobstest runnel/jobs"}},
		{"a sub-package with its own rule imports its parent's tree", with(with(clean, "jobs/sh", "jobs/store"), "jobs/store"), cleanTests,
			[]string{"layer runnel/jobs/sh runnel/jobs/store"}},
		{"client imports the server", with(clean, "httpd/cli", "httpd"), cleanTests,
			[]string{"layer runnel/httpd/cli runnel/httpd"}},
		{"production code imports a test helper", with(clean, "jobs/worker", "jobs", "jobs/jobstest"), cleanTests,
			[]string{"test-only runnel/jobs/worker runnel/jobs/jobstest", "test-only runnel/jobs/worker testing"}},
		{"production code imports testing", with(clean, "jobs/worker", "jobs", "testing"), cleanTests,
			[]string{"test-only runnel/jobs/worker testing"}},
		{"leaf's tests use a higher layer's helper", clean, with(cleanTests, "workspace", "jobs/jobstest"),
			[]string{"test-layer runnel/workspace runnel/jobs/jobstest"}},
		{"leaf's tests import a higher layer", clean, with(cleanTests, "workspace/tmpl", "jobs"),
			[]string{"test-layer runnel/workspace/tmpl runnel/jobs"}},
		{"lower layer's tests use the server's helper", clean, with(cleanTests, "jobs", "httpd/httpdtest"),
			[]string{"test-layer runnel/jobs runnel/httpd/httpdtest"}},
		{"library outside its owner", with(clean, "httpd", "jobs", "example.com/db"), cleanTests,
			[]string{"owner runnel/httpd example.com/db"}},
		{"library in the owner's parent, not the owning sub-package", with(clean, "workspace", "workspace/tmpl", "example.com/tpl"), cleanTests,
			[]string{"owner runnel/workspace example.com/tpl"}},
		{"package outside every unit", with(clean, "metrics"), cleanTests,
			[]string{"unknown runnel/metrics "}},
	}
	fired := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs, _ := rules.check(graph(c.prod, c.tests))
			var got []string
			for _, v := range vs {
				got = append(got, v.key())
				fired[v.kind] = true
			}
			sort.Strings(got)
			sort.Strings(c.want)
			if !slices.Equal(got, c.want) {
				t.Errorf("violations\n got %q\nwant %q", got, c.want)
			}
		})
	}
	for _, kind := range []string{"layer", "test-only", "test-layer", "owner", "unknown"} {
		if !fired[kind] {
			t.Errorf("no case makes rule %q fire", kind)
		}
	}

	t.Run("known violations are excused, and stale ones reported", func(t *testing.T) {
		r := rules
		r.Known = map[string]string{"owner runnel/httpd example.com/db": "debt", "layer runnel/jobs runnel/httpd": "paid"}
		vs, stale := r.check(graph(with(clean, "httpd", "jobs", "example.com/db"), cleanTests))
		if len(vs) != 0 || !slices.Equal(stale, []string{"layer runnel/jobs runnel/httpd"}) {
			t.Errorf("violations %v, stale %v", vs, stale)
		}
	})
}

// TestDocCheckerFires: each way a package comment can be wrong is caught.
func TestDocCheckerFires(t *testing.T) {
	good := goPackage{ImportPath: "runnel/jobs", Name: "jobs", GoFiles: []string{"doc.go", "a.go"}, Doc: "Package jobs owns jobs.", DocFiles: []string{"doc.go"}}
	cmd := goPackage{ImportPath: "runnel/cmd/runnel", Name: "main", GoFiles: []string{"doc.go"}, Doc: "Command runnel runs.", DocFiles: []string{"doc.go"}}
	testOnly := goPackage{ImportPath: "runnel"}
	edit := func(f func(p *goPackage)) goPackage { p := good; f(&p); return p }
	cases := []struct {
		name string
		pkg  goPackage
		bad  bool
	}{
		{"good", good, false},
		{"command", cmd, false},
		{"test-only directory", testOnly, false},
		{"no comment", edit(func(p *goPackage) { p.Doc, p.DocFiles = "", nil }), true},
		{"wrong start", edit(func(p *goPackage) { p.Doc = "Jobs owns jobs." }), true},
		{"command named as package", edit(func(p *goPackage) { p.Name = "main"; p.ImportPath = "runnel/cmd/jobs" }), true},
		{"comment in another file", edit(func(p *goPackage) { p.DocFiles = []string{"a.go"} }), true},
		{"comment in two files", edit(func(p *goPackage) { p.DocFiles = []string{"a.go", "doc.go"} }), true},
	}
	for _, c := range cases {
		if got := len(checkDocs([]goPackage{c.pkg})) > 0; got != c.bad {
			t.Errorf("%s: violation %v, want %v", c.name, got, c.bad)
		}
	}
}
