// Package accountblob keeps the blobs of Safehold's storage accounts
// (Microsoft.Storage/storageAccounts): containers, block blobs (Put Blob,
// Put Block, Put Block List) and page blobs (sparse, written by page).
// Containers and blob properties are store documents; a blob's bytes are
// a sparse file under the service's directory, replaced whole when a
// block blob is (re)committed. rp/storage serves them on the wire;
// compute imports disks and snapshots from them.
package accountblob

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/safehold/safehold/internal/datafile"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/sparse"
	"github.com/safehold/safehold/store"
)

// AccountType is the ARM type of a storage account.
const AccountType = "Microsoft.Storage/storageAccounts"

const (
	containerKind = "storage.container"
	blobKind      = "storage.blob"
	// MaxPageBlob is the largest page blob (Azure's 8 TiB).
	MaxPageBlob = 8 << 40
	// MaxBlock is the largest block of Put Block (Azure's 4000 MiB; Safehold keeps blocks as files).
	MaxBlock = 4000 << 20
)

// Service keeps the blobs.
type Service struct {
	st  store.Store
	dir string
	clk clock.Clock
	mu  sync.Mutex // serializes changes of blob documents (writes of bytes run in parallel)

	// Replica is set when replicas share the store (nil for one server).
	Replica *Replica

	pmu     sync.Mutex
	pending map[string]int // files being written whose blob is not stored yet (Sweep keeps them)
}

// Replica is what the service needs when several replicas share its
// store: blob documents are shared, but a blob's bytes are a file in the
// directory of the replica that wrote them (Blob.Node). Requests for a
// blob another replica holds are forwarded there.
type Replica struct {
	Node string // this replica's node id
	// Peer is the endpoint of the replica node and whether it runs.
	Peer func(ctx context.Context, node string) (url string, alive bool, err error)
	// Forward proxies a data-plane request to a replica's endpoint.
	Forward func(w http.ResponseWriter, r *http.Request, url string)
}

// ElsewhereError: a blob's bytes (or the blocks staged for it) are held
// by another replica (Node, at URL; Alive when it runs), whose files this
// one cannot read.
type ElsewhereError struct {
	What, Node, URL string // What: "the bytes of blob 'name'"
	Alive           bool
}

func (e *ElsewhereError) Error() string {
	if !e.Alive {
		return fmt.Sprintf("%s are held by Safehold replica %s, which is not running: start it again (with its --data-dir)", e.What, e.Node)
	}
	return fmt.Sprintf("%s are held by Safehold replica %s (%s), not by this one", e.What, e.Node, e.URL)
}

// node is this replica's node id ("" for one server).
func (s *Service) node() string {
	if s.Replica == nil {
		return ""
	}
	return s.Replica.Node
}

// Elsewhere is the *ElsewhereError of blob b when another replica holds
// its bytes, else nil.
func (s *Service) Elsewhere(ctx context.Context, b *Blob) error {
	return s.elsewhere(ctx, fmt.Sprintf("the bytes of blob '%s'", b.Name), b.Node)
}

// StagingElsewhere is the *ElsewhereError of the blocks staged for a new
// blob of container c when another replica stages them (the one that
// created c: Put Block and Put Block List of a blob that does not exist
// yet run there, whichever replica they reach), else nil.
func (s *Service) StagingElsewhere(ctx context.Context, c *Container, blob string) error {
	return s.elsewhere(ctx, fmt.Sprintf("the blocks staged for blob '%s'", blob), c.Node)
}

// elsewhere is the *ElsewhereError of what, held by replica node, unless
// that is this one.
func (s *Service) elsewhere(ctx context.Context, what, node string) error {
	if s.Replica == nil || node == "" || node == s.Replica.Node {
		return nil
	}
	e := &ElsewhereError{What: what, Node: node}
	if s.Replica.Peer != nil {
		url, alive, err := s.Replica.Peer(ctx, node)
		if err != nil {
			return err
		}
		e.URL, e.Alive = url, alive && url != ""
	}
	return e
}

// New returns the service keeping bytes under dir.
func New(st store.Store, clk clock.Clock, dir string) (*Service, error) {
	if err := datafile.MkdirAll(filepath.Join(dir, "blocks")); err != nil {
		return nil, err
	}
	return &Service{st: st, dir: dir, clk: clk}, nil
}

