package compute

import "strings"

// A disk's provisioned performance, as Azure reports it in
// diskIOPSReadWrite and diskMBpsReadWrite: a Premium SSD disk's follows
// its performance tier (P1-P80), a Standard SSD's (E1-E80) and a Standard
// HDD's (S4-S80) its size; an Ultra or Premium SSD v2 disk has what it was
// created or updated with, DefaultProvisionedIOPS and
// DefaultProvisionedMBps when nothing was asked (Premium SSD v2's
// baseline). Safehold's disks all run at one speed: these are the figures
// clients read and plan by.
const (
	DefaultProvisionedIOPS = 3000
	DefaultProvisionedMBps = 125
)

// tierPerformance is one tier's size limit (GiB), IOPS and MB/s.
type tierPerformance struct {
	GB, IOPS, MBps int64
}

// premiumPerformance is by premiumTiers' index (P1 ... P80).
var premiumPerformance = []tierPerformance{{4, 120, 25}, {8, 120, 25}, {16, 120, 25}, {32, 120, 25}, {64, 240, 50}, {128, 500, 100},
	{256, 1100, 125}, {512, 2300, 150}, {1024, 5000, 200}, {2048, 7500, 250}, {4096, 7500, 250}, {8192, 16000, 500},
	{16384, 18000, 750}, {32767, 20000, 900}}

// standardSSDPerformance: E1 (4 GiB) to E50 (4096 GiB) 500 IOPS and
// 60 MB/s, E60 2000/400, E70 4000/600, E80 6000/750.
var standardSSDPerformance = []tierPerformance{{4096, 500, 60}, {8192, 2000, 400}, {16384, 4000, 600}, {32767, 6000, 750}}

// standardHDDPerformance: S4 (32 GiB) to S50 (4096 GiB) 500 IOPS and
// 60 MB/s, S60 1300/300, S70 and S80 2000/500.
var standardHDDPerformance = []tierPerformance{{4096, 500, 60}, {8192, 1300, 300}, {16384, 2000, 500}, {32767, 2000, 500}}

// sizedPerformance is the performance of the first tier of ts that holds
// gb (the largest's past them all).
func sizedPerformance(ts []tierPerformance, gb int64) (int64, int64) {
	for _, t := range ts {
		if gb <= t.GB {
			return t.IOPS, t.MBps
		}
	}
	t := ts[len(ts)-1]
	return t.IOPS, t.MBps
}

// DiskPerformance is the IOPS and MB/s Azure reports for a disk of sku
// ("": Standard_LRS), size and performance tier (a Premium SSD disk's;
// "": its size's baseline). For an Ultra or Premium SSD v2 disk it is
// the defaults, which what the disk was given replaces.
func DiskPerformance(sku string, sizeBytes int64, tier string) (iops, mbps int64) {
	switch strings.ToLower(sku) {
	case "ultrassd_lrs", "premiumv2_lrs":
		return DefaultProvisionedIOPS, DefaultProvisionedMBps
	case "premium_lrs", "premium_zrs":
		i := tierIndex(tier)
		if base := baseTier(sizeBytes); i < base {
			i = base
		}
		p := premiumPerformance[i]
		return p.IOPS, p.MBps
	case "standardssd_lrs", "standardssd_zrs":
		return sizedPerformance(standardSSDPerformance, sizeGB(sizeBytes))
	}
	return sizedPerformance(standardHDDPerformance, sizeGB(sizeBytes))
}

// provisioned reports whether disks of sku have the performance they are
// given (Ultra, Premium SSD v2) rather than their tier's or size's.
func provisioned(sku string) bool {
	return strings.EqualFold(sku, "UltraSSD_LRS") || strings.EqualFold(sku, "PremiumV2_LRS")
}

// settlePerformance gives disk d the performance Azure reports for it
// (DiskPerformance; settleTier settled its tier first): an Ultra or
// Premium SSD v2 disk keeps what it has, the defaults when it has none.
func (d *DiskResource) settlePerformance() {
	p := &d.Properties
	if provisioned(skuName(d.SKU)) {
		iops, mbps := DiskPerformance(skuName(d.SKU), p.DiskSizeBytes, "")
		if p.DiskIOPSReadWrite == 0 {
			p.DiskIOPSReadWrite = iops
		}
		if p.DiskMBpsReadWrite == 0 {
			p.DiskMBpsReadWrite = mbps
		}
		return
	}
	p.DiskIOPSReadWrite, p.DiskMBpsReadWrite = DiskPerformance(skuName(d.SKU), p.DiskSizeBytes, p.Tier)
}
