package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/authorization"
)

// adminOwnerName is the fixed name of the admin's Owner assignment on the default subscription.
var adminOwnerName = uuid.NewSHA1(uuid.NameSpaceOID, []byte("safehold/admin-owner")).String()

// initRBAC loads the authorizer, makes sure the admin is Owner of the
// default subscription, and puts the check on the router and platform.
func (s *Server) initRBAC(ctx context.Context) error {
	authz, err := rbac.New(ctx, s.Store, s.rbacClock(), s.Config.RBACDelay)
	if err != nil {
		return err
	}
	s.Authz = authz
	if s.Config.Store != "" {
		authz.Refresh = 5 * time.Second // other replicas change assignments too
	}
	scope := "/subscriptions/" + s.Bootstrap.SubscriptionID
	id := scope + "/providers/Microsoft.Authorization/roleAssignments/" + adminOwnerName
	if _, err := authz.GetAssignment(ctx, id); err != nil {
		x := &rbac.Assignment{ID: id, Name: adminOwnerName, AssignmentProperties: rbac.AssignmentProperties{Scope: scope, PrincipalID: s.Bootstrap.AdminObjectID, PrincipalType: "ServicePrincipal",
			RoleDefinitionID: scope + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Owner, Description: "Safehold admin"}}
		x.EffectiveAt = s.rbacClock().Now().Add(-s.Config.RBACDelay) // the admin never waits for propagation
		if err := authz.PutAssignment(ctx, x); err != nil {
			return fmt.Errorf("assign admin Owner: %w", err)
		}
	} else if s.Config.Store != "" {
		// Another replica starting at the same moment assigned it after
		// this one loaded its index: load again, or the admin is denied
		// here until the next refresh.
		if err := authz.Reload(ctx); err != nil {
			return err
		}
	}
	checkSubscription := resource.SubscriptionCheck(s.Store)
	s.Router.Authorize = func(ctx context.Context, caller arm.Caller, action, scope string) error {
		// An unknown subscription is a 404, as in Azure, not a 403.
		if first, rest, ok := strings.Cut(strings.TrimPrefix(scope, "/"), "/"); ok && strings.EqualFold(first, "subscriptions") {
			sub, _, _ := strings.Cut(rest, "/")
			var err error
			if r, ok := s.prefetched(ctx); ok { // read with the principal (PostgreSQL)
				err = resource.CheckSubscription(ctx, r, sub)
			} else { // from memory while no subscription was written (SQLite)
				err = checkSubscription(ctx, sub)
			}
			if err != nil {
				return err
			}
		}
		// Role changes another replica made count at once (read with the
		// request's checks on PostgreSQL).
		if err := authz.Fresh(ctx, s.checkReader(ctx)); err != nil {
			return err
		}
		return authz.Check(ctx, caller, action, scope)
	}
	s.Router.GrantedBelow = func(_ context.Context, caller arm.Caller, action, scope string) bool {
		return authz.GrantedBelow(caller.ObjectID, action, scope)
	}
	s.Platform.AssignedWithin = func(_ context.Context, principalID, scope string) bool {
		return authz.AssignedWithin(principalID, scope)
	}
	s.Platform.Authorize = func(ctx context.Context, principalID, action, scope string) error {
		caller := arm.Caller{ObjectID: principalID}
		if p, err := s.Platform.Dir.Get(ctx, principalID); err == nil {
			caller.AppID, caller.Kind = p.AppID, p.Kind
		}
		if err := authz.Fresh(ctx, s.Store); err != nil {
			return err
		}
		err := authz.Check(ctx, caller, action, scope)
		if err != nil && authz.Refresh > 0 && authz.Reload(ctx) == nil {
			// Background work (a vault identity's checks) is rare: an
			// assignment another replica made a moment ago counts.
			err = authz.Check(ctx, caller, action, scope)
		}
		return err
	}
	s.Platform.ScopeDeleted = func(ctx context.Context, scope string) error {
		return authz.DeleteAssignmentsUnder(ctx, scope, "")
	}
	return nil
}

func (s *Server) authzProvider() Provider {
	return &authorization.Provider{Authz: s.Authz, AdminScope: "/subscriptions/" + s.Bootstrap.SubscriptionID, Forget: s.Issuer.Forget}
}

// rbacClock is the clock of role assignment propagation: real time when the
// server's clock is the controllable one (moving it, backwards too, must not
// lock principals out), a test's own clock otherwise.
func (s *Server) rbacClock() clock.Clock {
	if _, ok := s.Config.Clock.(*clock.Control); ok {
		return clock.Real{}
	}
	return s.Config.Clock
}
