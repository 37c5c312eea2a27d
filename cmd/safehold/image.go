package main

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/spf13/cobra"
)

// The platform image catalog: Safehold has no marketplace, so an operator
// imports the images `az vm image list` shows and disks are created from
// (creationData.imageReference.id).

func newImageCmd() *cobra.Command {
	o := &cliOpts{}
	cmd := &cobra.Command{Use: "image", Short: "Import platform images (az vm image list/show; disks from imageReference)",
		Long: `Safehold has no marketplace: the platform images are the ones an operator imports, each a version
of LOCATION/PUBLISHER/OFFER/SKU. Each disk of an image comes from a raw image file (uploaded through
a temporary disk in --resource-group, deleted afterwards) or from an existing managed disk or
snapshot (its id). The image keeps its own copy of the bytes. Importing needs the Owner role.

  safehold image import --location westus --publisher Canonical --offer ubuntu-24_04-lts \
      --sku server --version 24.04.202411030 --os-type Linux --resource-group images disk.raw
  safehold image import ... --data-disk 0=data.raw --data-disk 1=/subscriptions/.../snapshots/s1 OS
  safehold image delete westus Canonical ubuntu-24_04-lts server 24.04.202411030

A disk created with creationData.imageReference.id =
/Subscriptions/{sub}/Providers/Microsoft.Compute/Locations/westus/Publishers/Canonical/ArtifactTypes/VMImage/Offers/ubuntu-24_04-lts/Skus/server/Versions/24.04.202411030
(lun N for a data disk) gets the image's bytes.`}
	addCLIFlags(cmd, o)
	var loc, pub, offer, sku, version, osType, hyperV, arch, plan, rg string
	var dataDisks, features []string
	imp := &cobra.Command{Use: "import OS_FILE|OS_DISK_OR_SNAPSHOT_ID", Short: "Import a version of a platform image", Args: cobra.ExactArgs(1),
		RunE: o.run(func(s *session, args []string) error {
			for _, f := range [][2]string{{"location", loc}, {"publisher", pub}, {"offer", offer}, {"sku", sku}, {"version", version}} {
				if f[1] == "" {
					return fmt.Errorf("--%s is required", f[0])
				}
			}
			var temps []*diskRef
			defer func() {
				dc, err := armcompute.NewDisksClient(s.sub, s.cred, s.opts)
				if err != nil {
					return
				}
				for _, d := range temps {
					p, err := dc.BeginDelete(s.ctx(), d.RG, d.Name, nil)
					if _, err := pollDone(s, p, err); err != nil {
						fmt.Fprintf(s.cmd.ErrOrStderr(), "delete the temporary disk %s: %v\n", d.ID, err)
					}
				}
			}()
			// source is a disk or snapshot id, or a file uploaded into a new temporary disk.
			source := func(v string) (string, error) {
				if strings.HasPrefix(strings.ToLower(v), "/subscriptions/") {
					return v, nil
				}
				st, err := os.Stat(v)
				if err != nil {
					return "", err
				}
				if rg == "" {
					return "", fmt.Errorf("%s is a file: pass --resource-group for the temporary disk it is uploaded through", v)
				}
				gib := int32((st.Size() + 1<<30 - 1) >> 30)
				d, err := s.createDisk(rg, fmt.Sprintf("image-import-%d-%d", os.Getpid(), len(temps)), loc, max(gib, 1))
				if err != nil {
					return "", err
				}
				temps = append(temps, d)
				if _, err := s.upload(v, d, true); err != nil {
					return "", err
				}
				return d.ID, nil
			}
			osID, err := source(args[0])
			if err != nil {
				return err
			}
			body := map[string]any{"osType": osType, "hyperVGeneration": hyperV, "architecture": arch, "osDisk": map[string]string{"sourceId": osID}}
			var dds []map[string]any
			for _, dd := range dataDisks {
				l, src, ok := strings.Cut(dd, "=")
				lun, err := strconv.Atoi(l)
				if !ok || err != nil {
					return fmt.Errorf("--data-disk %q: write LUN=FILE or LUN=ID", dd)
				}
				id, err := source(src)
				if err != nil {
					return err
				}
				dds = append(dds, map[string]any{"lun": lun, "sourceId": id})
			}
			body["dataDisks"] = dds
			if plan != "" {
				p := strings.Split(plan, ":")
				if len(p) != 3 {
					return fmt.Errorf("--plan %q: write NAME:PRODUCT:PUBLISHER", plan)
				}
				body["plan"] = map[string]string{"name": p[0], "product": p[1], "publisher": p[2]}
			}
			var fs []map[string]string
			for _, f := range features {
				n, v, ok := strings.Cut(f, "=")
				if !ok {
					return fmt.Errorf("--feature %q: write NAME=VALUE, e.g. IsAcceleratedNetworkSupported=True", f)
				}
				fs = append(fs, map[string]string{"name": n, "value": v})
			}
			body["features"] = fs
			m, err := adminCall(s.cmd.Context(), o.dataDir, "PUT", imagePath(loc, pub, offer, sku, version), body)
			if err != nil {
				return err
			}
			return renderOne(s, m, [][2]string{{"Image", strings.Join([]string{loc, pub, offer, sku, version}, "/")}, {"OSType", fmt.Sprint(m["osType"])},
				{"DataDisks", fmt.Sprint(len(dds))}, {"ImageReference", "/Subscriptions/" + s.sub + "/Providers/Microsoft.Compute/Locations/" + fmt.Sprint(m["location"]) +
					"/Publishers/" + pub + "/ArtifactTypes/VMImage/Offers/" + offer + "/Skus/" + sku + "/Versions/" + version}})
		})}
	f := imp.Flags()
	f.StringVar(&loc, "location", "westus", "the location the image is published in")
	f.StringVar(&pub, "publisher", "", "publisher name")
	f.StringVar(&offer, "offer", "", "offer name")
	f.StringVar(&sku, "sku", "", "sku name")
	f.StringVar(&version, "version", "", "version (Major.Minor.Patch)")
	f.StringVar(&osType, "os-type", "Linux", "Linux or Windows")
	f.StringVar(&hyperV, "hyper-v-generation", "V1", "V1 or V2")
	f.StringVar(&arch, "architecture", "", "x64 or Arm64 (disks from the image report it)")
	f.StringVar(&plan, "plan", "", "purchase plan NAME:PRODUCT:PUBLISHER (disks from the image carry it)")
	f.StringArrayVar(&features, "feature", nil, "image feature NAME=VALUE (repeatable), e.g. IsAcceleratedNetworkSupported=True")
	f.StringArrayVar(&dataDisks, "data-disk", nil, "a data disk LUN=FILE or LUN=DISK_OR_SNAPSHOT_ID (repeatable)")
	f.StringVar(&rg, "resource-group", "", "resource group of the temporary disks files are uploaded through")
	del := &cobra.Command{Use: "delete LOCATION PUBLISHER OFFER SKU VERSION", Short: "Remove a version from the catalog (disks made from it keep their bytes)", Args: cobra.ExactArgs(5),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := adminCall(cmd.Context(), o.dataDir, "DELETE", imagePath(args[0], args[1], args[2], args[3], args[4]), nil)
			return err
		}}
	cmd.AddCommand(imp, del)
	return cmd
}

func imagePath(loc, pub, offer, sku, version string) string {
	parts := []string{loc, pub, offer, sku, version}
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return adminURL("/vmImages/" + strings.Join(parts, "/"))
}
