package main_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
)

// TestREADMECommands keeps README.md and the binary in step: every safehold
// command line the README shows (its code blocks, and the `safehold ...` and
// `serve --...` spans of its prose) names a command that exists, each flag
// it gives (in brackets or in the line's comment too) is listed by that
// command's --help, and a code line's arguments are ones the command takes:
// the real binary runs it against a data dir with no server, where it must
// fail for want of the server (or run), never with a usage error. The flags
// and environment variables the README lists for serve are in serve --help.
func TestREADMECommands(t *testing.T) {
	bin := cli(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	cmds := readmeCommands(readme)
	if n := len(cmds); n < 40 {
		t.Fatalf("found %d safehold command lines in README.md; the extraction is broken", n)
	}
	helps := map[string]*cliHelp{}
	help := func(path []string) *cliHelp {
		key := strings.Join(path, " ")
		if h, ok := helps[key]; ok {
			return h
		}
		r := testsvc.Run(t, time.Minute, nil, bin, append(slices.Clone(path), "--help")...)
		if r.Code != 0 {
			t.Fatalf("safehold %s --help: exit %d\n%s%s", key, r.Code, r.Stdout, r.Stderr)
		}
		h := parseHelp(r.Stdout)
		helps[key] = h
		return h
	}
	noServer := filepath.Join(t.TempDir(), "no-server")
	env := append(os.Environ(), "SAFEHOLD_DATA_DIR="+noServer, "SAFEHOLD_CLIENT_ID=", "SAFEHOLD_CLIENT_SECRET=")
	ran := 0
	for _, c := range cmds {
		for _, seg := range c.segments() {
			path, rest := []string{}, seg.words
			for len(rest) > 0 && help(path).subcommands[rest[0]] {
				path, rest = append(path, rest[0]), rest[1:]
			}
			h := help(path)
			where := "README.md:" + strconv.Itoa(c.line) + ": safehold " + strings.Join(seg.words, " ")
			if len(path) == 0 && (len(rest) == 0 || !strings.HasPrefix(rest[0], "-")) {
				t.Errorf("%s: no such command (safehold --help lists %v)", where, keys(h.subcommands))
				continue
			}
			args, ok := h.split(rest, seg.optional, func(flag string) {
				t.Errorf("%s: safehold %s --help does not list %s", where, strings.Join(path, " "), flag)
			})
			for _, f := range seg.commentFlags {
				if _, known := h.flags[f]; !known {
					t.Errorf("%s: its comment names %s, which safehold %s --help does not list", where, "--"+f, strings.Join(path, " "))
				}
			}
			if !ok || c.inline {
				continue
			}
			if len(path) == 0 || len(h.subcommands) > 0 {
				t.Errorf("%s: names the command group %q, not one of its commands", where, strings.Join(path, " "))
				continue
			}
			if path[0] == "serve" {
				continue // it would start a server; its flags are checked above
			}
			r := testsvc.Run(t, time.Minute, env, bin, append(slices.Clone(path), args...)...)
			ran++
			if strings.Contains(r.Stderr, "\nusage: ") || strings.Contains(r.Stderr, "unknown ") {
				t.Errorf("%s: the binary does not take these arguments:\n%s", where, r.Stderr)
			} else if r.Code != 0 && !strings.Contains(r.Stderr, noServer) {
				t.Errorf("%s: failed other than for want of a server (exit %d):\n%s", where, r.Code, r.Stderr)
			}
		}
	}
	if ran < 25 {
		t.Errorf("ran only %d README command lines", ran)
	}

	// The serve flags paragraph: each flag and environment variable it
	// names is serve's.
	flat := strings.ReplaceAll(readme, "\n", " ")
	start := strings.Index(flat, "Flags (each with an env equivalent)")
	end := strings.Index(flat, "Run `safehold serve --help` for all.")
	if start < 0 || end < start {
		t.Fatal("README.md lost the paragraph of serve's flags")
	}
	para, serve := flat[start:end], help([]string{"serve"})
	for _, m := range regexp.MustCompile("`--([a-z0-9-]+)").FindAllStringSubmatch(para, -1) {
		if _, ok := serve.flags[m[1]]; !ok {
			t.Errorf("README.md lists serve flag --%s, which safehold serve --help does not", m[1])
		}
	}
	for _, m := range regexp.MustCompile("`(SAFEHOLD_[A-Z_]+)`").FindAllStringSubmatch(para, -1) {
		if !strings.Contains(serve.text, m[1]) {
			t.Errorf("README.md gives %s for a serve flag; safehold serve --help does not name it", m[1])
		}
	}
}

// readmeCmd is a safehold command line of the README.
type readmeCmd struct {
	line    int
	text    string // the command, without "safehold", comment or continuation backslashes
	comment string
	inline  bool // from a `...` span of prose: only its command and flags are checked
}

// readmeSeg is one command of a line (`a | b` shows two alternatives).
type readmeSeg struct {
	words        []string // outside brackets
	optional     []string // inside [brackets]
	commentFlags []string
}

var commentFlag = regexp.MustCompile(`(?:^|[\s(,])--([a-z0-9-]+)`)

func (c readmeCmd) segments() []readmeSeg {
	var segs []readmeSeg
	seg, depth := readmeSeg{}, 0
	for _, w := range shellWords(c.text) {
		if w == "&&" || w == "||" || w == ";" {
			break // the next command is not safehold's
		}
		if w == "&" {
			continue
		}
		if w == "|" && depth == 0 {
			segs, seg = append(segs, seg), readmeSeg{}
			continue
		}
		open := strings.HasPrefix(w, "[")
		if open {
			depth++
			w = strings.TrimPrefix(w, "[")
		}
		inside := depth > 0
		if strings.HasSuffix(w, "]") {
			depth--
			w = strings.TrimSuffix(w, "]")
		}
		switch {
		case w == "" || w == "|":
		case inside:
			seg.optional = append(seg.optional, w)
		default:
			seg.words = append(seg.words, w)
		}
	}
	segs = append(segs, seg)
	for _, m := range commentFlag.FindAllStringSubmatch(c.comment, -1) {
		segs[0].commentFlags = append(segs[0].commentFlags, m[1])
	}
	for i := range segs {
		if len(segs[i].words) > 0 && segs[i].words[0] == "safehold" {
			segs[i].words = segs[i].words[1:]
		}
	}
	return segs
}

// readmeCommands finds the safehold command lines of a README: code lines
// (indented or fenced) starting with safehold or go run ./cmd/safehold, and
// prose spans `safehold ...` and `serve --...`.
func readmeCommands(readme string) []readmeCmd {
	var out []readmeCmd
	lines := strings.Split(readme, "\n")
	fenced := false
	starts := []string{"go run ./cmd/safehold ", "safehold "}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "```") {
			fenced = !fenced
			continue
		}
		code := fenced || strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t")
		if !code {
			for _, m := range regexp.MustCompile("`(safehold [^`]+|serve --[^`]+)`").FindAllStringSubmatch(l, -1) {
				text := strings.TrimPrefix(m[1], "safehold ")
				out = append(out, readmeCmd{line: i + 1, text: text, inline: true})
			}
			continue
		}
		var text string
		for _, s := range starts {
			if strings.HasPrefix(trimmed, s) {
				text = strings.TrimPrefix(trimmed, s)
			}
		}
		if text == "" {
			continue
		}
		c := readmeCmd{line: i + 1}
		for strings.HasSuffix(text, "\\") && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(text, "\\") + " " + strings.TrimSpace(lines[i])
		}
		c.text, c.comment = cutComment(text)
		out = append(out, c)
	}
	return out
}

