package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/dialback/nas/config"
)

// loadConfig loads and validates a configuration file.
func loadConfig(path string) (*config.Config, error) {
	return config.Load(path)
}

// newLogger builds the logger the configuration asks for.
func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
