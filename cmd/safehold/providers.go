package main

import (
	"github.com/safehold/safehold/server"
	"github.com/spf13/pflag"
)

// addServeFlags adds the flags of the resource providers.
func addServeFlags(f *pflag.FlagSet) {}

// configure adds the resource providers to the server configuration.
func configure(cfg *server.Config) error { return nil }
