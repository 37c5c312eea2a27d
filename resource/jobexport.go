package resource

import (
	"context"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/store"
)

// JobExport is the job list a vault's job export request wrote (both vault
// kinds serve it at an ARM URL where Azure writes a storage blob), kept as
// a child document of the vault (backupJobExports/{name}), so that it goes
// with the vault. J is the face's job view.
type JobExport[J any] struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	Created time.Time `json:"created"`
	Jobs    []J       `json:"value"`
}

// PutJobExport stores jobs as the export name of vault, of the ARM type typ,
// written at created.
func PutJobExport[J any](ctx context.Context, tx store.Tx, vault arm.ResourceID, typ, name string, created time.Time, jobs []J) error {
	id := vault.Child("backupJobExports", name)
	return Put(ctx, tx, id, &JobExport[J]{ID: id.String(), Name: name, Type: typ, Created: created.UTC(), Jobs: jobs})
}

// GetJobExport reads the export name of vault; NotFound when there is none.
func GetJobExport[J any](ctx context.Context, r store.Reader, vault arm.ResourceID, name string) (*JobExport[J], error) {
	var ex JobExport[J]
	if err := Get(ctx, r, vault.Child("backupJobExports", name), &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// Body is the exported list as it is served: the jobs and when they were
// exported.
func (ex *JobExport[J]) Body() map[string]any {
	return map[string]any{"value": ex.Jobs, "exportedAt": ex.Created}
}
