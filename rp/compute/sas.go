package compute

import (
	"net/http"

	"github.com/safehold/safehold/compute"
)

// SASHandler serves the disk data plane: the page-blob operations of the
// accessSAS URLs beginGetAccess hands out (/sas/disks/{grant}/abcd?...).
func SASHandler(svc *compute.Service) http.Handler {
	return &sasHandler{svc: svc}
}

type sasHandler struct {
	svc *compute.Service
}

func (h *sasHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.NotFound(w, r)
}
