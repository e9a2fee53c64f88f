package uml

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// The ptrace shim for linux.uml (see the comment at the top of shim/xstate_shim.c). It is
// built with the host's gcc on first use and kept, keyed by its source, under the
// user's cache directory; nothing built is ever committed.
//
//go:embed shim/xstate_shim.c
var shimSource []byte

var shimCache struct {
	mu   sync.Mutex
	path string
}

// shimPath returns the path of a built shim: the cached one, or a new one built
// into the cache, or (when the cache cannot be used) one built into fallbackDir.
func shimPath(ctx context.Context, fallbackDir string) (string, error) {
	shimCache.mu.Lock()
	defer shimCache.mu.Unlock()
	if shimCache.path != "" {
		if _, err := os.Stat(shimCache.path); err == nil {
			return shimCache.path, nil
		}
		shimCache.path = ""
	}
	sum := sha256.Sum256(shimSource)
	name := "xstate_shim-" + hex.EncodeToString(sum[:8]) + ".so"
	if base, err := os.UserCacheDir(); err == nil {
		dir := filepath.Join(base, "nas-e2e-uml")
		path := filepath.Join(dir, name)
		if safePath(path) {
			if _, err := os.Stat(path); err == nil {
				shimCache.path = path
				return path, nil
			}
			if err := os.MkdirAll(dir, 0o755); err == nil {
				if err := buildShim(ctx, dir, path); err == nil {
					shimCache.path = path
					return path, nil
				}
			}
		}
	}
	path := filepath.Join(fallbackDir, name)
	if err := buildShim(ctx, fallbackDir, path); err != nil {
		return "", err
	}
	return path, nil
}

// buildShim compiles the shim to path through a temporary name in dir, so that
// concurrent builders (other test binaries) never see a half-written library.
func buildShim(ctx context.Context, dir, path string) error {
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return fmt.Errorf("uml: building the ptrace shim: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "xstate_shim.c")
	if err := os.WriteFile(src, shimSource, 0o644); err != nil {
		return fmt.Errorf("uml: building the ptrace shim: %w", err)
	}
	out := filepath.Join(tmp, "xstate_shim.so")
	gcc := exec.CommandContext(ctx, "gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", out, src, "-ldl")
	if msg, err := gcc.CombinedOutput(); err != nil {
		return fmt.Errorf("uml: building the ptrace shim with gcc: %w\n%s", err, msg)
	}
	if err := os.Rename(out, path); err != nil {
		return fmt.Errorf("uml: installing the ptrace shim: %w", err)
	}
	return nil
}
