package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/safehold/safehold/connect"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// cliOpts are the flags every backup-work command shares.
type cliOpts struct {
	dataDir, clientID, clientSecret, output string
	noWait                                  bool
}

// addCLIFlags adds the connection and output flags to a command group.
func addCLIFlags(cmd *cobra.Command, o *cliOpts) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.dataDir, "data-dir", envOr("SAFEHOLD_DATA_DIR", "./safehold-data"), "the server's data dir, holding connection.json (env SAFEHOLD_DATA_DIR)")
	f.StringVar(&o.clientID, "client-id", os.Getenv("SAFEHOLD_CLIENT_ID"), "sign in as this service principal instead of the admin in connection.json (env SAFEHOLD_CLIENT_ID)")
	f.StringVar(&o.clientSecret, "client-secret", os.Getenv("SAFEHOLD_CLIENT_SECRET"), "the secret of --client-id (env SAFEHOLD_CLIENT_SECRET)")
	f.StringVarP(&o.output, "output", "o", envOr("SAFEHOLD_OUTPUT", "table"), "output format: table, json or tsv (env SAFEHOLD_OUTPUT)")
}

// session is a signed-in connection to the server.
type session struct {
	conn *connect.Connection
	cred azcore.TokenCredential
	opts *arm.ClientOptions
	sub  string
	o    *cliOpts
	cmd  *cobra.Command
}

func (o *cliOpts) session(cmd *cobra.Command) (*session, error) {
	switch o.output {
	case "table", "json", "tsv":
	default:
		return nil, fmt.Errorf("--output %q: use table, json or tsv", o.output)
	}
	conn, err := loadConnection(o.dataDir)
	if err != nil {
		return nil, err
	}
	var cred azcore.TokenCredential
	switch {
	case o.clientID != "" && o.clientSecret != "":
		cred, err = conn.CredentialFor(o.clientID, o.clientSecret)
	case o.clientID != "" || o.clientSecret != "":
		return nil, fmt.Errorf("--client-id and --client-secret go together")
	default:
		cred, err = conn.Credential()
	}
	if err != nil {
		return nil, err
	}
	return &session{conn: conn, cred: cred, opts: conn.ARMOptions(), sub: conn.SubscriptionID, o: o, cmd: cmd}, nil
}

func (s *session) ctx() context.Context { return s.cmd.Context() }

// run makes a command's RunE that signs in first and runs fn with the session.
func (o *cliOpts) run(fn func(s *session, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, err := o.session(cmd)
		if err != nil {
			return err
		}
		return fn(s, args)
	}
}

// runOn is run for a verb whose first argument names what find resolves
// (an item, a vault, a job): fn gets it resolved.
func runOn[T any](o *cliOpts, find func(*session, string) (T, error), fn func(s *session, x T) error) func(*cobra.Command, []string) error {
	return o.run(func(s *session, args []string) error {
		x, err := find(s, args[0])
		if err != nil {
			return err
		}
		return fn(s, x)
	})
}

// listCmd is a `list` verb that prints what list returns as a table of cols.
func listCmd[T any](o *cliOpts, short string, list func(*session) ([]T, error), cols []column[T]) *cobra.Command {
	return &cobra.Command{Use: "list", Short: short, Args: cobra.NoArgs,
		RunE: o.run(func(s *session, args []string) error {
			rows, err := list(s)
			if err != nil {
				return err
			}
			return render(s, rows, cols)
		})}
}

// eachPage calls fn with every page of pg, in order; a failed page is explained.
func eachPage[T any](s *session, pg *runtime.Pager[T], fn func(T)) error {
	for pg.More() {
		page, err := pg.NextPage(s.ctx())
		if err != nil {
			return s.explain(err)
		}
		fn(page)
	}
	return nil
}