// cutComment splits a shell line at its comment (a # after a space, outside quotes).
func cutComment(s string) (string, string) {
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && i > 0 && s[i-1] == ' ':
			return strings.TrimSpace(s[:i]), s[i+1:]
		}
	}
	return strings.TrimSpace(s), ""
}

// shellWords splits a command line into words as the shell would (quotes
// removed; no expansion).
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	var quote rune
	in := false
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words, in = append(words, w.String()), false
				w.Reset()
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// cliHelp is what a command's --help lists.
type cliHelp struct {
	text        string
	subcommands map[string]bool
	flags       map[string]bool // name: takes a value
	short       map[string]string
}

var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-([a-zA-Z]), )?--([a-z0-9-]+)( [a-zA-Z]+)?\s`)

func parseHelp(text string) *cliHelp {
	h := &cliHelp{text: text, subcommands: map[string]bool{}, flags: map[string]bool{}, short: map[string]string{}}
	if _, cmds, ok := strings.Cut(text, "Available Commands:\n"); ok {
		for _, l := range strings.Split(cmds, "\n") {
			f := strings.Fields(l)
			if len(f) == 0 {
				break
			}
			h.subcommands[f[0]] = true
		}
	}
	for _, m := range helpFlag.FindAllStringSubmatch(text, -1) {
		h.flags[m[2]] = m[3] != ""
		if m[1] != "" {
			h.short[m[1]] = m[2]
		}
	}
	return h
}

// split checks the flags of words and optional against h (unknown calls
// bad) and returns words with optional parts left out: the command line to
// run. ok is false when a flag was unknown.
func (h *cliHelp) split(words, optional []string, bad func(flag string)) ([]string, bool) {
	ok := true
	check := func(ws []string) {
		for i := 0; i < len(ws); i++ {
			w := ws[i]
			if w == "--" {
				return // the rest are arguments
			}
			if !strings.HasPrefix(w, "-") || len(w) < 2 || w[1] >= '0' && w[1] <= '9' {
				continue // an argument, a negative one too (clock advance -1d)
			}
			name, _, inline := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if !strings.HasPrefix(w, "--") {
				name = h.short[name]
			}
			takes, known := h.flags[name]
			if !known {
				bad(w)
				ok = false
				continue
			}
			if takes && !inline {
				i++ // its value
			}
		}
	}
	check(words)
	check(optional)
	return words, ok
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
