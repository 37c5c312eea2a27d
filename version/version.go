// Package version reports what build of Safehold is running, from the Go
// build information (module version, VCS commit and time, set by `go build`
// in a git checkout or `go install module@version`).
package version

import (
	"runtime"
	"runtime/debug"
)

// Info describes the running build.
type Info struct {
	Module    string `json:"module"`
	Version   string `json:"version"`        // module version, "(devel)" for a local build
	Commit    string `json:"commit"`         // VCS revision, "" when unknown
	Time      string `json:"time,omitempty"` // commit time (RFC 3339)
	Modified  bool   `json:"modified"`       // built from a tree with uncommitted changes
	GoVersion string `json:"goVersion"`
}

// Get reads the build information of the running binary.
func Get() Info {
	in := Info{Module: "github.com/safehold/safehold", Version: "(devel)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	if bi.Main.Path != "" {
		in.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is "VERSION (COMMIT)" for banners and user agents.
func (in Info) String() string {
	s := in.Version
	if in.Commit != "" {
		c := in.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if in.Modified {
			c += "+dirty"
		}
		s += " (" + c + ")"
	}
	return s
}
