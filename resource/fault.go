package resource

import "context"

// Inject applies the fault rules for op (fault.OpBackup, OpRestore,
// OpValidate) on target (an item id, or a disk id for validateForBackup):
// it waits a rule's latency and returns its error, which the caller treats
// as it treats real failures (the job ends Failed with that code, the
// operation ends Failed).
func (p *Platform) Inject(ctx context.Context, op, target string) error {
	if p.FaultHook == nil {
		return nil
	}
	return p.FaultHook(ctx, op, target)
}