// FindAccount is the ARM id of the storage account named name (names are
// global, case-insensitive); 404 StorageAccountNotFound when none has it.
func FindAccount(ctx context.Context, rd store.Reader, name string) (string, error) {
	all, err := resource.List[struct{ ID, Name string }](ctx, rd, AccountType, "/subscriptions")
	if err != nil {
		return "", err
	}
	for _, a := range all {
		if strings.EqualFold(a.Name, name) {
			return a.ID, nil
		}
	}
	return "", failure.NotFoundf("StorageAccountNotFound", "The storage account '%s' was not found. Create it (Microsoft.Storage/storageAccounts) or correct the name.", name)
}

// Container is a blob container.
type Container struct {
	Account  string            `json:"account"`
	Name     string            `json:"name"`
	Created  time.Time         `json:"created"`
	Modified time.Time         `json:"modified"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Node is the replica that created the container, where blocks are
	// staged for its new blobs ("" for one server).
	Node string `json:"node,omitempty"`
}

// Block is a committed block of a block blob.
type Block struct {
	ID   string `json:"id"` // base64, as sent
	Size int64  `json:"size"`
}

// Blob is a blob's properties.
type Blob struct {
	Account   string            `json:"account"`
	Container string            `json:"container"`
	Name      string            `json:"name"`
	Type      string            `json:"type"` // BlockBlob or PageBlob
	Length    int64             `json:"size"`
	CType     string            `json:"contentType,omitempty"`
	MD5       string            `json:"contentMD5,omitempty"`
	Encoding  string            `json:"contentEncoding,omitempty"`
	Language  string            `json:"contentLanguage,omitempty"`
	Disp      string            `json:"contentDisposition,omitempty"`
	Cache     string            `json:"cacheControl,omitempty"`
	Meta      map[string]string `json:"metadata,omitempty"`
	Creation  time.Time         `json:"created"`
	Modified  time.Time         `json:"modified"`
	File      string            `json:"file"`
	// Node is the replica whose directory holds File ("" for one server).
	Node   string  `json:"node,omitempty"`
	Blocks []Block `json:"blocks,omitempty"`

	f *os.File // open for reading or page writes (Open)
}

// BlobType, Size, ModTime, Created, ContentHeaders and Metadata are what
// the wire (blobwire) serves.
func (b *Blob) BlobType() string            { return b.Type }
func (b *Blob) Size() int64                 { return b.Length }
func (b *Blob) ModTime() time.Time          { return b.Modified }
func (b *Blob) Created() time.Time          { return b.Creation }
func (b *Blob) Metadata() map[string]string { return b.Meta }
func (b *Blob) Content() Content {
	return Content{Type: b.CType, MD5: b.MD5, Encoding: b.Encoding, Language: b.Language, Disposition: b.Disp, CacheControl: b.Cache}
}

// ContentHeaders are the blob's content settings as the HTTP headers
// that carry them (those set).
func (b *Blob) ContentHeaders() map[string]string {
	h := map[string]string{}
	for k, v := range map[string]string{"Content-Type": b.CType, "Content-MD5": b.MD5, "Content-Encoding": b.Encoding,
		"Content-Language": b.Language, "Content-Disposition": b.Disp, "Cache-Control": b.Cache} {
		if v != "" {
			h[k] = v
		}
	}
	return h
}

// Content are a blob's content settings (its HTTP headers); MD5 is base64.
type Content struct{ Type, MD5, Encoding, Language, Disposition, CacheControl string }

// SetContent replaces a blob's content settings.
func (b *Blob) SetContent(c Content) {
	b.CType, b.MD5, b.Encoding, b.Language, b.Disp, b.Cache = c.Type, c.MD5, c.Encoding, c.Language, c.Disposition, c.CacheControl
}

// A Check is a request's precondition on the current blob (nil when the
// blob does not exist yet); it runs under the lock that orders the blob's
// changes, so what it saw is what the change replaces.
type Check func(cur *Blob) error

func (c Check) run(cur *Blob) error {
	if c == nil {
		return nil
	}
	return c(cur)
}

var containerRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)

// CheckContainerName checks Azure's container naming rules.
func CheckContainerName(name string) error {
	if !containerRE.MatchString(name) && name != "$root" {
		return failure.Invalidf("InvalidResourceName", "The specifed resource name contains invalid characters: container names are 3-63 lower-case letters, digits and single hyphens, starting with a letter or digit.")
	}
	return nil
}

func ckey(account, container string) string { return strings.ToLower(account) + "/" + container }

// Blob names are case-sensitive; the store's keys are not: the key holds
// the name hex-encoded.
func bkey(account, container, name string) string {
	return ckey(account, container) + "/" + hex.EncodeToString([]byte(name))
}

func (s *Service) now() time.Time { return s.clk.Now().UTC() }

// CreateContainer creates a container; 409 ContainerAlreadyExists.
func (s *Service) CreateContainer(ctx context.Context, account, name string, meta map[string]string) (*Container, error) {
	if err := CheckContainerName(name); err != nil {
		return nil, err
	}
	now := s.now()
	c := &Container{Account: strings.ToLower(account), Name: name, Created: now, Modified: now, Metadata: meta, Node: s.node()}
	v, _ := json.Marshal(c)
	err := s.st.Update(ctx, func(tx store.Tx) error {
		return tx.Create(ctx, store.Doc{Kind: containerKind, Key: ckey(account, name), Scope: strings.ToLower(account) + "/", Value: v})
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, failure.Conflictf("ContainerAlreadyExists", "The specified container already exists.")
	}
	return c, err
}

// EnsureContainer creates a container unless it exists.
func (s *Service) EnsureContainer(ctx context.Context, account, name string) error {
	if _, err := s.CreateContainer(ctx, account, name, nil); err != nil && !failure.Is(err, failure.Conflict) {
		return err
	}
	return nil
}

// GetContainer returns a container; 404 ContainerNotFound.
func (s *Service) GetContainer(ctx context.Context, account, name string) (*Container, error) {
	c, err := store.GetJSON[Container](ctx, s.st, containerKind, ckey(account, name), "container")
	if errors.Is(err, store.ErrNotFound) {
		return nil, failure.NotFoundf("ContainerNotFound", "The specified container does not exist.")
	}
	return c, err
}

// SetContainerMetadata replaces a container's metadata; check (if not
// nil) sees the container first.
func (s *Service) SetContainerMetadata(ctx context.Context, account, name string, meta map[string]string, check func(*Container) error) (*Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.GetContainer(ctx, account, name)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(c); err != nil {
			return nil, err
		}
	}
	c.Metadata, c.Modified = meta, later(s.now(), c.Modified)
	v, _ := json.Marshal(c)
	err = s.st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: containerKind, Key: ckey(account, name), Scope: strings.ToLower(account) + "/", Value: v})
	})
	return c, err
}

// later is now, or just after prev when the clock has not passed it (an
// ETag changes with every change).
func later(now, prev time.Time) time.Time {
	if !now.After(prev) {
		return prev.Add(time.Microsecond)
	}
	return now
}

// ListContainers lists an account's containers by name.
func (s *Service) ListContainers(ctx context.Context, account string) ([]Container, error) {
	cs, err := store.ListJSON[Container](ctx, s.st, containerKind, store.ListQuery{ScopePrefix: strings.ToLower(account) + "/"}, "container")
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs, err
}

// DeleteContainer deletes a container with its blobs. Their files and
// the blocks staged for the container are removed here; those another
// replica holds, by that replica's sweep, which this asks for (Run).
func (s *Service) DeleteContainer(ctx context.Context, account, name string) error {
	c, err := s.GetContainer(ctx, account, name)
	if err != nil {
		return err
	}
	blobs, err := s.ListBlobs(ctx, account, name, "")
	if err != nil {
		return err
	}
	elsewhere := s.node() != c.Node
	for _, b := range blobs {
		if err := s.DeleteBlob(ctx, account, name, b.Name, nil); err != nil && !isNotFound(err) {
			return err
		}
		elsewhere = elsewhere || s.node() != b.Node
	}
	os.RemoveAll(s.containerBlocks(account, name)) // blocks staged for blobs never committed
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, containerKind, ckey(account, name)) }); err != nil {
		return err
	}
	if elsewhere {
		return s.askSweep(ctx)
	}
	return nil
}

// DeleteAccount deletes every container and blob of an account.
func (s *Service) DeleteAccount(ctx context.Context, account string) error {
	cs, err := s.ListContainers(ctx, account)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := s.DeleteContainer(ctx, account, c.Name); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}

// GetBlob returns a blob's properties; 404 BlobNotFound (ContainerNotFound
// when its container is missing).
func (s *Service) GetBlob(ctx context.Context, account, container, name string) (*Blob, error) {
	b, err := store.GetJSON[Blob](ctx, s.st, blobKind, bkey(account, container, name), "blob")
	if errors.Is(err, store.ErrNotFound) {
		if _, cerr := s.GetContainer(ctx, account, container); cerr != nil {
			return nil, cerr
		}
		return nil, failure.NotFoundf("BlobNotFound", "The specified blob does not exist.")
	}
	return b, err
}

// ListBlobs lists a container's blobs whose names start with prefix, by name.
func (s *Service) ListBlobs(ctx context.Context, account, container, prefix string) ([]Blob, error) {
	bs, err := store.ListJSON[Blob](ctx, s.st, blobKind, store.ListQuery{ScopePrefix: ckey(account, container) + "/"}, "blob")
	if err != nil {
		return nil, err
	}
	out := bs[:0]
	for _, b := range bs {
		if strings.HasPrefix(b.Name, prefix) {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Props are the properties a blob is created with, and the precondition
// of its creation.
type Props struct {
	Content
	Metadata map[string]string
	// BodyMD5 (base64, optional) is the MD5 the request says its body
	// has (Content-MD5 of Put Blob): 400 Md5Mismatch when it has not.
	BodyMD5 string
	Check   Check
}

func newFileName() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) path(file string) string { return filepath.Join(s.dir, file) }

// current is the stored blob of a name (nil when there is none).
func (s *Service) current(ctx context.Context, account, container, name string) (*Blob, error) {
	old, err := store.GetJSON[Blob](ctx, s.st, blobKind, bkey(account, container, name), "blob")
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return old, err
}

// precheck runs check on the current blob before bytes are written (put
// runs it again, atomically with the change).
func (s *Service) precheck(ctx context.Context, account, container, name string, check Check) error {
	if check == nil {
		return nil
	}
	if _, err := s.GetContainer(ctx, account, container); err != nil {
		return err
	}
	cur, err := s.current(ctx, account, container, name)
	if err != nil {
		return err
	}
	return check(cur)
}

// put stores b if check passes (replacing the blob of its name, whose
// file it removes).
func (s *Service) put(ctx context.Context, b *Blob, check Check) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.GetContainer(ctx, b.Account, b.Container); err != nil {
		return err
	}
	old, err := s.current(ctx, b.Account, b.Container, b.Name)
	if err != nil {
		return err
	}
	if err := check.run(old); err != nil {
		return err
	}
	if old != nil {
		b.Creation = old.Creation
		b.Modified = later(b.Modified, old.Modified)
	}
	v, _ := json.Marshal(b)
	if err := s.st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: blobKind, Key: bkey(b.Account, b.Container, b.Name), Scope: ckey(b.Account, b.Container) + "/", Value: v})
	}); err != nil {
		return err
	}
	if old != nil && old.File != b.File {
		os.Remove(s.path(old.File))
	}
	s.dropStaged(b.Account, b.Container, b.Name) // a new blob discards the staged blocks of the old
	return nil
}

// newBlob is a new blob with a new file name, which Sweep keeps until
// done is called (once the blob is stored, or its file removed).
func (s *Service) newBlob(account, container, name, typ string, size int64, p Props) (b *Blob, done func()) {
	now := s.now()
	b = &Blob{Account: strings.ToLower(account), Container: container, Name: name, Type: typ, Length: size,
		Meta: p.Metadata, Creation: now, Modified: now, File: newFileName(), Node: s.node()}
	b.SetContent(p.Content)
	s.pmu.Lock()
	if s.pending == nil {
		s.pending = map[string]int{}
	}
	s.pending[b.File]++
	s.pmu.Unlock()
	return b, func() {
		s.pmu.Lock()
		if s.pending[b.File]--; s.pending[b.File] <= 0 {
			delete(s.pending, b.File)
		}
		s.pmu.Unlock()
	}
}

func checkBlobName(name string) error {
	if name == "" || len(name) > 1024 {
		return failure.Invalidf("InvalidResourceName", "The specifed resource name length is not within the permissible limits: a blob name has 1 to 1024 characters.")
	}
	return nil
}

// PutBlockBlob creates or replaces a block blob with the n bytes of r.
func (s *Service) PutBlockBlob(ctx context.Context, account, container, name string, r io.Reader, n int64, p Props) (*Blob, error) {
	if err := checkBlobName(name); err != nil {
		return nil, err
	}
	if _, err := s.GetContainer(ctx, account, container); err != nil {
		return nil, err
	}
	if err := s.precheck(ctx, account, container, name, p.Check); err != nil {
		return nil, err
	}
	b, done := s.newBlob(account, container, name, "BlockBlob", n, p)
	defer done()
	sum, err := s.writeFile(b.File, r, n, p.BodyMD5)
	if err != nil {
		return nil, err
	}
	if b.MD5 == "" {
		b.MD5 = sum // Azure keeps the MD5 of a blob put whole
	}
	if err := s.put(ctx, b, p.Check); err != nil {
		os.Remove(s.path(b.File))
		return nil, err
	}
	return b, nil
}

// writeFile writes the n bytes of r to a new file and returns their MD5
// (base64); wantMD5, when set, is the MD5 the request says they have (400
// Md5Mismatch, and no file, when they have not).
func (s *Service) writeFile(file string, r io.Reader, n int64, wantMD5 string) (string, error) {
	f, err := datafile.OpenFile(s.path(file), os.O_CREATE|os.O_EXCL|os.O_WRONLY)
	if err != nil {
		return "", err
	}
	h := md5.New()
	w, err := io.Copy(f, io.TeeReader(io.LimitReader(r, n), h))
	if err == nil && w != n {
		err = failure.Invalidf("InvalidInput", "The request body has %d bytes, not the %d of its Content-Length.", w, n)
	}
	sum := base64.StdEncoding.EncodeToString(h.Sum(nil))
	if err == nil && wantMD5 != "" && wantMD5 != sum {
		err = failure.Invalidf("Md5Mismatch", "The MD5 value specified in the request did not match the MD5 value calculated by the server.")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(s.path(file))
	}
	return sum, err
}

// CreatePageBlob creates or replaces a page blob of size bytes (zeros).
func (s *Service) CreatePageBlob(ctx context.Context, account, container, name string, size int64, p Props) (*Blob, error) {
	if err := checkBlobName(name); err != nil {
		return nil, err
	}
	if size < 0 || size%512 != 0 || size > MaxPageBlob {
		return nil, failure.Invalidf("InvalidHeaderValue", "The value %d of x-ms-blob-content-length is invalid: a page blob's size is a multiple of 512 bytes, at most 8 TiB.", size)
	}
	if err := s.precheck(ctx, account, container, name, p.Check); err != nil {
		return nil, err
	}
	b, done := s.newBlob(account, container, name, "PageBlob", size, p)
	defer done()
	f, err := datafile.OpenFile(s.path(b.File), os.O_CREATE|os.O_EXCL|os.O_WRONLY)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.put(ctx, b, p.Check)
	}
	if err != nil {
		os.Remove(s.path(b.File))
		return nil, err
	}
	return b, nil
}

// Open opens a blob's bytes for reading (and, for a page blob, page
// writes); Close releases them.
func (s *Service) Open(ctx context.Context, account, container, name string) (*Blob, error) {
	b, err := s.GetBlob(ctx, account, container, name)
	if err != nil {
		return nil, err
	}
	if err := s.Elsewhere(ctx, b); err != nil {
		return nil, err
	}
	flag := os.O_RDONLY
	if b.Type == "PageBlob" {
		flag = os.O_RDWR
	}
	if b.f, err = os.OpenFile(s.path(b.File), flag, 0); err != nil {
		if os.IsNotExist(err) { // replaced meanwhile
			return nil, failure.Conflictf("ServerBusy", "The blob was replaced while it was opened; retry.")
		}
		return nil, fmt.Errorf("open blob %s: %w", name, err)
	}
	return b, nil
}

// Close releases an opened blob.
func (b *Blob) Close() error {
	if b.f == nil {
		return nil
	}
	return b.f.Close()
}

// ReadAt reads an opened blob.
func (b *Blob) ReadAt(p []byte, off int64) (int, error) {
	if off >= b.Length {
		return 0, io.EOF
	}
	if int64(len(p)) > b.Length-off {
		n, err := b.f.ReadAt(p[:b.Length-off], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return b.f.ReadAt(p, off)
}

// Writable reports whether pages may be written (a page blob).
func (b *Blob) Writable() bool { return b.Type == "PageBlob" }

// WritePages writes p at off of an opened page blob.
func (b *Blob) WritePages(p []byte, off int64) error {
	if off+int64(len(p)) > b.Length {
		return failure.Invalidf("InvalidPageRange", "The page range specified is invalid: it goes beyond the end of the blob.")
	}
	_, err := b.f.WriteAt(p, off)
	return err
}

// ClearPages zeroes n bytes at off of an opened page blob.
func (b *Blob) ClearPages(off, n int64) error {
	if off+n > b.Length {
		return failure.Invalidf("InvalidPageRange", "The page range specified is invalid: it goes beyond the end of the blob.")
	}
	return punchHole(b.f, off, n)
}

// DataRanges lists the ranges of [start, end) of an opened page blob that
// may hold data.
func (b *Blob) DataRanges(start, end int64) ([]struct{ Off, Len int64 }, error) {
	return sparse.DataRanges[struct{ Off, Len int64 }](b.f, start, end-start)
}

// Touch records that an opened blob's pages changed.
func (s *Service) Touch(ctx context.Context, b *Blob) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.current(ctx, b.Account, b.Container, b.Name)
	if err != nil || cur == nil || cur.File != b.File {
		return err // deleted or replaced meanwhile: the write went to the old bytes
	}
	if err := s.save(ctx, cur); err != nil {
		return err
	}
	b.Modified = cur.Modified
	return nil
}

// save stores a changed blob's properties, modified now.
func (s *Service) save(ctx context.Context, b *Blob) error {
	b.Modified = later(s.now(), b.Modified)
	v, _ := json.Marshal(b)
	return s.st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: blobKind, Key: bkey(b.Account, b.Container, b.Name), Scope: ckey(b.Account, b.Container) + "/", Value: v})
	})
}

// UpdateBlob changes a blob's properties (Set Blob Metadata, Set Blob
// Properties) if check passes.
func (s *Service) UpdateBlob(ctx context.Context, account, container, name string, check Check, change func(*Blob)) (*Blob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.GetBlob(ctx, account, container, name)
	if err != nil {
		return nil, err
	}
	if err := check.run(b); err != nil {
		return nil, err
	}
	change(b)
	return b, s.save(ctx, b)
}

// DeleteBlob deletes a blob and its bytes if check passes.
func (s *Service) DeleteBlob(ctx context.Context, account, container, name string, check Check) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.GetBlob(ctx, account, container, name)
	if err != nil {
		return err
	}
	if err := check.run(b); err != nil {
		return err
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, blobKind, bkey(account, container, name)) }); err != nil {
		return err
	}
	os.Remove(s.path(b.File))
	s.dropStaged(account, container, name)
	return nil
}

// Staged blocks are files named for their block id (hex) under
// blocks/{container}/{blob}, each directory named by the SHA-256 of its
// key (a fixed length, whatever the names: two blobs never share one), so
// a container's go with it.
func (s *Service) stagedDir(account, container, name string) string {
	return filepath.Join(s.containerBlocks(account, container), hashName(bkey(account, container, name)))
}

func (s *Service) containerBlocks(account, container string) string {
	return filepath.Join(s.dir, "blocks", hashName(ckey(account, container)))
}

func hashName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func (s *Service) dropStaged(account, container, name string) {
	os.RemoveAll(s.stagedDir(account, container, name))
}

// PutBlock stages a block of a block blob and returns its MD5 (base64);
// bodyMD5, when set, is the MD5 the request says the block has.
func (s *Service) PutBlock(ctx context.Context, account, container, name, blockID string, r io.Reader, n int64, bodyMD5 string) (string, error) {
	if err := checkBlobName(name); err != nil {
		return "", err
	}
	if !validBlockID(blockID) {
		return "", failure.Invalidf("InvalidQueryParameterValue", "The value of blockid is invalid: a block id is base64 of at most 64 bytes.")
	}
	if n > MaxBlock {
		return "", failure.Invalidf("RequestBodyTooLarge", "The request body is too large: a block has at most 4000 MiB.")
	}
	if _, err := s.GetContainer(ctx, account, container); err != nil {
		return "", err
	}
	cur, err := s.GetBlob(ctx, account, container, name)
	if err != nil && !isNotFound(err) {
		return "", err
	}
	if err := blockBlobOnly(cur, "Put Block"); err != nil {
		return "", err
	}
	dir := s.stagedDir(account, container, name)
	if err := datafile.MkdirAll(dir); err != nil {
		return "", err
	}
	tmp := "tmp-" + newFileName() // not hex: StagedBlocks skips it
	rel, err := filepath.Rel(s.dir, filepath.Join(dir, tmp))
	if err != nil {
		return "", err
	}
	sum, err := s.writeFile(rel, r, n, bodyMD5)
	if err != nil {
		return "", err
	}
	return sum, os.Rename(filepath.Join(dir, tmp), filepath.Join(dir, hex.EncodeToString([]byte(blockID))))
}

// blockBlobOnly refuses a block write (what) on a blob of another type
// (a page blob): 409 InvalidBlobType, as Azure Storage answers; only Put
// Blob replaces a blob whatever its type.
func blockBlobOnly(cur *Blob, what string) error {
	if cur != nil && cur.Type != "BlockBlob" {
		return failure.Conflictf("InvalidBlobType", "The blob type is invalid for this operation: %s writes block blobs only, and this blob is a %s (Put Blob replaces it, or delete it first).", what, cur.Type)
	}
	return nil
}

// validBlockID: a block id is the base64 (standard or URL alphabet, padded
// or not) of 1 to 64 bytes, as Azure requires; its staged file is named by
// the id's hex, which stays within a file name's limit.
func validBlockID(id string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(id); err == nil {
			return len(b) > 0 && len(b) <= 64
		}
	}
	return false
}

// StagedBlocks lists the uncommitted blocks of a blob (by name; their
// ids as sent).
func (s *Service) StagedBlocks(account, container, name string) ([]Block, error) {
	ents, err := os.ReadDir(s.stagedDir(account, container, name))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Block
	for _, e := range ents {
		id, err := hex.DecodeString(e.Name())
		fi, ierr := e.Info()
		if err != nil || ierr != nil { // a block being written
			continue
		}
		out = append(out, Block{ID: string(id), Size: fi.Size()})
	}
	return out, nil
}

// BlockRef is one entry of Put Block List: a block id and where to find it
// (Committed, Uncommitted or Latest).
type BlockRef struct {
	ID   string
	From string
}

// CommitBlocks writes a block blob from a block list (Put Block List).
func (s *Service) CommitBlocks(ctx context.Context, account, container, name string, refs []BlockRef, p Props) (*Blob, error) {
	if err := checkBlobName(name); err != nil {
		return nil, err
	}
	cur, err := s.GetBlob(ctx, account, container, name)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if err := p.Check.run(cur); err != nil {
		return nil, err
	}
	if err := blockBlobOnly(cur, "Put Block List"); err != nil {
		return nil, err
	}
	committed := map[string][2]int64{} // id -> offset, size
	if cur != nil {
		off := int64(0)
		for _, bl := range cur.Blocks {
			committed[bl.ID] = [2]int64{off, bl.Size}
			off += bl.Size
		}
	}
	dir := s.stagedDir(account, container, name)
	b, done := s.newBlob(account, container, name, "BlockBlob", 0, p)
	defer done()
	f, err := datafile.OpenFile(s.path(b.File), os.O_CREATE|os.O_EXCL|os.O_WRONLY)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Blob, error) {
		f.Close()
		os.Remove(s.path(b.File))
		return nil, err
	}
	var old *os.File
	if cur != nil {
		if old, err = os.Open(s.path(cur.File)); err != nil {
			return fail(err)
		}
		defer old.Close()
	}
	for _, ref := range refs {
		staged := filepath.Join(dir, hex.EncodeToString([]byte(ref.ID)))
		from := strings.ToLower(ref.From)
		var src io.Reader
		var n int64
		if from != "committed" {
			if sf, err := os.Open(staged); err == nil {
				defer sf.Close()
				fi, _ := sf.Stat()
				src, n = sf, fi.Size()
			}
		}
		if src == nil && from != "uncommitted" {
			if c, ok := committed[ref.ID]; ok && old != nil {
				src, n = io.NewSectionReader(old, c[0], c[1]), c[1]
			}
		}
		if src == nil {
			return fail(failure.Invalidf("InvalidBlockList", "The specified block list is invalid: block %s is not among the blob's %s blocks. Stage it with Put Block first.", ref.ID, strings.ToLower(ref.From)))
		}
		if _, err := io.Copy(f, src); err != nil {
			return fail(err)
		}
		b.Blocks = append(b.Blocks, Block{ID: ref.ID, Size: n})
		b.Length += n
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(s.path(b.File))
		return nil, err
	}
	if err := s.put(ctx, b, p.Check); err != nil {
		os.Remove(s.path(b.File))
		return nil, err
	}
	return b, nil
}

func isNotFound(err error) bool {
	var fe *failure.Error
	return errors.As(err, &fe) && fe.Kind == failure.NotFound
}

// Source names a blob by URL, as a disk's sourceUri or securityDataUri
// does: Azure's https://{account}.blob.core.windows.net/{container}/{blob}
// (which resolves to Safehold's account of that name) or Safehold's own
// blob endpoint, {base}{PathPrefix}{account}/{container}/{blob}.
type Source struct {
	Account   string `json:"account"`
	Container string `json:"container"`
	Name      string `json:"name"`
	URI       string `json:"uri"`
}

// PathPrefix is where Safehold serves the accounts' blobs:
// {PathPrefix}{account}/{container}/{blob} (an account's
// primaryEndpoints.blob).
const PathPrefix = "/storage/blob/"

// AzureSuffix is the host suffix of Azure's public blob endpoints.
const AzureSuffix = ".blob.core.windows.net"

// AzureURL is the Azure URL of a blob (https://{account}.blob.core.windows.net/{container}/{blob}),
// the form ParseSource reads back.
func AzureURL(account, container, name string) string {
	return "https://" + strings.ToLower(account) + AzureSuffix + "/" + container + "/" + name
}

// ParseSource parses a blob URL; ok is false when uri is not one (then
// it is something else: a disk's URL, a local file). host is the host
// Safehold was reached at.
func ParseSource(uri, host string) (src *Source, ok bool, err error) {
	u, perr := url.Parse(uri)
	if perr != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, false, nil
	}
	path := strings.TrimPrefix(u.Path, "/")
	switch h := strings.ToLower(u.Hostname()); {
	case strings.HasSuffix(h, AzureSuffix):
		path = strings.TrimSuffix(h, AzureSuffix) + "/" + path
	case strings.EqualFold(u.Host, host) && strings.HasPrefix(u.Path, PathPrefix):
		path = strings.TrimPrefix(u.Path, PathPrefix)
	default:
		return nil, false, nil
	}
	parts := strings.SplitN(path, "/", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, true, failure.Invalidf("InvalidParameter", "The URI %s does not look to be correct blob URI: use https://{account}.blob.core.windows.net/{container}/{blob}.", uri)
	}
	return &Source{Account: strings.ToLower(parts[0]), Container: parts[1], Name: parts[2], URI: uri}, true, nil
}

// OpenSource opens the blob src names for reading (an import):
// 404 DiskBlobNotFound when its account, container or blob is missing.
func (s *Service) OpenSource(ctx context.Context, src *Source) (*Blob, error) {
	b, err := s.Open(ctx, src.Account, src.Container, src.Name)
	if isNotFound(err) {
		return nil, failure.NotFoundf("DiskBlobNotFound", "Unable to find VHD blob with URI %s. Upload the blob first, or correct the URI.", src.URI)
	}
	var ee *ElsewhereError
	if errors.As(err, &ee) {
		// Another replica's files: a disk or snapshot is made here.
		return nil, failure.Conflictf("OperationNotAllowed", "Unable to read VHD blob with URI %s: %v, and importing a blob another replica holds is not supported yet. Download the blob and upload its data as a disk instead (safehold disk upload).", src.URI, ee)
	}
	return b, err
}