// listRows opens a client with newClient, reads every page of the pager
// that list opens on it and keeps row's answer for each value of the pages
// (a value row answers false for is left out): the one way the CLI lists
// resources. Errors are explained.
func listRows[C, P, V, R any](s *session, newClient func(string, azcore.TokenCredential, *arm.ClientOptions) (C, error),
	list func(C) *runtime.Pager[P], row func(V) (R, bool)) ([]R, error) {
	c, err := newClient(s.sub, s.cred, s.opts)
	if err != nil {
		return nil, err
	}
	var out []R
	err = eachPage(s, list(c), func(page P) {
		for _, v := range pageValues[V](page) {
			if r, ok := row(v); ok {
				out = append(out, r)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// getRow opens a client with newClient and turns what get reads with it
// into a row; errors are explained.
func getRow[C, G, R any](s *session, newClient func(string, azcore.TokenCredential, *arm.ClientOptions) (C, error),
	get func(C) (G, error), row func(G) R) (R, error) {
	var zero R
	c, err := newClient(s.sub, s.cred, s.opts)
	if err != nil {
		return zero, err
	}
	g, err := get(c)
	if err != nil {
		return zero, s.explain(err)
	}
	return row(g), nil
}

// pageValues is a list page's values: every list response of the SDK
// embeds its list type, whose Value field holds them.
func pageValues[V any](page any) []V {
	if f := reflect.ValueOf(page).FieldByName("Value"); f.IsValid() {
		if vs, ok := f.Interface().([]V); ok {
			return vs
		}
	}
	panic(fmt.Sprintf("%T has no Value of %s", page, reflect.TypeFor[[]V]()))
}

// whole adapts a pager that takes only options (a list of everything in the
// subscription) to listRows.
func whole[C, O, P any](open func(C, *O) *runtime.Pager[P]) func(C) *runtime.Pager[P] {
	return func(c C) *runtime.Pager[P] { return open(c, nil) }
}

// pollDone waits for the long-running operation that a Begin call started
// (p and err are what it returned); errors are explained.
func pollDone[T any](s *session, p *runtime.Poller[T], err error) (T, error) {
	if err != nil {
		var zero T
		return zero, s.explain(err)
	}
	res, err := p.PollUntilDone(s.ctx(), nil)
	return res, s.explain(err)
}

// explain turns SDK and network errors into messages that say what to do.
func (s *session) explain(err error) error {
	if err == nil {
		return nil
	}
	if e := signInError(err); e != err {
		return e
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		msg := re.ErrorCode
		if m := armMessage(re); m != "" {
			msg += ": " + m
		}
		switch re.StatusCode {
		case 401:
			return fmt.Errorf("%s\nthe server refused the credentials: check --client-id/--client-secret, or that connection.json belongs to the running server", msg)
		case 403:
			return fmt.Errorf("%s\nthe signed-in principal lacks a role for this; an Owner can grant one with `safehold role assign`", msg)
		}
		if re.ErrorCode == "ResourceGroupNotFound" {
			return fmt.Errorf("%s\ncreate the resource group first, e.g. `az group create --name NAME --location westus`", msg)
		}
		return errors.New(msg)
	}
	if strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("the server at %s is not answering: start it with `safehold serve --data-dir %s`", s.conn.ARMEndpoint, s.o.dataDir)
	}
	return err
}

func armMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil || re.RawResponse.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(re.RawResponse.Body)
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil {
		return e.Error.Message
	}
	// Azure Storage's XML error (a disk's SAS data plane): its message
	// without the RequestId and Time lines it ends with.
	var x struct {
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(b, &x) == nil {
		m, _, _ := strings.Cut(x.Message, "\nRequestId:")
		return strings.TrimSpace(m)
	}
	return ""
}

// column is one output column: a header and a value of the row. Max,
// when set, cuts longer values in tables (not in TSV or JSON).
type column[T any] struct {
	Header string
	Value  func(T) string
	Max    int
}

// columnsOf is the output columns of a row type: its fields tagged
// `col:"Header"`, in field order. A string field shows as it is, a
// *time.Time as when writes it, and a float64 tagged `col:"Header,percent"`
// as a whole percent; a string tagged `col:"Header,short"` is cut to 60
// characters in tables (the whole value is in -o tsv and -o json). Any other field type is a mistake in the row type and
// panics when the table is built (at program start).
func columnsOf[T any]() []column[T] {
	rt := reflect.TypeFor[T]()
	var cols []column[T]
	for i := range rt.NumField() {
		f := rt.Field(i)
		spec, ok := f.Tag.Lookup("col")
		if !ok {
			continue
		}
		header, opt, _ := strings.Cut(spec, ",")
		var show func(reflect.Value) string
		max := 0
		switch {
		case f.Type.Kind() == reflect.String && (opt == "" || opt == "short"):
			show = reflect.Value.String
			if opt == "short" {
				max = 60
			}
		case f.Type == reflect.TypeFor[*time.Time]() && opt == "":
			show = func(v reflect.Value) string { return when(v.Interface().(*time.Time)) }
		case f.Type.Kind() == reflect.Float64 && opt == "percent":
			show = func(v reflect.Value) string { return strconv.Itoa(int(v.Float())) + "%" }
		default:
			panic(fmt.Sprintf("column %s of %s: no way to show a %s tagged %q", f.Name, rt, f.Type, spec))
		}
		cols = append(cols, column[T]{header, func(r T) string { return show(reflect.ValueOf(r).Field(i)) }, max})
	}
	return cols
}

// render prints rows as a table (the default), TSV (no header, like az) or
// JSON (the rows themselves, with their JSON field names).
func render[T any](s *session, rows []T, cols []column[T]) error {
	out := s.cmd.OutOrStdout()
	if s.o.output == "json" {
		if rows == nil {
			rows = []T{}
		}
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(b))
		return err
	}
	if s.o.output == "tsv" {
		for _, r := range rows {
			vals := make([]string, len(cols))
			for i, c := range cols {
				vals[i] = printable(strings.NewReplacer("\t", " ", "\n", " ").Replace(c.Value(r)))
			}
			fmt.Fprintln(out, strings.Join(vals, "\t"))
		}
		return nil
	}
	t := table.NewWriter()
	t.SetStyle(table.StyleLight)
	t.Style().Options.DrawBorder = false
	t.Style().Options.SeparateColumns = true
	hdr := table.Row{}
	for _, c := range cols {
		hdr = append(hdr, c.Header)
	}
	t.AppendHeader(hdr)
	for _, r := range rows {
		row := table.Row{}
		for _, c := range cols {
			v := printable(c.Value(r))
			if rs := []rune(v); c.Max > 0 && len(rs) > c.Max {
				v = string(rs[:c.Max-1]) + "…"
			}
			row = append(row, v)
		}
		t.AppendRow(row)
	}
	// No line ends in the padding of its last column: a wide value (an
	// id) padded every row to its width, so each wrapped on a terminal.
	lines := strings.Split(t.Render(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	fmt.Fprintln(out, strings.Join(lines, "\n"))
	return nil
}

// printable is s with what would steer the terminal it is printed on
// written out as Go escapes: control characters (an ESC starting a
// sequence that clears the screen, retitles the window or recolours what
// follows; a carriage return overwriting the line) and the bidirectional
// overrides and isolates that reorder what follows (U+202A..U+202E,
// U+2066..U+2069). Tables and TSV print what callers of the API wrote (a
// backup instance's friendlyName, a job's error), which an operator reads.
func printable(s string) string {
	if strings.IndexFunc(s, unprintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !unprintable(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

// printableLines is printable for each line of s (a message of several).
func printableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	return strings.Join(lines, "\n")
}

func unprintable(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// renderOne prints one object: JSON as is, a table or TSV of name/value pairs.
func renderOne(s *session, v any, pairs [][2]string) error {
	if s.o.output == "json" {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(s.cmd.OutOrStdout(), string(b))
		return err
	}
	return render(s, pairs, []column[[2]string]{{Header: "Field", Value: func(p [2]string) string { return p[0] }}, {Header: "Value", Value: func(p [2]string) string { return p[1] }}})
}

// isTerminal reports whether w is a terminal (progress bars only then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is a bar on stderr when it is a terminal, else nothing.
type progress struct{ bar *progressbar.ProgressBar }

func (s *session) newProgress(desc string, total int64, bytes bool) *progress {
	w := s.cmd.ErrOrStderr()
	if !isTerminal(w) {
		return &progress{}
	}
	opts := []progressbar.Option{progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc), progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionSetPredictTime(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) })}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionShowCount(), progressbar.OptionUseIECUnits(true))
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...)}
}

func (p *progress) set(n int64) {
	if p.bar != nil {
		p.bar.Set64(n)
	}
}

func (p *progress) add(n int64) {
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

func (p *progress) describe(d string) {
	if p.bar != nil {
		p.bar.Describe(d)
	}
}

// str dereferences an optional string.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// strs dereferences a list of optional strings, leaving out the absent and empty.
func strs(ps []*string) []string {
	var out []string
	for _, p := range ps {
		if p != nil && *p != "" {
			out = append(out, *p)
		}
	}
	return out
}

// when formats an optional time for tables (RFC 3339, UTC).
func when(t *time.Time) string {
	if t == nil || t.Year() <= 2001 { // Azure's "never" is 2001-01-01
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// lastSeg is the last path segment of an id.
func lastSeg(id string) string { return id[strings.LastIndexByte(id, '/')+1:] }

// rgOf is the resource group of an ARM id.
func rgOf(id string) string { return nameAt(id, "resourceGroups") }

// nameAt is the segment after key in an ARM id (case-insensitive).
func nameAt(id, key string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], key) {
			return parts[i+1]
		}
	}
	return ""
}
