package protection

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/safehold/safehold/store"
)

// A vault's job list is answered in pages (arm.PageKeyedFunc), each of
// which had to read and decode every job of the vault to find its own:
// paging through n jobs cost n²/page-size decodes (40,000 jobs, five
// months of ten disks backed up hourly: 10 minutes). JobPage remembers
// the order the first page read, so the pages after it read only their
// own jobs.

// jobListTTL is how long (real time) the order a list's first page read
// serves the pages after it; a later page reads the whole list again.
const jobListTTL = time.Minute

// maxJobLists bounds the orders remembered at once (the oldest go first).
const maxJobLists = 64

type jobList struct {
	keys, ids []string // JobKey order
	at        time.Time
}

type jobLists struct {
	mu sync.Mutex
	m  map[string]*jobList
}

func (l *jobLists) get(name string) *jobList {
	l.mu.Lock()
	defer l.mu.Unlock()
	if jl := l.m[name]; jl != nil && time.Since(jl.at) < jobListTTL {
		return jl
	}
	return nil
}

func (l *jobLists) put(name string, js []*Job) *jobList {
	jl := &jobList{keys: make([]string, len(js)), ids: make([]string, len(js)), at: time.Now()}
	for i, j := range js {
		jl.keys[i], jl.ids[i] = JobKey(j), j.ID
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*jobList{}
	}
	for k, x := range l.m {
		if time.Since(x.at) >= jobListTTL {
			delete(l.m, k)
		}
	}
	for len(l.m) >= maxJobLists {
		oldest := ""
		for k, x := range l.m {
			if oldest == "" || x.at.Before(l.m[oldest].at) {
				oldest = k
			}
		}
		delete(l.m, oldest)
	}
	l.m[name] = jl
	return jl
}

// JobPage is one page of the jobs of vaultID that ListJobs(f) lists and
// keep (nil: every one) keeps, in JobKey order (newest first): those
// whose key is after after, less the first skip, at most size; the key of
// the page's last job and whether more follow (arm.PageKeyedFunc's page).
// name names the list (its vault and what it filters by). The first page
// (no after, no skip), or a page whose list's order is not remembered,
// reads the whole list through r and remembers its order; a later page
// of a list whose first page was read less than jobListTTL ago reads only
// its own jobs, by id, as they are now: a job deleted since is left out,
// one changed answered changed (and left out if f or keep no longer
// select it), one made since is not among them (the list is as its first
// page read it, newest first, so a new job precedes it).
func (e *Engine) JobPage(ctx context.Context, r store.Reader, vaultID, name string, f JobFilter, keep func(*Job) bool, after string, skip, size int) ([]*Job, string, bool, error) {
	var jl *jobList
	if after != "" || skip > 0 {
		jl = e.jobLists.get(name)
	}
	if jl == nil {
		js, err := ListJobs(ctx, r, vaultID, f)
		if err != nil {
			return nil, "", false, err
		}
		if keep != nil {
			kept := js[:0]
			for _, j := range js {
				if keep(j) {
					kept = append(kept, j)
				}
			}
			js = kept
		}
		jl = e.jobLists.put(name, js)
		start, end := jl.bounds(after, skip, size)
		last := ""
		if end > start {
			last = jl.keys[end-1]
		}
		return js[start:end], last, end < len(js), nil
	}
	start, _ := jl.bounds(after, skip, size)
	var out []*Job
	i := start
	for ; i < len(jl.ids) && len(out) < size; i++ {
		j, err := GetJob(ctx, r, vaultID, jl.ids[i])
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", false, err
		}
		if f.matches(j) && (keep == nil || keep(j)) {
			out = append(out, j)
		}
	}
	last := ""
	if i > start {
		last = jl.keys[i-1]
	}
	return out, last, i < len(jl.ids), nil
}

// bounds is where the page after key after, less skip, starts in l and
// where a page of size ends.
func (l *jobList) bounds(after string, skip, size int) (start, end int) {
	start = skip
	if after != "" {
		start = sort.Search(len(l.keys), func(i int) bool { return l.keys[i] > after })
	}
	start = min(start, len(l.keys))
	return start, min(start+size, len(l.keys))
}
