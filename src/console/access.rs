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
use crate::core::auth::{Reader, Resource};
use crate::core::state::Change;
use crate::nacos::guard::Caller;

/// Who is reading, as the guard authenticated them.
#[derive(Debug, Clone)]
pub struct Viewer(Reader);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = crate::nacos::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Caller::from_request_parts(parts, state).await?.reader))
    }
}

impl Viewer {
    /// Everything visible (tests, and access control off).
    pub fn anyone() -> Self {
        Self(Reader::Anyone)
    }

    /// THE decision: may this viewer see what `change` touched (its events, its past states)?
    pub fn may_see(&self, core: &Core, change: &Change) -> bool {
        let Reader::User(user) = &self.0 else {
            return true;
        };
        let state = core.model.read();
        let auth = &state.auth;
        match change {
            Change::Config(k) => self.0.may_read(auth, &Resource::of_config(k)),
            Change::Service(k) => self.0.may_read(auth, &Resource::of_service(k)),
            Change::Namespace(ns) => self.0.may_enter(auth, ns),
            Change::Package(_) => auth.users.contains_key(user),
            Change::Kv(_) | Change::Session(_) => auth.is_admin(user),
        }
    }

    /// Whether this viewer is an admin (or access control is off): credential events.
    pub fn is_admin(&self, core: &Core) -> bool {
        match &self.0 {
            Reader::Anyone => true,
            Reader::User(user) => core.model.read().auth.is_admin(user),
        }
    }
}
