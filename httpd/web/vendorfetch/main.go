package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

type vendored struct {
	Package string `json:"package"`
	Version string `json:"version"`
	File    string `json:"file"`
	Dest    string `json:"dest"`
	SHA256  string `json:"sha256"`
}

func main() {
	dir := flag.String("dir", "httpd/web", "directory holding vendor.json")
	check := flag.Bool("check", false, "only verify the files on disk against vendor.json")
	flag.Parse()
	if err := run(*dir, *check); err != nil {
		fmt.Fprintln(os.Stderr, "vendorfetch:", err)
		os.Exit(1)
	}
}

func run(dir string, check bool) error {
	raw, err := os.ReadFile(filepath.Join(dir, "vendor.json"))
	if err != nil {
		return err
	}
	var vs []vendored
	if err := json.Unmarshal(raw, &vs); err != nil {
		return fmt.Errorf("parse vendor.json: %w", err)
	}
	registry := strings.TrimRight(os.Getenv("npm_config_registry"), "/")
	if registry == "" {
		registry = "https://registry.npmjs.org"
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	for _, v := range vs {
		dest := filepath.Join(dir, filepath.FromSlash(v.Dest))
		var data []byte
		if check {
			if data, err = os.ReadFile(dest); err != nil {
				return err
			}
		} else if data, err = fetch(client, registry, v); err != nil {
			return fmt.Errorf("%s@%s: %w", v.Package, v.Version, err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != v.SHA256 {
			return fmt.Errorf("%s@%s %s: sha256 %s, vendor.json says %s", v.Package, v.Version, v.File, got, v.SHA256)
		}
		if !check {
			if err := os.WriteFile(dest, data, 0o644); err != nil {
				return err
			}
		}
		fmt.Printf("ok %s@%s %s -> %s (%d bytes)\n", v.Package, v.Version, v.File, v.Dest, len(data))
	}
	return nil
}

// fetch downloads the package tarball and returns one file from it.
func fetch(client *http.Client, registry string, v vendored) ([]byte, error) {
	base := path.Base(v.Package) // "@scope/name" tarballs are named name-version.tgz
	url := fmt.Sprintf("%s/%s/-/%s-%s.tgz", registry, v.Package, base, v.Version)
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", url, resp.Status)
	}
	gz, err := gzip.NewReader(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", url, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s has no package/%s", url, v.File)
		}
		if err != nil {
			return nil, fmt.Errorf("untar %s: %w", url, err)
		}
		if h.Name == "package/"+v.File {
			return io.ReadAll(io.LimitReader(tr, 32<<20))
		}
	}
}
