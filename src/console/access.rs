//! The console's per-item access decisions. The Nacos guard has already decided the route (these
//! reads need a signed-in user when `auth.enabled`); what a read then shows — which events of
//! the feed, which entity in time travel — is decided here, in [`Viewer::may_see`], and nowhere
//! else. With access control off everything is visible.
//!
//! The rule, per kind of change:
//! - config: read permission on `namespace:group:config/dataId` (as `GET /nacos/v1/cs/configs`);
//! - service: read permission on `namespace:group:naming/service` (as the instance list);
//! - namespace: read permission on the whole namespace (configs or services);
//! - package: any signed-in user (as `GET /nacre/v1/packages`);
//! - Consul KV and sessions: admins only (Consul ACLs govern them, and a Nacos token carries
//!   none; the Consul pages read them through the Consul API with a Consul token instead).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::core::Core;
use crate::core::auth::{Action, Resource};
use crate::core::state::Change;
use crate::nacos::AppState;
use crate::nacos::guard::AuthenticatedUser;

/// Who is reading: the user the guard authenticated, or `None` with access control off.
#[derive(Debug, Clone)]
pub struct Viewer {
    enabled: bool,
    user: Option<String>,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self {
            enabled: app.core.access.enabled,
            user: parts
                .extensions
                .get::<AuthenticatedUser>()
                .map(|u| u.0.clone()),
        })
    }
}

impl Viewer {
    /// Everything visible (tests, and access control off).
    pub fn anyone() -> Self {
        Self {
            enabled: false,
            user: None,
        }
    }

    /// THE decision: may this viewer see what `change` touched (its events, its past states)?
    pub fn may_see(&self, core: &Core, change: &Change) -> bool {
        if !self.enabled {
            return true;
        }
        let Some(user) = self.user.as_deref() else {
            return false;
        };
        let state = core.model.read();
        let auth = &state.auth;
        match change {
            Change::Config(k) => auth.allows(
                user,
                &Resource::config(&k.namespace, &k.group, &k.data_id),
                Action::Read,
            ),
            Change::Service(k) => auth.allows(
                user,
                &Resource::naming(&k.namespace, &k.group, &k.service),
                Action::Read,
            ),
            Change::Namespace(ns) => {
                auth.allows(user, &Resource::config(ns, "", ""), Action::Read)
                    || auth.allows(user, &Resource::naming(ns, "", ""), Action::Read)
            }
            Change::Package(_) => auth.users.contains_key(user),
            Change::Kv(_) | Change::Session(_) => auth.is_admin(user),
        }
    }

    /// Whether this viewer is an admin (or access control is off): credential events.
    pub fn is_admin(&self, core: &Core) -> bool {
        !self.enabled
            || self
                .user
                .as_deref()
                .is_some_and(|u| core.model.read().auth.is_admin(u))
    }
}
