package resources_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/testserver"
)

// TestCalculateTemplateHashIsNotSupported: calculateTemplateHash is 400
// OperationNotSupported saying where a deployment's template hash is
// found; it was 404 (no route), which reads as a wrong URL.
func TestCalculateTemplateHashIsNotSupported(t *testing.T) {
	e := testserver.Start(t)
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	_, err := dc.CalculateTemplateHash(e.Ctx(), map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "resources": []any{}}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "OperationNotSupported" || !strings.Contains(err.Error(), "properties.templateHash") {
		t.Errorf("calculateTemplateHash: %v", err)
	}
}
