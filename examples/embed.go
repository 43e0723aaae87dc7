package examples

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// Workspace is the example workspace tree under the directory "workspace"
// (".workflows/…", "actions/…"). The all: prefix is required: without it
// go:embed silently drops ".workflows".
//
//go:embed all:workspace
var Workspace embed.FS

// WriteWorkspace writes the example workspace into dir (created if
// missing), overwriting files of the same name; *.sh files are made
// executable (0755), other files 0644.
func WriteWorkspace(dir string) error {
	return fs.WalkDir(Workspace, "workspace", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("workspace", filepath.FromSlash(p))
		if err != nil {
			return err
		}
		target := filepath.Join(dir, rel)
		if d.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("write example workspace: %w", err)
			}
			return nil
		}
		data, err := Workspace.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read embedded %s: %w", p, err)
		}
		mode := os.FileMode(0o644)
		if path.Ext(p) == ".sh" {
			mode = 0o755
		}
		if err := os.WriteFile(target, data, mode); err != nil {
			return fmt.Errorf("write example workspace: %w", err)
		}
		// WriteFile keeps the mode of an existing file.
		if err := os.Chmod(target, mode); err != nil {
			return fmt.Errorf("write example workspace: %w", err)
		}
		return nil
	})
}
