package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newVerifyCmd() *cobra.Command {
	var dataDir, vault string
	var readData bool
	var o adminOutput
	var sample float64
	cmd := &cobra.Command{Use: "verify", Short: "Check the backup data: exit 1 naming each damaged recovery point and pack",
		Long: `verify checks the snapshot repositories of the running server (the operational tier and the vault
tiers) and names each recovery point that cannot be restored bit-exactly, with its vault, item and
the damaged pack objects. Damaged points are marked so: restoring them fails at once.

Without --read-data or --sample it checks structure only: every pack exists with its size and every
recovery point's index names chunks the store holds. --read-data reads, decompresses and re-hashes
every chunk; --sample 0.05 does that for a random 5 % of the packs. Exit status 1 when anything is
damaged. Needs the Owner role on the subscription.`,
		Args: cobra.NoArgs,
		RunE: o.run(func(cmd *cobra.Command, args []string) error {
			if readData && sample != 0 {
				return cmdErr("choose --read-data or --sample, not both")
			}
			if math.IsNaN(sample) || sample < 0 || sample >= 1 {
				if sample != 0 {
					return cmdErr(fmt.Sprintf("--sample %g: give a fraction between 0 and 1, e.g. 0.05", sample))
				}
			}
			if vault != "" && !strings.HasPrefix(vault, "/") { // a name: the vault of either kind it names in the subscription
				s, err := (&cliOpts{dataDir: dataDir, output: "table"}).session(cmd)
				if err != nil {
					return err
				}
				v, err := s.findVault(vault)
				if err != nil {
					return err
				}
				vault = v.ID
			}
			m, err := adminCall(cmd.Context(), dataDir, "POST", adminURL("/verify"), map[string]any{"vaultId": vault, "readData": readData, "sample": sample})
			if err != nil {
				return err
			}
			id, _ := m["id"].(string)
			var bar *progressbar.ProgressBar
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar = progressbar.NewOptions(100, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("verifying"),
					progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionClearOnFinish())
			}
			for {
				m, err = adminCall(cmd.Context(), dataDir, "GET", adminURL("/verify/"+id), nil)
				if err != nil {
					return err
				}
				pct, _ := m["percentComplete"].(float64)
				if bar != nil {
					bar.Set(int(pct))
				}
				if m["status"] != "InProgress" {
					break
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(200 * time.Millisecond):
				}
			}
			if bar != nil {
				bar.Finish()
			}
			if m["status"] != "Succeeded" {
				e, _ := m["error"].(map[string]any)
				return fmt.Errorf("verify failed: %v: %v", e["code"], e["message"])
			}
			res, _ := m["result"].(map[string]any)
			if o.json() {
				printJSON(cmd, res)
			} else {
				printVerify(cmd.OutOrStdout(), res)
			}
			if ok, _ := res["ok"].(bool); !ok {
				pts, _ := res["damagedRecoveryPoints"].([]any)
				packs, _ := res["damagedPacks"].([]any)
				return cmdErr(fmt.Sprintf("verify found damage: %d recovery point(s), %d pack(s)", len(pts), len(packs)))
			}
			return nil
		})}
	addConnFlag(cmd, &dataDir)
	f := cmd.Flags()
	f.StringVar(&vault, "vault", "", "verify only this vault's recovery points (its name or ARM id); default everything")
	f.BoolVar(&readData, "read-data", false, "read and re-hash every chunk")
	f.Float64Var(&sample, "sample", 0, "read and re-hash this fraction of the packs, e.g. 0.05")
	o.add(cmd, "print the report as JSON")
	return cmd
}

func printVerify(w io.Writer, res map[string]any) {
	list := func(k string) []map[string]any {
		xs, _ := res[k].([]any)
		out := make([]map[string]any, 0, len(xs))
		for _, x := range xs {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	var packs, chunks, snaps float64
	var bytes float64
	num := func(m map[string]any, k string) float64 { f, _ := m[k].(float64); return f } // absent: 0, never a panic
	for _, r := range list("repositories") {
		packs += num(r, "packsRead")
		chunks += num(r, "chunksRead")
		snaps += num(r, "snapshots")
		bytes += num(r, "bytesRead")
	}
	for _, p := range list("damagedRecoveryPoints") {
		fmt.Fprintf(w, "DAMAGED recovery point %v (%v) of item %v in vault %v\n", p["recoveryPointId"], p["time"], p["itemId"], p["vaultId"])
		if packs := joinAny(p["packs"]); packs != "" { // none when its snapshot is gone
			fmt.Fprintf(w, "  packs: %v\n", packs)
		}
		fmt.Fprintf(w, "  %v\n", p["summary"])
	}
	for _, p := range list("damagedPacks") {
		if name, _ := p["pack"].(string); strings.HasPrefix(name, "snapshot/") {
			// A snapshot's manifest (its index of segments), not a pack.
			fmt.Fprintf(w, "DAMAGED snapshot index %v in the %v repository: %v\n", name, p["repository"], p["error"])
			continue
		}
		fmt.Fprintf(w, "DAMAGED pack %v in the %v repository (%v bad chunks): %v\n", p["pack"], p["repository"], p["badChunks"], p["error"])
	}
	named, _ := res["damagedSnapshotResources"].(map[string]any)
	for _, s := range joinAnyList(res["damagedSnapshots"]) {
		if id, ok := named[s].(string); ok && id != "" {
			fmt.Fprintf(w, "DAMAGED disk snapshot %s (engine id %s), used by no recovery point\n", id, s)
			continue
		}
		fmt.Fprintf(w, "DAMAGED disk snapshot (engine id %s), used by no recovery point\n", s)
	}
	state := "OK"
	if ok, _ := res["ok"].(bool); !ok {
		state = "DAMAGED"
	}
	fmt.Fprintf(w, "%s: %v mode, %v recovery points and %v snapshots checked, %v packs and %v chunks read (%.1f MiB) in %v\n",
		state, res["mode"], res["recoveryPointsChecked"], snaps, packs, chunks, bytes/(1<<20), res["duration"])
}

func joinAnyList(v any) []string {
	xs, _ := v.([]any)
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func joinAny(v any) string { return strings.Join(joinAnyList(v), ", ") }
