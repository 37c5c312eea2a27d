package resources_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/testserver"
)

// TestCalculateTemplateHashIsNotSupported: calculateTemplateHash, for
// template deployments Safehold does not serve, is 400
// OperationNotSupported saying so; it was 404 (no route), which reads as
// a wrong URL.
func TestCalculateTemplateHashIsNotSupported(t *testing.T) {
	e := testserver.Start(t)
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	_, err := dc.CalculateTemplateHash(e.Ctx(), map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "resources": []any{}}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "OperationNotSupported" || !strings.Contains(err.Error(), "template deployments") {
		t.Errorf("calculateTemplateHash: %v", err)
	}
}
